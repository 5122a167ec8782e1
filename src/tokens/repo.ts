import {
  and,
  asc,
  desc,
  eq,
  getTableColumns,
  gt,
  gte,
  isNotNull,
  isNull,
  lt,
  lte,
  or,
  type SQL,
  sql,
} from "drizzle-orm";
import { union } from "drizzle-orm/sqlite-core";
import { cacheSettingsOf } from "../cache/settings";
import { hasLimits, type Ledger, type Limits, toUsd } from "../limits/budget";
import { hasRenewing, type RenewingLimits } from "../limits/renewing";
import { routingFrom } from "../routing/config";
import type { Routing } from "../routing/types";
import type { Db } from "../storage/db";
import {
  endUsers,
  modelAliases,
  type NewToken,
  type Project,
  projects,
  type Token,
  tokens,
  upstreamKeys,
  upstreams,
} from "../storage/schema";
import type { AcceptedSecret, ProjectConfig, TokenConfig } from "./token-config";

/** The statements that read a project's routing table (its upstreams, their keys, its aliases). */
function routingReads(db: Db, projectId: SQL | string) {
  return [
    db
      .select()
      .from(upstreams)
      .where(eq(upstreams.projectId, projectId))
      .orderBy(asc(upstreams.position), asc(upstreams.createdAt), asc(upstreams.id)),
    db
      .select({ key: upstreamKeys })
      .from(upstreamKeys)
      .innerJoin(upstreams, eq(upstreams.id, upstreamKeys.upstreamId))
      .where(eq(upstreams.projectId, projectId))
      .orderBy(asc(upstreamKeys.createdAt), asc(upstreamKeys.id)),
    db.select().from(modelAliases).where(eq(modelAliases.projectId, projectId)),
  ] as const;
}

/**
 * Loads what admission needs and marks the token as having a Durable Object, in one D1 transaction, so a
 * concurrent management change either lands before this read or sees `first_used_at` and reloads the object.
 * The object is named by the token's `object_key` (the hash of its first secret), so a rotated token is
 * still found here. Tokens of end users are admitted by their user's object instead (src/issuing/identity).
 */
export async function loadTokenConfig(db: Db, objectKey: string): Promise<TokenConfig | null> {
  const now = Date.now();
  const own = and(eq(tokens.objectKey, objectKey), isNull(tokens.endUserId));
  const projectOfToken = sql`(select ${tokens.projectId} from ${tokens} where ${tokens.objectKey} = ${objectKey} and ${tokens.endUserId} is null)`;
  const [tokenRows, projectRows, upstreamRows, keyRows, aliasRows] = await db.batch([
    db
      .update(tokens)
      .set({ firstUsedAt: sql`coalesce(${tokens.firstUsedAt}, ${now})`, configLoadedAt: now })
      .where(own)
      .returning(),
    db.select().from(projects).where(eq(projects.id, projectOfToken)),
    ...routingReads(db, projectOfToken),
  ]);
  const t = tokenRows[0];
  const p = projectRows[0];
  if (!t || !p) return null;
  const routing = await routingFrom(
    upstreamRows,
    keyRows.map((r) => r.key),
    aliasRows,
  );
  return tokenConfigOf(t, projectConfigOf(p, routing));
}

/** The secrets a token accepts: its current one, and the one a rotation replaced until its grace ends. */
export function acceptedSecrets(
  t: Pick<Token, "tokenHash" | "previousHash" | "previousValidUntil">,
): AcceptedSecret[] {
  const secrets: AcceptedSecret[] = [{ hash: t.tokenHash, until: null }];
  if (t.previousHash) secrets.push({ hash: t.previousHash, until: t.previousValidUntil ?? 0 });
  return secrets;
}

export function tokenConfigOf(t: Token, project: ProjectConfig): TokenConfig {
  return {
    tokenId: t.id,
    projectId: t.projectId,
    expiresAt: t.expiresAt,
    isActive: t.isActive,
    revokedAt: t.revokedAt,
    maxRequests: t.maxRequests,
    rateLimits: t.rateLimits,
    maxTotalTokens: t.maxTotalTokens,
    maxCostUsd: t.maxCostUsd,
    allowedModels: t.allowedModels,
    renewing: {
      periodBudgets: t.periodBudgets?.length ? t.periodBudgets : null,
      timeZone: t.budgetTimeZone,
      tokenWindows: t.tokenRateLimits?.length ? t.tokenRateLimits : null,
    },
    secrets: acceptedSecrets(t),
    canMint: t.canMint,
    cacheAllowed: t.cacheAllowed,
    project,
  };
}

