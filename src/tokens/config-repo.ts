// The D1 reads admission needs: a token's configuration (its row, its project's, the routing table) as its
// Durable Object loads it or a project push carries it, and the legacy token check. Kept apart from the
// management writes (repo.ts) and the object bookkeeping (object-repo.ts): this is what the hot path's
// cold start reads, and it is the only token storage that depends on routing/ and cache/.
import { and, asc, eq, isNull, or, type SQL, sql } from "drizzle-orm";
import { cacheSettingsOf } from "../cache/settings";
import { hasLimits, type Limits } from "../limits/budget";
import { hasRenewing, type RenewingLimits } from "../limits/renewing";
import { routingFrom } from "../routing/config";
import type { Routing } from "../routing/types";
import type { Db } from "../storage/db";
import {
  modelAliases,
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
