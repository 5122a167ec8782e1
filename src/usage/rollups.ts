import { and, eq, gte, lt, type SQL, sql } from "drizzle-orm";
import type { Db } from "../storage/db";
import { rejectionsHourly, usageHourly } from "../storage/schema";
import type { RejectionRow, RejectionsQuery, UsageQuery, UsageRow } from "./schema";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Without `from`, the rollups of this long before `to`. */
const DEFAULT_WINDOW_MS = 7 * DAY_MS;
/** Rows per answer; hourly rows over a year fit. */
const MAX_ROWS = 10_000;

const u = usageHourly;

/** Rollups for the management API: sums of hourly rows, filtered and grouped as asked. */
export async function queryUsage(db: Db, q: UsageQuery, now = Date.now()): Promise<UsageRow[]> {
  const to = q.to ? Date.parse(q.to) : now;
  const from = q.from ? Date.parse(q.from) : to - DEFAULT_WINDOW_MS;
  // An hour row counts when its hour starts inside [from, to), from rounded down to its hour.
  const where: SQL[] = [gte(u.hour, Math.floor(from / HOUR_MS) * HOUR_MS), lt(u.hour, to)];
  if (q.project_id) where.push(eq(u.projectId, q.project_id));
  if (q.token_id) where.push(eq(u.tokenId, q.token_id));
  if (q.model) where.push(eq(u.model, q.model));

  const key = {
    hour: u.hour,
    // Literal constants: bound JS numbers would arrive as REAL and turn this into float division.
    day: sql<number>`(${u.hour} / ${sql.raw(String(DAY_MS))}) * ${sql.raw(String(DAY_MS))}`,
    model: u.model,
    project: u.projectId,
    token: u.tokenId,
  }[q.group_by];
  const rows = await db
    .select({
      key,
      requests: sql<number>`sum(${u.requests})`,
      errors: sql<number>`sum(${u.errors})`,
      prompt: sql<number>`sum(${u.promptTokens})`,
      completion: sql<number>`sum(${u.completionTokens})`,
      cached: sql<number>`sum(${u.cachedTokens})`,
      reasoning: sql<number>`sum(${u.reasoningTokens})`,
      estimated: sql<number>`sum(${u.estimatedRequests})`,
      cost: sql<number>`sum(${u.costUsd})`,
      duration: sql<number>`sum(${u.durationMsSum})`,
      hits: sql<number>`sum(${u.cacheHits})`,
      misses: sql<number>`sum(${u.cacheMisses})`,
      saved: sql<number>`sum(${u.savedUsd})`,
    })
    .from(u)
    .where(and(...where))
    .groupBy(key)
    .orderBy(
      q.group_by === "hour" || q.group_by === "day"
        ? key
        : sql`sum(${u.costUsd}) desc, sum(${u.requests}) desc`,
    )
    .limit(MAX_ROWS);

  return rows.map((r) => {
    const row: UsageRow = {
      requests: r.requests,
      errors: r.errors,
      prompt_tokens: r.prompt,
      completion_tokens: r.completion,
      total_tokens: r.prompt + r.completion,
      cached_tokens: r.cached,
      reasoning_tokens: r.reasoning,
      estimated_requests: r.estimated,
      cost_usd: Math.round(r.cost * 1e8) / 1e8,
      avg_duration_ms: r.requests ? Math.round(r.duration / r.requests) : null,
      cache_hits: r.hits,
      cache_misses: r.misses,
      saved_usd: Math.round(r.saved * 1e8) / 1e8,
    };
    if (q.group_by === "hour") row.hour = new Date(Number(r.key)).toISOString();
    if (q.group_by === "day") row.day = new Date(Number(r.key)).toISOString().slice(0, 10);
    if (q.group_by === "model") row.model = r.key === "" ? null : String(r.key);
    if (q.group_by === "project") row.project_id = String(r.key);
    if (q.group_by === "token") row.token_id = r.key === "" ? null : String(r.key);
    return row;
  });
}

const r = rejectionsHourly;

/** Requests without a valid token, by hour, day or error code (abuse monitoring). */
export async function queryRejections(db: Db, q: RejectionsQuery, now = Date.now()): Promise<RejectionRow[]> {
  const to = q.to ? Date.parse(q.to) : now;
  const from = q.from ? Date.parse(q.from) : to - DEFAULT_WINDOW_MS;
  const where: SQL[] = [gte(r.hour, Math.floor(from / HOUR_MS) * HOUR_MS), lt(r.hour, to)];
  if (q.code) where.push(eq(r.code, q.code));
  const key = {
    hour: r.hour,
    day: sql<number>`(${r.hour} / ${sql.raw(String(DAY_MS))}) * ${sql.raw(String(DAY_MS))}`,
    code: r.code,
  }[q.group_by];
  const rows = await db
    .select({ key, count: sql<number>`sum(${r.count})` })
    .from(r)
    .where(and(...where))
    .groupBy(key)
    .orderBy(q.group_by === "code" ? sql`sum(${r.count}) desc` : key)
    .limit(MAX_ROWS);
  return rows.map((row) => {
    if (q.group_by === "code") return { code: String(row.key), count: row.count };
    const iso = new Date(Number(row.key)).toISOString();
    return q.group_by === "hour"
      ? { hour: iso, count: row.count }
      : { day: iso.slice(0, 10), count: row.count };
  });
}

/** Deletes hourly rollups (usage and rejections) older than `before`. */
export async function deleteRollupsBefore(db: Db, before: number): Promise<void> {
  await db.batch([
    db.delete(u).where(lt(u.hour, before)),
    db.delete(rejectionsHourly).where(lt(rejectionsHourly.hour, before)),
  ]);
}
