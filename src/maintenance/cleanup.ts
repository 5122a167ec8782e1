import { deleteAuditBefore } from "../audit/repo";
import { getDb } from "../storage/db";
import { deleteExpiredTokens } from "../tokens/repo";

const DAY = 86_400_000;
/** Expired tokens stay visible (and listable as expired) this long before they are deleted. */
export const EXPIRED_TOKEN_RETENTION_MS = 30 * DAY;
export const AUDIT_RETENTION_MS = 365 * DAY;

/** The cron's clean-up: old expired tokens and old audit entries. */
export async function cleanup(env: Env, now = Date.now()): Promise<{ tokensDeleted: number }> {
  const db = getDb(env);
  const tokensDeleted = await deleteExpiredTokens(db, now - EXPIRED_TOKEN_RETENTION_MS);
  await deleteAuditBefore(db, now - AUDIT_RETENTION_MS);
  return { tokensDeleted };
}
