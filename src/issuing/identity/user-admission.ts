import { type Credential, type Refused, TOKEN_NOT_FOUND } from "../../tokens/admission";
import { modelAllowed } from "../../tokens/decide";
import { secretRefusal } from "../../tokens/standing";
import type { TokenConfig } from "../../tokens/token-config";
import type { UserConfig, UserToken } from "./user-config";

/** The refusal that tells the worker its cached view of the identity provider is stale: re-verify. */
export const IDENTITY_CHANGED = "identity_changed";

/**
 * The per-request part of an end user's admission: is this credential (one of the user's tokens, or a
 * JWT used directly) good now, and under which token-shaped configuration is the request decided — the
 * user's limits, the credential's expiry. The counting that follows is the user's, whatever the credential.
 */
export function userCredential(
  user: UserConfig,
  credential: Credential | undefined,
  token: UserToken | null,
  model: string | null | undefined,
  now: number,
): TokenConfig | Refused {
  const s = user.subject;
  const ids = { projectId: s.projectId, allowedOrigins: s.project.allowedOrigins };
  if (!credential) return TOKEN_NOT_FOUND;
  if (!s.isActive || s.revokedAt !== null) {
    return {
      ok: false,
      status: 401,
      code: "token_inactive",
      message: "This user's access has been revoked.",
      ...ids,
    };
  }
  if (!user.providerActive) {
    const message = "The project no longer accepts this identity provider's users.";
    return { ok: false, status: 401, code: "token_inactive", message, ...ids };
  }
  if (credential.kind === "jwt") {
    if (credential.providerId !== user.providerId || credential.providerVersion !== user.providerVersion) {
      const message = "The identity provider's configuration changed; verify the JWT again.";
      return { ok: false, status: 401, code: IDENTITY_CHANGED, message, ...ids };
    }
    if (!user.allowDirect) {
      const message = "This project does not accept JWTs as API keys: exchange the JWT for a token first.";
      return { ok: false, status: 401, code: "invalid_token", message, ...ids };
    }
    return { ...s, expiresAt: credential.expiresAt };
  }
  if (!token) return TOKEN_NOT_FOUND;
  const tokenIds = { ...ids, tokenId: token.tokenId };
  const effective: TokenConfig = {
    ...s,
    tokenId: token.tokenId,
    expiresAt: token.expiresAt,
    isActive: token.isActive,
    revokedAt: token.revokedAt,
    secrets: token.secrets,
    // The token's own model list counts as a restriction too: a request whose model the gateway could not
    // read is then refused (decide), never let through because the user's limits alone name no models.
    allowedModels: s.allowedModels ?? token.allowedModels,
  };
  const wrongSecret = secretRefusal(effective, credential, now);
  if (wrongSecret) return { ...wrongSecret, ...tokenIds };
  if (model && !modelAllowed(token.allowedModels, model)) {
    const message = `Model '${model}' is not allowed for this token. Allowed: ${token.allowedModels?.join(", ")}.`;
    return { ok: false, status: 403, code: "model_not_allowed", message, param: "model", ...tokenIds };
  }
  return effective;
}
