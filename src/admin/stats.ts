import { and, asc, count, desc, eq, gt, gte, inArray, isNull, lte, type SQL, sql } from "drizzle-orm";
import type { Db } from "../storage/db";
import { projects, type Token, tokens, upstreamHourly, upstreams, usageHourly } from "../storage/schema";
import { type Bucket, RANGES, type Range, rangeStart, type Top, type UpstreamTop } from "./ranges";

const sums = {
  requests: sql<number>`coalesce(sum(${usageHourly.requests}), 0)`,
  errors: sql<number>`coalesce(sum(${usageHourly.errors}), 0)`,
  tokens: sql<number>`coalesce(sum(${usageHourly.promptTokens} + ${usageHourly.completionTokens}), 0)`,
  costUsd: sql<number>`coalesce(sum(${usageHourly.costUsd}), 0)`,
};

const cacheSums = {
  cacheHits: sql<number>`coalesce(sum(${usageHourly.cacheHits}), 0)`,
  cacheMisses: sql<number>`coalesce(sum(${usageHourly.cacheMisses}), 0)`,
  savedUsd: sql<number>`coalesce(sum(${usageHourly.savedUsd}), 0)`,
};

type Scope = { projectId?: string; tokenId?: string };

function scopeWhere(from: number, scope: Scope): SQL | undefined {
  return and(
    gte(usageHourly.hour, from),
    scope.projectId ? eq(usageHourly.projectId, scope.projectId) : undefined,
    scope.tokenId ? eq(usageHourly.tokenId, scope.tokenId) : undefined,
  );
}

/** One bucket per hour (or day) of the range, zero-filled so the charts keep their time axis. */
export async function usageSeries(
  db: Db,
  range: Range,
  scope: Scope = {},
  now = Date.now(),
): Promise<Bucket[]> {
  const { buckets, step } = RANGES[range];
  const from = rangeStart(range, now);
  const bucket = sql<number>`(${usageHourly.hour} - (${usageHourly.hour} % ${step}))`;
  const rows = await db
    .select({ start: bucket, ...sums, ...cacheSums })
    .from(usageHourly)
    .where(scopeWhere(from, scope))
    .groupBy(bucket);
  const byStart = new Map(rows.map((r) => [Number(r.start), r]));
  return Array.from({ length: buckets }, (_, i) => {
    const start = from + i * step;
    const r = byStart.get(start);
    return {
      start,
      requests: Number(r?.requests ?? 0),
      errors: Number(r?.errors ?? 0),
      tokens: Number(r?.tokens ?? 0),
      costUsd: Number(r?.costUsd ?? 0),
      cacheHits: Number(r?.cacheHits ?? 0),
      cacheMisses: Number(r?.cacheMisses ?? 0),
      savedUsd: Number(r?.savedUsd ?? 0),
    };
  });
}

/** The busiest projects, tokens or models of the range, by requests. */
export async function topBy(
  db: Db,
  by: "project" | "token" | "model",
  range: Range,
  limit = 5,
): Promise<Top[]> {
  const column =
    by === "project" ? usageHourly.projectId : by === "token" ? usageHourly.tokenId : usageHourly.model;
  const rows = await db
    .select({ key: column, ...sums })
    .from(usageHourly)
    .where(gte(usageHourly.hour, rangeStart(range)))
    .groupBy(column)
    .orderBy(desc(sums.requests))
    .limit(limit);
  const names = await namesFor(
    db,
    by,
    rows.map((r) => r.key),
  );
  return rows.map((r) => ({
    key: r.key,
    name: by === "model" ? r.key || null : (names.get(r.key) ?? null),
    requests: Number(r.requests),
    tokens: Number(r.tokens),
    costUsd: Number(r.costUsd),
  }));
}

async function namesFor(db: Db, by: "project" | "token" | "model", keys: string[]) {
  const ids = keys.filter(Boolean);
  if (by === "model" || ids.length === 0) return new Map<string, string>();
  const rows =
    by === "project"
      ? await db
          .select({ id: projects.id, name: projects.name })
          .from(projects)
          .where(inArray(projects.id, ids))
      : await db
          .select({ id: tokens.id, name: sql<string>`coalesce(${tokens.name}, ${tokens.tokenHint})` })
          .from(tokens)
          .where(inArray(tokens.id, ids));
  return new Map(rows.map((r) => [r.id, r.name]));
}

