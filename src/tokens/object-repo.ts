// Where tokens' (and end users') Durable Objects live and what they write back: the reads that find the
// objects a change must reach (notify.ts), and the objects' own writes to D1 (counters, project versions).
import { and, desc, eq, gt, gte, isNotNull, isNull, sql } from "drizzle-orm";
import { union } from "drizzle-orm/sqlite-core";
import { type Ledger, toUsd } from "../limits/budget";
import type { Db } from "../storage/db";
import { endUsers, projects, type Token, tokens } from "../storage/schema";

/**
 * Where a token's (or end user's) object lives, whether it exists (`firstUsedAt`) and when it last read its
 * configuration (`configLoadedAt`): what telling it of a change needs (notify.ts).
 */
export type ObjectRef = Pick<Token, "objectKey" | "firstUsedAt" | "configLoadedAt">;

/** The columns of a token's `ObjectRef`, for a select or a `returning`. */
export const TOKEN_OBJECT_REF = {
  objectKey: tokens.objectKey,
  firstUsedAt: tokens.firstUsedAt,
  configLoadedAt: tokens.configLoadedAt,
};

/**
 * Moves the project's `updated_at` on (strictly growing): a change to its routing table is a new version of
 * the project, so a push of the project read before the change can no longer overwrite the reload it causes.
 */
export async function touchProject(db: Db, projectId: string): Promise<void> {
  await db
    .update(projects)
    .set({ updatedAt: sql`max(${Date.now()}, ${projects.updatedAt} + 1)` })
    .where(eq(projects.id, projectId));
}

export async function mirrorTokenCounters(
  db: Db,
  tokenId: string,
  counters: Pick<Ledger, "requests" | "tokensUsed" | "costUsedNanos"> & { lastUsedAt: number | null },
): Promise<void> {
  await db
    .update(tokens)
    .set({
      requestCount: counters.requests,
      lastUsedAt: counters.lastUsedAt,
      totalTokensUsed: counters.tokensUsed,
      costUsedUsd: toUsd(counters.costUsedNanos),
    })
    .where(eq(tokens.id, tokenId));
}

/** A token and every token carved from it, down the tree (for telling their objects again). */
export async function tokenTree(db: Db, id: string): Promise<(ObjectRef & Pick<Token, "id">)[]> {
  const rows = await db.all<{
    id: string;
    object_key: string;
    first_used_at: number | null;
    config_loaded_at: number | null;
  }>(
    sql`with recursive tree(id) as (select ${id} union select t.id from ${tokens} t join tree on t.parent_id = tree.id)
      select t.id, t.object_key, t.first_used_at, t.config_loaded_at from ${tokens} t join tree on t.id = tree.id`,
  );
  return rows.map((r) => ({
    id: r.id,
    objectKey: r.object_key,
    firstUsedAt: r.first_used_at,
    configLoadedAt: r.config_loaded_at,
  }));
}

/**
 * Objects of a project that may still admit requests from a configuration they read at or after
 * `loadedSince` — its tokens', and its end users' (src/issuing/identity): those must hear of changes (an
 * object with an older copy re-reads D1 before deciding).
 */
export async function liveTokensOfProject(
  db: Db,
  projectId: string,
  loadedSince: number,
): Promise<ObjectRef[]> {
  return union(
    db
      .select(TOKEN_OBJECT_REF)
      .from(tokens)
      .where(
        and(
          eq(tokens.projectId, projectId),
          gte(tokens.configLoadedAt, loadedSince),
          isNull(tokens.revokedAt),
          isNull(tokens.endUserId),
        ),
      ),
    db
      .select({
        objectKey: endUsers.objectKey,
        firstUsedAt: endUsers.firstUsedAt,
        configLoadedAt: endUsers.configLoadedAt,
      })
      .from(endUsers)
      .where(and(eq(endUsers.projectId, projectId), gte(endUsers.configLoadedAt, loadedSince))),
  );
}

/** Revoked, unexpired tokens of a project whose object read its configuration at or after `loadedSince`. */
export async function revokedUsedTokensOfProject(
  db: Db,
  projectId: string,
  loadedSince: number,
): Promise<ObjectRef[]> {
  return db
    .select(TOKEN_OBJECT_REF)
    .from(tokens)
    .where(
      and(
        eq(tokens.projectId, projectId),
        gte(tokens.configLoadedAt, loadedSince),
        isNotNull(tokens.revokedAt),
        gt(tokens.expiresAt, Date.now()),
      ),
    );
}

/** Any token of the project whose Durable Object exists (it was used), to read project counters through. */
export async function usedTokenOfProject(
  db: Db,
  projectId: string,
): Promise<Pick<Token, "objectKey"> | undefined> {
  return db
    .select({ objectKey: tokens.objectKey })
    .from(tokens)
    .where(and(eq(tokens.projectId, projectId), isNotNull(tokens.firstUsedAt)))
    .orderBy(desc(tokens.lastUsedAt))
    .limit(1)
    .get();
}

/** Where a (child) token's object lives and whether it was used; undefined once the token is deleted. */
export async function tokenEnded(
  db: Db,
  id: string,
): Promise<Pick<Token, "objectKey" | "firstUsedAt"> | undefined> {
  return db
    .select({ objectKey: tokens.objectKey, firstUsedAt: tokens.firstUsedAt })
    .from(tokens)
    .where(eq(tokens.id, id))
    .get();
}
