import { and, asc, desc, eq, gt, gte, isNotNull, isNull, lt, lte, or, type SQL, sql } from "drizzle-orm";
import { cacheSettingsOf } from "../cache/settings";
import { hasLimits, type Ledger, type Limits, toUsd } from "../limits/budget";
import { routingFrom } from "../routing/config";
import type { Routing } from "../routing/types";
import type { Db } from "../storage/db";
import {
  modelAliases,
  type NewToken,
  type Project,
  projects,
  type Token,
  tokens,
  upstreamKeys,
  upstreams,
} from "../storage/schema";
import type { ProjectConfig, TokenConfig } from "./admission";

/**
 * Loads what admission needs and marks the token as having a Durable Object, in one D1 transaction, so a
 * concurrent management change either lands before this read or sees `first_used_at` and reloads the object.
 */
export async function loadTokenConfig(db: Db, tokenHash: string): Promise<TokenConfig | null> {
  const now = Date.now();
  const projectOfToken = sql`(select ${tokens.projectId} from ${tokens} where ${tokens.tokenHash} = ${tokenHash})`;
  const [tokenRows, projectRows, upstreamRows, keyRows, aliasRows] = await db.batch([
    db
      .update(tokens)
      .set({ firstUsedAt: sql`coalesce(${tokens.firstUsedAt}, ${now})`, configLoadedAt: now })
      .where(eq(tokens.tokenHash, tokenHash))
      .returning(),
    db.select().from(projects).where(eq(projects.id, projectOfToken)),
    db
      .select()
      .from(upstreams)
      .where(eq(upstreams.projectId, projectOfToken))
      .orderBy(asc(upstreams.position), asc(upstreams.createdAt), asc(upstreams.id)),
    db
      .select({ key: upstreamKeys })
      .from(upstreamKeys)
      .innerJoin(upstreams, eq(upstreams.id, upstreamKeys.upstreamId))
      .where(eq(upstreams.projectId, projectOfToken))
      .orderBy(asc(upstreamKeys.createdAt), asc(upstreamKeys.id)),
    db.select().from(modelAliases).where(eq(modelAliases.projectId, projectOfToken)),
  ]);
  const t = tokenRows[0];
  const p = projectRows[0];
  if (!t || !p) return null;
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
    cacheAllowed: t.cacheAllowed,
    project: projectConfigOf(
      p,
      await routingFrom(
        upstreamRows,
        keyRows.map((r) => r.key),
        aliasRows,
      ),
    ),
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
    cache: cacheSettingsOf(p.cache, p.cacheGeneration),
    capabilities: p.capabilities,
    objectScope: p.objectScope,
    routing,
  };
}

/** The project's configuration as a push carries it to its tokens' objects: its row and routing table read now. */
export async function loadProjectConfig(db: Db, p: Project): Promise<ProjectConfig> {
  const [upstreamRows, keyRows, aliasRows] = await db.batch([
    db
      .select()
      .from(upstreams)
      .where(eq(upstreams.projectId, p.id))
      .orderBy(asc(upstreams.position), asc(upstreams.createdAt), asc(upstreams.id)),
    db
      .select({ key: upstreamKeys })
      .from(upstreamKeys)
      .innerJoin(upstreams, eq(upstreams.id, upstreamKeys.upstreamId))
      .where(eq(upstreams.projectId, p.id))
      .orderBy(asc(upstreamKeys.createdAt), asc(upstreamKeys.id)),
    db.select().from(modelAliases).where(eq(modelAliases.projectId, p.id)),
  ]);
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

/** Whether a token with this hash exists (one indexed read; the proxy's check of a legacy token). */
export async function tokenExists(db: Db, tokenHash: string): Promise<boolean> {
  const row = await db
    .select({ id: tokens.id })
    .from(tokens)
    .where(eq(tokens.tokenHash, tokenHash))
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

export async function getToken(db: Db, id: string): Promise<Token | undefined> {
  return db.select().from(tokens).where(eq(tokens.id, id)).get();
}

export type TokenFilter = {
  projectId?: string;
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

/** Revokes the matching tokens that are not revoked yet; returns them (with their hashes, to reach their objects). */
export async function revokeTokens(
  db: Db,
  where: { id: string } | { tokenHash: string } | { projectId: string },
): Promise<Pick<Token, "id" | "tokenHash" | "firstUsedAt" | "configLoadedAt">[]> {
  const now = Date.now();
  const match =
    "id" in where
      ? eq(tokens.id, where.id)
      : "tokenHash" in where
        ? eq(tokens.tokenHash, where.tokenHash)
        : eq(tokens.projectId, where.projectId);
  return db
    .update(tokens)
    .set({ isActive: false, revokedAt: now, updatedAt: now })
    .where(and(match, isNull(tokens.revokedAt)))
    .returning({
      id: tokens.id,
      tokenHash: tokens.tokenHash,
      firstUsedAt: tokens.firstUsedAt,
      configLoadedAt: tokens.configLoadedAt,
    });
}

/**
 * Tokens of a project whose Durable Object may still admit requests from a configuration it read at or after
 * `loadedSince`: those must hear of changes (an object with an older copy re-reads D1 before deciding).
 */
export async function liveTokensOfProject(
  db: Db,
  projectId: string,
  loadedSince: number,
): Promise<Pick<Token, "tokenHash" | "configLoadedAt">[]> {
  return db
    .select({ tokenHash: tokens.tokenHash, configLoadedAt: tokens.configLoadedAt })
    .from(tokens)
    .where(
      and(
        eq(tokens.projectId, projectId),
        gte(tokens.configLoadedAt, loadedSince),
        isNull(tokens.revokedAt),
        gt(tokens.expiresAt, Date.now()),
      ),
    );
}

/** Revoked, unexpired tokens of a project whose object read its configuration at or after `loadedSince`. */
export async function revokedUsedTokensOfProject(
  db: Db,
  projectId: string,
  loadedSince: number,
): Promise<Pick<Token, "tokenHash" | "configLoadedAt">[]> {
  return db
    .select({ tokenHash: tokens.tokenHash, configLoadedAt: tokens.configLoadedAt })
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
): Promise<Pick<Token, "tokenHash"> | undefined> {
  return db
    .select({ tokenHash: tokens.tokenHash })
    .from(tokens)
    .where(and(eq(tokens.projectId, projectId), isNotNull(tokens.firstUsedAt)))
    .orderBy(desc(tokens.lastUsedAt))
    .limit(1)
    .get();
}

/** Deletes tokens expired for longer than `graceMs`; their objects find nothing on their next alarm. */
export async function deleteExpiredTokens(db: Db, olderThan: number): Promise<number> {
  const rows = await db.delete(tokens).where(lt(tokens.expiresAt, olderThan)).returning({ id: tokens.id });
  return rows.length;
}
