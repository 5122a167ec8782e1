import type { Token } from "../storage/schema";

export type TokenStatus = "active" | "expired" | "revoked" | "inactive";

/** What a token is at `now`, for lists and the API: revoked wins over deactivated, which wins over expired. */
export function tokenStatus(
  t: Pick<Token, "isActive" | "revokedAt" | "expiresAt">,
  now = Date.now(),
): TokenStatus {
  if (t.revokedAt !== null) return "revoked";
  if (!t.isActive) return "inactive";
  if (t.expiresAt <= now) return "expired";
  return "active";
}
