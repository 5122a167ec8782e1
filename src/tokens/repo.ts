// The token rows management writes and lists (create, carve, update, revoke, clean up). Admission's reads
// are in config-repo.ts, the objects' bookkeeping in object-repo.ts.
import {
  and,
  desc,
  eq,
  getTableColumns,
  gt,
  isNotNull,
  isNull,
  lt,
  lte,
  or,
  type SQL,
  sql,
} from "drizzle-orm";
import type { Db } from "../storage/db";
import { type NewToken, type Token, tokens } from "../storage/schema";
import { type ObjectRef, TOKEN_OBJECT_REF } from "./object-repo";

const ROWS_PER_INSERT = 100;

/**
 * Inserts complete token rows, a hundred per statement, all in one D1 batch (one transaction): D1 binds at
 * most 100 parameters per statement, so each statement takes its rows as one JSON parameter (json_each).
 */
export async function insertTokens(db: Db, rows: readonly Token[]): Promise<void> {
  if (rows.length === 0) return;
  // insert … select names every column of the table, in order: the select yields them in that order.
  const columns = Object.entries(getTableColumns(tokens));
  const values = sql.raw(columns.map(([, c]) => `json_extract(value, '$.${c.name}')`).join(", "));
  const statements = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT).map((r) => {
      const out: Record<string, unknown> = {};
      for (const [key, c] of columns) out[c.name] = r[key as keyof Token] ?? null;
      return out;
    });
    statements.push(db.insert(tokens).select(sql`select ${values} from json_each(${JSON.stringify(chunk)})`));
  }
  await db.batch(statements as [(typeof statements)[number], ...(typeof statements)[number][]]);
}

export async function getToken(db: Db, id: string): Promise<Token | undefined> {
  return db.select().from(tokens).where(eq(tokens.id, id)).get();
}

export type TokenFilter = {
  projectId?: string;
  /** Children of this token only. */
  parentId?: string;
  status?: "active" | "expired" | "revoked" | "inactive";
  /** Matches the name or the display hint. */
  search?: string;
  limit: number;
  /** Opaque cursor from the previous page: `<created_at>:<id>`. */
  cursor?: { createdAt: number; id: string };
};

export async function listTokens(db: Db, filter: TokenFilter, now = Date.now()): Promise<Token[]> {
  const where: (SQL | undefined)[] = [];
  if (filter.projectId) where.push(eq(tokens.projectId, filter.projectId));
  if (filter.parentId) where.push(eq(tokens.parentId, filter.parentId));
  if (filter.status === "revoked") where.push(isNotNull(tokens.revokedAt));
  if (filter.status === "inactive") where.push(and(isNull(tokens.revokedAt), eq(tokens.isActive, false)));
  if (filter.status === "expired")
    where.push(and(isNull(tokens.revokedAt), eq(tokens.isActive, true), lte(tokens.expiresAt, now)));
  if (filter.status === "active")
    where.push(and(isNull(tokens.revokedAt), eq(tokens.isActive, true), gt(tokens.expiresAt, now)));
  if (filter.search) {
    const like = `%${filter.search.replace(/[%_\\]/g, "\\$&")}%`;
    where.push(
      sql`(${tokens.name} like ${like} escape '\\' or ${tokens.tokenHint} like ${like} escape '\\')`,
    );
  }
  if (filter.cursor) {
    const { createdAt, id } = filter.cursor;
    where.push(or(lt(tokens.createdAt, createdAt), and(eq(tokens.createdAt, createdAt), lt(tokens.id, id))));
  }
  return db
    .select()
    .from(tokens)
    .where(and(...where))
    .orderBy(desc(tokens.createdAt), desc(tokens.id))
    .limit(filter.limit);
}

export async function updateToken(db: Db, id: string, patch: Partial<NewToken>): Promise<Token | undefined> {
  const [row] = await db
    .update(tokens)
    .set({ ...patch, updatedAt: Date.now() })
    .where(eq(tokens.id, id))
    .returning();
  return row;
}

/**
 * Revokes the matching tokens that are not revoked yet, and every token carved from them (children,
 * grandchildren: a parent's revocation stops its whole tree). Returns them, to reach their objects.
 * By `secret` the current secret matches, and the one a rotation replaced.
 */
export async function revokeTokens(
  db: Db,
  where: { id: string } | { tokenHash: string } | { projectId: string },
): Promise<(ObjectRef & Pick<Token, "id">)[]> {
  const now = Date.now();
  const match =
    "id" in where
      ? eq(tokens.id, where.id)
      : "tokenHash" in where
        ? or(eq(tokens.tokenHash, where.tokenHash), eq(tokens.previousHash, where.tokenHash))
        : eq(tokens.projectId, where.projectId);
  const roots = sql`select ${tokens.id} from ${tokens} where ${match}`;
  return db
    .update(tokens)
    .set({ isActive: false, revokedAt: now, updatedAt: now })
    .where(
      and(
        isNull(tokens.revokedAt),
        sql`${tokens.id} in (with recursive tree(id) as (${roots} union select t.id from ${tokens} t join tree on t.parent_id = tree.id) select id from tree)`,
      ),
    )
    .returning({ id: tokens.id, ...TOKEN_OBJECT_REF });
}

/** Deletes tokens expired for longer than `graceMs`; their objects find nothing on their next alarm. */
export async function deleteExpiredTokens(db: Db, olderThan: number): Promise<number> {
  const rows = await db.delete(tokens).where(lt(tokens.expiresAt, olderThan)).returning({ id: tokens.id });
  return rows.length;
}
