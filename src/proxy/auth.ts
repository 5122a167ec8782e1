import { ApiError } from "../lib/errors";
import { getDb } from "../storage/db";
import { tokenExists } from "../tokens/repo";
import { hashToken, isWellFormedToken, tokenFormat, verifySigned } from "../tokens/secret";
import { cachedTokenHash, isKnownUnknown, rememberTokenHash, rememberUnknown } from "./isolate-caches";

/**
 * The withering token of a request: `Authorization: Bearer`, else `api-key` (Azure SDKs), else
 * `x-api-key` (Anthropic SDKs). Throws 401 `invalid_token` when there is none or it is not in the format.
 */
export function credentialOf(headers: Headers): string {
  return checked(presentedCredential(headers));
}

const NOT_A_TOKEN = new ApiError(
  401,
  "invalid_token",
  "The credential is not a withering token of this gateway.",
);

/** The credential as presented, not yet checked against the token format (401 `invalid_token` if none). */
export function presentedCredential(headers: Headers): string {
  let secret: string | null = null;
  const authorization = headers.get("authorization");
  if (authorization && authorization.length > 7 && authorization.slice(0, 7).toLowerCase() === "bearer ") {
    secret = authorization.slice(7).trim();
  }
  secret ||= headers.get("api-key")?.trim() || headers.get("x-api-key")?.trim() || null;
  if (!secret) {
    throw new ApiError(
      401,
      "invalid_token",
      "No token: send your withering token as 'Authorization: Bearer <token>' (or an 'api-key' header).",
    );
  }
  return secret;
}

/** Refused well-formed tokens: unknown to this gateway. */
export const TOKEN_NOT_FOUND = new ApiError(
  401,
  "token_not_found",
  "The token is not known to this gateway.",
);

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
export function tokenHashOf(headers: Headers, env: Env): string | Promise<string> {
  const secret = presentedCredential(headers);
  return cachedTokenHash(secret) ?? verifyNew(secret, env);
}

async function verifyNew(secret: string, env: Env): Promise<string> {
  const format = tokenFormat(secret);
  if (format === null) throw NOT_A_TOKEN;
  if (format === "signed") {
    let genuine: boolean;
    try {
      genuine = await verifySigned(secret, env);
    } catch (err) {
      console.error("token signature check failed", err);
      throw CANNOT_VERIFY;
    }
    if (!genuine) {
      if (!env.TOKEN_SIGNING_KEY) {
        console.error("TOKEN_SIGNING_KEY is not set: signed tokens cannot be verified");
        throw CANNOT_VERIFY;
      }
      throw NOT_A_TOKEN;
    }
    return rememberTokenHash(secret, await hashToken(secret));
  }
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
  "service_unavailable",
  "The gateway cannot verify tokens right now.",
  {
    retryable: false,
  },
);

/** The credential if it has a token's format (a signed token's MAC is not checked here). */
function checked(secret: string): string {
  if (!isWellFormedToken(secret)) throw NOT_A_TOKEN;
  return secret;
}
