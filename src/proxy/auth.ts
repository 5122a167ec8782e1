import { ApiError } from "../lib/errors";
import { hashToken, isWellFormedToken } from "../tokens/secret";
import { cachedTokenHash, rememberTokenHash } from "./isolate-caches";

const NOT_A_TOKEN = new ApiError(
  401,
  "invalid_token",
  "The credential is not a withering token of this gateway.",
);

/**
 * The credential as presented: `Authorization: Bearer`, else `api-key` (Azure SDKs), else `x-api-key`
 * (Anthropic SDKs); not yet checked against the token format (401 `invalid_token` if none).
 */
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

/**
 * The token hash of the request's credential; throws 401 `invalid_token` when there is none or it is not in
 * the token format. A secret this isolate has hashed before is known to be well formed and its hash never
 * changes, so it is answered from memory (synchronously) without the format check or a digest.
 */
export function tokenHashOf(headers: Headers): string | Promise<string> {
  const secret = presentedCredential(headers);
  return cachedTokenHash(secret) ?? hashNew(checked(secret));
}

async function hashNew(secret: string): Promise<string> {
  return rememberTokenHash(secret, await hashToken(secret));
}

function checked(secret: string): string {
  if (!isWellFormedToken(secret)) throw NOT_A_TOKEN;
  return secret;
}
