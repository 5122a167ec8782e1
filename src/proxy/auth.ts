import { cachedJwt, forgetJwt, looksLikeJwt } from "../issuing/identity/jwt-cache";
import { ApiError } from "../lib/errors";
import { secretProblem } from "../lib/secrets";
import { getDb } from "../storage/db";
import { tokenExists } from "../tokens/config-repo";
import { hashToken, objectKeyOf, tokenFormat, verifySigned } from "../tokens/secret";
import {
  cachedTokenHash,
  isKnownUnknown,
  rememberTokenHash,
  rememberUnknown,
  type SecretRef,
} from "./isolate-caches";

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
 * The hash of a withering token's secret and the object that admits it, once the credential is known to be a
 * token of this gateway whose Durable Object may be asked. A secret this isolate has verified before is
 * answered from memory (synchronously: the warm path takes no await). A first sight costs, in memory only:
 * - a signed token (plain, or routed to another object: its MAC covers the route): the format, its HMAC
 *   under TOKEN_SIGNING_KEY (or the previous key), the SHA-256. A forged one is refused here (401
 *   `invalid_token`): no lookup, no Durable Object, no D1.
 * - a legacy (CRC32) token: the format, the SHA-256, then one indexed D1 read that it exists (401
 *   `token_not_found` if not, remembered by the isolate). Reads only: a flood of forged legacy tokens
 *   writes nothing and creates no Durable Object. LEGACY_TOKENS = "refuse" skips even the read.
 */
export function secretRefOf(secret: string, env: Env): SecretRef | Promise<SecretRef> {
  const cached = cachedTokenHash(secret);
  if (cached !== undefined) return cached;
  // The format is checked synchronously: garbage is refused without a promise.
  const format = tokenFormat(secret);
  if (format === null) throw NOT_A_TOKEN;
  return format === "signed" ? verifySignedToken(secret, env) : verifyLegacyToken(secret, env);
}

/** The withering token of the request (a JWT is not one: see resolveCredential). */
export function tokenHashOf(
  headers: Headers,
  env: Env,
  queryKey: string | null = null,
): SecretRef | Promise<SecretRef> {
  return secretRefOf(presentedCredential(headers, queryKey), env);
}

/**
 * What the request's credential is and which object decides it: a withering token (its hash), or a JWT of
 * an identity provider a project trusts, verified once per isolate (src/issuing/identity) and then known
 * from memory until it expires. Synchronous on the warm path for both.
 */
export function resolveCredential(
  env: Env,
  headers: Headers,
  queryKey: string | null = null,
): SecretRef | Promise<SecretRef> {
  const presented = presentedCredential(headers, queryKey);
  if (!looksLikeJwt(presented)) return secretRefOf(presented, env);
  const hit = cachedJwt(presented, Date.now());
  return hit
    ? { hash: null, objectKey: hit.objectKey, credential: hit.credential }
    : verifyNew(env, presented);
}

async function verifyNew(env: Env, jwt: string, fresh = false): Promise<SecretRef> {
  const { verifyJwt } = await import("../issuing/identity/verify");
  const v = await verifyJwt(env, jwt, { fresh });
  return { hash: null, objectKey: v.objectKey, credential: v.credential };
}

/** Verifies a JWT again after its user's object said the provider changed (the cached view is stale). */
export async function reverifyCredential(
  env: Env,
  headers: Headers,
  queryKey: string | null = null,
): Promise<SecretRef> {
  const jwt = presentedCredential(headers, queryKey);
  forgetJwt(jwt);
  return verifyNew(env, jwt, true);
}

const secretRef = (secret: string, hash: string): SecretRef => ({
  hash,
  objectKey: objectKeyOf(secret, hash),
  credential: { kind: "secret", hash },
});

async function verifySignedToken(secret: string, env: Env): Promise<SecretRef> {
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
  return rememberTokenHash(secret, secretRef(secret, await hashToken(secret)));
}

async function verifyLegacyToken(secret: string, env: Env): Promise<SecretRef> {
  const hash = await hashToken(secret);
  if (isKnownUnknown(hash) || env.LEGACY_TOKENS === "refuse") throw TOKEN_NOT_FOUND;
  if (!(await tokenExists(getDb(env), hash))) {
    rememberUnknown(hash);
    throw TOKEN_NOT_FOUND;
  }
  return rememberTokenHash(secret, secretRef(secret, hash));
}

const CANNOT_VERIFY = new ApiError(
  503,
  "gateway_misconfigured",
  "The gateway cannot verify tokens right now.",
  {
    retryable: false,
  },
);
