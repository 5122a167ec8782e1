import { ApiError } from "../lib/errors";
import { isWellFormedToken } from "../tokens/secret";

/**
 * The withering token of a request: `Authorization: Bearer`, else `api-key` (Azure SDKs), else
 * `x-api-key` (Anthropic SDKs). Throws 401 `invalid_token` when there is none or it is not in the format.
 */
export function credentialOf(headers: Headers): string {
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
  if (!isWellFormedToken(secret)) {
    throw new ApiError(401, "invalid_token", "The credential is not a withering token of this gateway.");
  }
  return secret;
}
