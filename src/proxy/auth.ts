import { ApiError } from "../lib/errors";
import { secretProblem } from "../lib/secrets";
import { getDb } from "../storage/db";
import { tokenExists } from "../tokens/repo";
import { hashToken, tokenFormat, verifySigned } from "../tokens/secret";
import { cachedTokenHash, isKnownUnknown, rememberTokenHash, rememberUnknown } from "./isolate-caches";

const NOT_A_TOKEN = new ApiError(
  401,
  "invalid_token",
  "The credential is not a withering token of this gateway.",
);

/**
 * The credential as presented, not yet checked against the token format (401 `invalid_token` if none):
 * `Authorization: Bearer`, `api-key` (Azure SDKs), `x-api-key` (Anthropic SDKs), `x-goog-api-key` (Google's),
 * or a Gemini client's `?key=` (`queryKey`, taken out of the URL by the route).
 */
export function presentedCredential(headers: Headers, queryKey: string | null = null): string {
  let secret: string | null = null;
  const authorization = headers.get("authorization");
  if (authorization && authorization.length > 7 && authorization.slice(0, 7).toLowerCase() === "bearer ") {
    secret = authorization.slice(7).trim();
  }
  secret ||=
    headers.get("api-key")?.trim() ||
    headers.get("x-api-key")?.trim() ||
    headers.get("x-goog-api-key")?.trim() ||
    queryKey?.trim() ||
    null;
  if (!secret) {
    throw new ApiError(
      401,
      "invalid_token",
      "No token: send your withering token as 'Authorization: Bearer <token>' (or an 'api-key' header).",
    );
  }
  return secret;
}

/** A well-formed legacy token unknown to this gateway. */
const TOKEN_NOT_FOUND = new ApiError(401, "token_not_found", "The token is not known to this gateway.");

/**
 * The token hash of the request's credential, once the credential is known to be a token of this gateway
 * whose Durable Object may be asked. A secret this isolate has verified before is answered from memory
 * (synchronously: the warm path takes no await). A first sight costs, in memory only:
 * - a signed token: the format, its HMAC under TOKEN_SIGNING_KEY (or the previous key), the SHA-256. A
 *   forged one is refused here (401 `invalid_token`): no lookup, no Durable Object, no D1.
 * - a legacy (CRC32) token: the format, the SHA-256, then one indexed D1 read that it exists (401
 *   `token_not_found` if not, remembered by the isolate). Reads only: a flood of forged legacy tokens
 *   writes nothing and creates no Durable Object. LEGACY_TOKENS = "refuse" skips even the read.
 */
export function tokenHashOf(
  headers: Headers,
  env: Env,
  queryKey: string | null = null,
): string | Promise<string> {
  const secret = presentedCredential(headers, queryKey);
  const cached = cachedTokenHash(secret);
  if (cached !== undefined) return cached;
  // The format is checked synchronously: garbage is refused without a promise.
  const format = tokenFormat(secret);
  if (format === null) throw NOT_A_TOKEN;
  return format === "signed" ? verifySignedToken(secret, env) : verifyLegacyToken(secret, env);
}

async function verifySignedToken(secret: string, env: Env): Promise<string> {
  if (secretProblem("TOKEN_SIGNING_KEY", env.TOKEN_SIGNING_KEY)) {
    console.error("TOKEN_SIGNING_KEY is missing or too short: signed tokens cannot be verified");
    throw CANNOT_VERIFY;
  }
  let genuine: boolean;
  try {
    genuine = await verifySigned(secret, env);
  } catch (err) {
    console.error("token signature check failed", err);
    throw CANNOT_VERIFY;
  }
  if (!genuine) throw NOT_A_TOKEN;
  return rememberTokenHash(secret, await hashToken(secret));
}

async function verifyLegacyToken(secret: string, env: Env): Promise<string> {
  const hash = await hashToken(secret);
  if (isKnownUnknown(hash) || env.LEGACY_TOKENS === "refuse") throw TOKEN_NOT_FOUND;
  if (!(await tokenExists(getDb(env), hash))) {
    rememberUnknown(hash);
    throw TOKEN_NOT_FOUND;
  }
  return rememberTokenHash(secret, hash);
}

const CANNOT_VERIFY = new ApiError(
  503,
  "gateway_misconfigured",
  "The gateway cannot verify tokens right now.",
  {
    retryable: false,
  },
);
