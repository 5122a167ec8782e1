import { cachedJwt, forgetJwt, looksLikeJwt } from "../issuing/identity/jwt-cache";
import { ApiError } from "../lib/errors";
import { hashToken, isWellFormedToken, objectKeyOf } from "../tokens/secret";
import { cachedTokenHash, rememberTokenHash, type SecretRef } from "./isolate-caches";

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

/**
 * The hash of a withering token's secret and the object that admits it; throws 401 `invalid_token` when it
 * is not in the token format. A secret this isolate has hashed before is known to be well formed and its
 * hash never changes, so it is answered from memory (synchronously) without the format check or a digest.
 */
export function secretRefOf(secret: string): SecretRef | Promise<SecretRef> {
  return cachedTokenHash(secret) ?? hashNew(checked(secret));
}

/** The withering token of the request (a JWT is not one: see resolveCredential). */
export function tokenHashOf(
  headers: Headers,
  queryKey: string | null = null,
): SecretRef | Promise<SecretRef> {
  return secretRefOf(presentedCredential(headers, queryKey));
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
  if (!looksLikeJwt(presented)) return secretRefOf(presented);
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

async function hashNew(secret: string): Promise<SecretRef> {
  const hash = await hashToken(secret);
  return rememberTokenHash(secret, {
    hash,
    objectKey: objectKeyOf(secret, hash),
    credential: { kind: "secret", hash },
  });
}

function checked(secret: string): string {
  if (!isWellFormedToken(secret)) throw NOT_A_TOKEN;
  return secret;
}
