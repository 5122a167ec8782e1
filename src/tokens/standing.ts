import { type Credential, type Refused, TOKEN_NOT_FOUND } from "./admission";
import type { TokenConfig } from "./token-config";

// A token's standing, whatever the request asks: the secret it presented, revoked or deactivated, expired,
// its project deactivated. Apart from decide.ts because minting children (issuing/mint.ts) and an end
// user's credentials (issuing/identity/user-admission.ts) check the same standing without a request.

/**
 * Whether the presented secret is one the token accepts now: its current secret, or the one a rotation
 * replaced while its grace period lasts. A JWT never opens a token's object.
 */
export function secretRefusal(config: TokenConfig, credential: Credential, now: number): Refused | null {
  if (credential.kind !== "secret") return TOKEN_NOT_FOUND;
  const accepted = config.secrets.find((s) => s.hash === credential.hash);
  if (!accepted) return TOKEN_NOT_FOUND;
  if (accepted.until !== null && accepted.until <= now) {
    const at = new Date(accepted.until).toISOString();
    return {
      ok: false,
      status: 401,
      code: "token_inactive",
      message: `This secret was replaced by a rotation; it stopped working at ${at}. Use the new secret.`,
    };
  }
  return null;
}

/** The token's standing, whatever the request: its secret, active, not expired, project active. */
export function standingRefusal(
  config: TokenConfig,
  credential: Credential | undefined,
  now: number,
): Refused | null {
  const ids = {
    tokenId: config.tokenId,
    projectId: config.projectId,
    allowedOrigins: config.project.allowedOrigins,
  };
  if (credential) {
    const refused = secretRefusal(config, credential, now);
    if (refused) return { ...refused, ...ids };
  }
  if (!config.isActive || config.revokedAt !== null) {
    const message =
      config.revokedAt !== null ? "The token has been revoked." : "The token has been deactivated.";
    return { ok: false, status: 401, code: "token_inactive", message, ...ids };
  }
  if (config.expiresAt <= now) {
    const at = new Date(config.expiresAt).toISOString();
    return { ok: false, status: 401, code: "token_expired", message: `The token expired at ${at}.`, ...ids };
  }
  if (!config.project.isActive) {
    return {
      ok: false,
      status: 403,
      code: "project_inactive",
      message: "The token's project is deactivated.",
      ...ids,
    };
  }
  return null;
}