/** The project part of every token's configuration, from the project's row and its routing table. */
export function projectConfigOf(p: Project, routing: Routing): ProjectConfig {
  return {
    version: p.updatedAt,
    isActive: p.isActive,
    allowedOrigins: p.allowedOrigins,
    allowedModels: p.allowedModels,
    limits: projectLimits(p),
    renewing: projectRenewing(p),
    cache: cacheSettingsOf(p.cache, p.cacheGeneration),
    capabilities: p.capabilities,
    objectScope: p.objectScope,
    routing,
  };
}

/** The project's renewing caps (budgets per period, token windows), or null when it has none. */
export function projectRenewing(
  p: Pick<Project, "periodBudgets" | "budgetTimeZone" | "tokenRateLimits">,
): RenewingLimits | null {
  const r: RenewingLimits = {
    periodBudgets: p.periodBudgets?.length ? p.periodBudgets : null,
    timeZone: p.budgetTimeZone,
    tokenWindows: p.tokenRateLimits?.length ? p.tokenRateLimits : null,
  };
  return hasRenewing(r) ? r : null;
}

/** The project's configuration as a push carries it to its tokens' objects: its row and routing table read now. */
export async function loadProjectConfig(db: Db, p: Project): Promise<ProjectConfig> {
  const [upstreamRows, keyRows, aliasRows] = await db.batch(routingReads(db, p.id));
  return projectConfigOf(
    p,
    await routingFrom(
      upstreamRows,
      keyRows.map((r) => r.key),
      aliasRows,
    ),
  );
}

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

/**
 * Whether a token accepts a secret with this hash — its current one, or the one a rotation replaced (the
 * object judges the grace period). One indexed read: the proxy's check of a legacy token.
 */
export async function tokenExists(db: Db, tokenHash: string): Promise<boolean> {
  const row = await db
    .select({ id: tokens.id })
    .from(tokens)
    .where(or(eq(tokens.tokenHash, tokenHash), eq(tokens.previousHash, tokenHash)))
    .limit(1)
    .get();
  return row !== undefined;
}

/** The project's caps across its tokens, or null when it has none. */
export function projectLimits(
  p: Pick<Project, "maxRequests" | "maxTotalTokens" | "maxCostUsd">,
): Limits | null {
  const limits = { maxRequests: p.maxRequests, maxTotalTokens: p.maxTotalTokens, maxCostUsd: p.maxCostUsd };
  return hasLimits(limits) ? limits : null;
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

export async function insertToken(db: Db, token: NewToken): Promise<Token> {
  const [row] = await db.insert(tokens).values(token).returning();
  return row!;
}

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
 * Where a token's (or end user's) object lives, whether it exists (`firstUsedAt`) and when it last read its
 * configuration (`configLoadedAt`): what telling it of a change needs (notify.ts).
 */
export type ObjectRef = Pick<Token, "objectKey" | "firstUsedAt" | "configLoadedAt">;

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
    .returning({
      id: tokens.id,
      objectKey: tokens.objectKey,
      firstUsedAt: tokens.firstUsedAt,
      configLoadedAt: tokens.configLoadedAt,
    });
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
      .select({
        objectKey: tokens.objectKey,
        firstUsedAt: tokens.firstUsedAt,
        configLoadedAt: tokens.configLoadedAt,
      })
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
    .select({
      objectKey: tokens.objectKey,
      firstUsedAt: tokens.firstUsedAt,
      configLoadedAt: tokens.configLoadedAt,
    })
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

/** Deletes tokens expired for longer than `graceMs`; their objects find nothing on their next alarm. */
export async function deleteExpiredTokens(db: Db, olderThan: number): Promise<number> {
  const rows = await db.delete(tokens).where(lt(tokens.expiresAt, olderThan)).returning({ id: tokens.id });
  return rows.length;
}
