import { getTableName } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import { recordAudit } from "../audit/repo";
import { type Keyring, keyringOf, reencryptSecret } from "../lib/crypto";
import { getDb } from "../storage/db";
import { upstreamKeys } from "../storage/schema";
import { reloadProjectTokens } from "../tokens/notify";
import { projectOfKey } from "../upstreams/repo";

/**
 * A column of envelopes sealed under ENCRYPTION_KEY (src/lib/crypto.ts). A table that gains one adds an
 * entry to ENCRYPTED_COLUMNS below, and the cron re-encrypts it during a key rotation like the others.
 */
export type EncryptedColumn = {
  table: SQLiteTable;
  id: SQLiteColumn;
  value: SQLiteColumn;
  /**
   * Told after a row's value changed, for whatever holds a copy of the old one (a Durable Object's
   * configuration). When it throws, the row gets its old value back, so the next run tries again rather
   * than leaving a copy that only the previous key can open.
   */
  changed?: (env: Env, id: string) => Promise<void>;
};

export const ENCRYPTED_COLUMNS: EncryptedColumn[] = [
  {
    table: upstreamKeys,
    id: upstreamKeys.id,
    value: upstreamKeys.keyEncrypted,
    // Token objects keep their project's key ciphertexts in their routing table: have them read the new one.
    changed: async (env, id) => {
      const projectId = await projectOfKey(getDb(env), id);
      if (projectId) await reloadProjectTokens(env, projectId);
    },
  },
];

export type ReencryptResult = { reencrypted: number; current: number; failed: number };

const PAGE = 100;

/**
 * Re-encrypts every value of one column that only the previous key opens, under the current key. Each row
 * is replaced only if it still holds the value that was read (a key rotated by an operator meanwhile
 * wins). A value neither key opens is counted as failed and left as it is.
 */
export async function reencryptColumn(
  env: Env,
  column: EncryptedColumn,
  keys: Keyring,
): Promise<ReencryptResult> {
  const result: ReencryptResult = { reencrypted: 0, current: 0, failed: 0 };
  if (!keys.previous || keys.previous === keys.current) return result;
  const table = `"${getTableName(column.table)}"`;
  const id = `"${column.id.name}"`;
  const value = `"${column.value.name}"`;
  const page = env.DB.prepare(
    `select ${id} as id, ${value} as value from ${table} where ${id} > ?1 order by ${id} limit ${PAGE}`,
  );
  const swap = env.DB.prepare(`update ${table} set ${value} = ?1 where ${id} = ?2 and ${value} = ?3`);
  let after = "";
  for (;;) {
    const { results } = await page.bind(after).all<{ id: string; value: string | null }>();
    for (const row of results) {
      if (row.value === null) continue;
      let fresh: string | null;
      try {
        fresh = await reencryptSecret(row.value, keys);
      } catch (err) {
        // Never log the value: the row id says where to look.
        console.error(`re-encryption: ${table}.${value} of ${row.id} opens with neither key`, String(err));
        result.failed++;
        continue;
      }
      if (fresh === null) {
        result.current++;
        continue;
      }
      const { meta } = await swap.bind(fresh, row.id, row.value).run();
      if (meta.changes !== 1) continue; // changed meanwhile (a new key): already under the current key
      try {
        await column.changed?.(env, row.id);
        result.reencrypted++;
      } catch (err) {
        await swap.bind(row.value, row.id, fresh).run();
        console.error(
          `re-encryption: ${table} ${row.id} put back, its holders could not be told`,
          String(err),
        );
        result.failed++;
      }
    }
    if (results.length < PAGE) return result;
    after = results.at(-1)!.id;
  }
}

/**
 * The cron's part of an ENCRYPTION_KEY rotation: while ENCRYPTION_KEY_PREVIOUS is set, every encrypted
 * column is brought under ENCRYPTION_KEY, and the run is written to the audit log (actor `cron`, action
 * `encryption.reencrypt`) so the operator can see when nothing is left under the previous key.
 */
export async function reencryptStored(env: Env, columns = ENCRYPTED_COLUMNS): Promise<ReencryptResult> {
  const keys = keyringOf(env);
  const total: ReencryptResult = { reencrypted: 0, current: 0, failed: 0 };
  if (!keys.previous || keys.previous === keys.current) return total;
  for (const column of columns) {
    const r = await reencryptColumn(env, column, keys);
    total.reencrypted += r.reencrypted;
    total.current += r.current;
    total.failed += r.failed;
  }
  await recordAudit(getDb(env), {
    actor: "cron",
    action: "encryption.reencrypt",
    result: total.failed ? "incomplete" : "ok",
    status: total.failed ? 500 : 200,
    details: { ...total, done: total.failed === 0 },
  });
  return total;
}
