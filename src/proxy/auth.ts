import { ApiError } from "../lib/errors";
import { hashToken, isWellFormedToken } from "../tokens/secret";
import { cachedTokenHash, rememberTokenHash } from "./isolate-caches";

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
 * The token hash of the request's credential; throws 401 `invalid_token` when there is none or it is not in
 * the token format. A secret this isolate has hashed before is known to be well formed and its hash never
 * changes, so it is answered from memory (synchronously) without the format check or a digest.
 */
export function tokenHashOf(headers: Headers, queryKey: string | null = null): string | Promise<string> {
  const secret = presentedCredential(headers, queryKey);
  return cachedTokenHash(secret) ?? hashNew(checked(secret));
}

async function hashNew(secret: string): Promise<string> {
  return rememberTokenHash(secret, await hashToken(secret));
}

function checked(secret: string): string {
  if (!isWellFormedToken(secret)) throw NOT_A_TOKEN;
  return secret;
}