/** Each token's name, or its hint when it has none, for the request log (ids of deleted tokens are absent). */
export async function tokenLabels(db: Db, ids: string[]): Promise<Map<string, string>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = await db
    .select({ id: tokens.id, label: sql<string>`coalesce(${tokens.name}, ${tokens.tokenHint})` })
    .from(tokens)
    // One bound parameter whatever the count (D1 allows 100 per statement).
    .where(sql`${tokens.id} in (select value from json_each(${JSON.stringify(unique)}))`);
  return new Map(rows.map((r) => [r.id, r.label]));
}

const activeToken = (now: number) =>
  and(isNull(tokens.revokedAt), eq(tokens.isActive, true), gt(tokens.expiresAt, now));

export async function activeTokenCount(db: Db, now = Date.now()): Promise<number> {
  const [row] = await db.select({ n: count() }).from(tokens).where(activeToken(now));
  return row?.n ?? 0;
}

/** Active tokens that expire within `withinMs`, soonest first. */
export async function expiringTokens(
  db: Db,
  withinMs: number,
  limit = 8,
  now = Date.now(),
): Promise<Token[]> {
  return db
    .select()
    .from(tokens)
    .where(and(activeToken(now), lte(tokens.expiresAt, now + withinMs)))
    .orderBy(asc(tokens.expiresAt))
    .limit(limit);
}

/** Active and total tokens per project: of the given projects (a page of the list), or of all. */
export async function tokenCountsByProject(
  db: Db,
  projectIds?: string[],
  now = Date.now(),
): Promise<Map<string, { active: number; total: number }>> {
  if (projectIds?.length === 0) return new Map();
  const rows = await db
    .select({
      projectId: tokens.projectId,
      total: count(),
      active: sql<number>`sum(case when ${tokens.revokedAt} is null and ${tokens.isActive} = 1 and ${tokens.expiresAt} > ${now} then 1 else 0 end)`,
    })
    .from(tokens)
    .where(projectIds ? inArray(tokens.projectId, projectIds) : undefined)
    .groupBy(tokens.projectId);
  return new Map(rows.map((r) => [r.projectId, { active: Number(r.active ?? 0), total: r.total }]));
}

export async function activeTokenCountOfProject(
  db: Db,
  projectId: string,
  now = Date.now(),
): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(tokens)
    .where(and(eq(tokens.projectId, projectId), activeToken(now)));
  return row?.n ?? 0;
}

export async function projectNames(db: Db): Promise<{ id: string; name: string; isActive: boolean }[]> {
  return db
    .select({ id: projects.id, name: projects.name, isActive: projects.isActive })
    .from(projects)
    .orderBy(asc(projects.name))
    .limit(1000);
}

/** The busiest upstreams of the range with their errors, failed attempts and time to first byte. */
export async function upstreamsBy(db: Db, range: Range, limit = 8): Promise<UpstreamTop[]> {
  const h = upstreamHourly;
  const traffic = sql<number>`sum(${h.requests} + ${h.failedAttempts})`;
  const rows = await db
    .select({
      upstreamId: h.upstreamId,
      projectId: h.projectId,
      name: upstreams.name,
      projectName: projects.name,
      requests: sql<number>`sum(${h.requests})`,
      errors: sql<number>`sum(${h.errors})`,
      failedAttempts: sql<number>`sum(${h.failedAttempts})`,
      rateLimited: sql<number>`sum(${h.rateLimited})`,
      ttfb: sql<number>`sum(${h.ttfbMsSum})`,
      ttfbCount: sql<number>`sum(${h.ttfbCount})`,
    })
    .from(h)
    .leftJoin(upstreams, eq(upstreams.id, h.upstreamId))
    .leftJoin(projects, eq(projects.id, h.projectId))
    .where(gte(h.hour, rangeStart(range)))
    .groupBy(h.upstreamId, h.projectId)
    .orderBy(desc(traffic))
    .limit(limit);
  return rows.map((r) => ({
    upstreamId: r.upstreamId,
    projectId: r.projectId,
    name: r.name,
    projectName: r.projectName,
    requests: Number(r.requests),
    errors: Number(r.errors),
    failedAttempts: Number(r.failedAttempts),
    rateLimited: Number(r.rateLimited),
    avgTtfbMs: r.ttfbCount ? Math.round(Number(r.ttfb) / Number(r.ttfbCount)) : null,
  }));
}
