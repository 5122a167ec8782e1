import { deleteAuditBefore } from "../audit/repo";
import { getDb } from "../storage/db";
import { deleteExpiredTokens } from "../tokens/repo";
import { flushObjects } from "../usage/consumer";
import { deleteLedgerBefore, stalePendingKeys } from "../usage/event-ledger";
import { deleteRollupsBefore } from "../usage/rollups";

const DAY = 86_400_000;
/** Expired tokens stay visible (and listable as expired) this long before they are deleted. */
export const EXPIRED_TOKEN_RETENTION_MS = 30 * DAY;
export const AUDIT_RETENTION_MS = 365 * DAY;
/** Hourly usage rollups are kept this long by default (USAGE_RETENTION_DAYS overrides it). */
export const DEFAULT_USAGE_RETENTION_DAYS = 400;
/**
 * Ledger rows make redelivered events no-ops. A queue keeps a message 4 days (the default
 * message_retention_period; raise this with it), and retries end within the hour, so older rows can go.
 * Rows cost ~250 bytes of D1 per event while kept. Rows whose object is not confirmed written are never deleted.
 */
export const LEDGER_RETENTION_MS = 5 * DAY;
/** Lines still pending after this long belong to a consumer that died between D1 and R2: write them. */
const STALE_PENDING_MS = 10 * 60_000;

function usageRetentionMs(env: Env): number {
  const days = Number(env.USAGE_RETENTION_DAYS);
  return (Number.isFinite(days) && days > 0 ? days : DEFAULT_USAGE_RETENTION_DAYS) * DAY;
}

export type CleanupResult = { tokensDeleted: number; ledgerDeleted: number; objectsFlushed: number };

/** The cron's clean-up: old expired tokens, audit entries, rollups and ledger rows; stale pending log lines. */
export async function cleanup(env: Env, now = Date.now()): Promise<CleanupResult> {
  const db = getDb(env);
  const tokensDeleted = await deleteExpiredTokens(db, now - EXPIRED_TOKEN_RETENTION_MS);
  await deleteAuditBefore(db, now - AUDIT_RETENTION_MS);
  await deleteRollupsBefore(db, now - usageRetentionMs(env));
  const stale = await stalePendingKeys(env.DB, now - STALE_PENDING_MS, 100);
  const objectsFlushed = (await flushObjects(env, stale)).length;
  const ledgerDeleted = await deleteLedgerBefore(env.DB, now - LEDGER_RETENTION_MS);
  return { tokensDeleted, ledgerDeleted, objectsFlushed };
}
