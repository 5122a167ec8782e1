import { and, eq, gte, sql } from "drizzle-orm";
import type { Db } from "../storage/db";
import { upstreamHourly } from "../storage/schema";
import { f, HOUR, IN_KEYS } from "./ledger-sql";

// Per-upstream and per-key health from the request log, in the consumer's commit transaction (like the
// usage rollups, and just as idempotent: computed from the ledger rows this attempt inserted).

const UPSERT = `on conflict (hour, project_id, upstream_id, key_id) do update set
  requests = requests + excluded.requests,
  errors = errors + excluded.errors,
  rate_limited = rate_limited + excluded.rate_limited,
  failed_attempts = failed_attempts + excluded.failed_attempts,
  ttfb_ms_sum = ttfb_ms_sum + excluded.ttfb_ms_sum,
  ttfb_count = ttfb_count + excluded.ttfb_count,
  duration_ms_sum = duration_ms_sum + excluded.duration_ms_sum`;

/** The attempt that answered each request (or failed last). */
const SERVED = `
insert into upstream_hourly (hour, project_id, upstream_id, key_id, requests, errors, rate_limited,
  failed_attempts, ttfb_ms_sum, ttfb_count, duration_ms_sum)
select hour, project_id, upstream_id, key_id, count(*), sum(is_error), sum(limited), 0, sum(ttfb),
  sum(has_ttfb), sum(duration)
from (
  select ${HOUR} as hour,
    ${f("project_id")} as project_id,
    ${f("upstream_id")} as upstream_id,
    coalesce(${f("key_id")}, '') as key_id,
    coalesce(${f("status")} >= 500 or coalesce(${f("error")}, '') in ('upstream_error', 'upstream_timeout'), 0)
      as is_error,
    coalesce(${f("status")} = 429, 0) as limited,
    cast(coalesce(${f("ttfb_ms")}, 0) as integer) as ttfb,
    (${f("ttfb_ms")} is not null) as has_ttfb,
    cast(coalesce(${f("duration_ms")}, 0) as integer) as duration
  from event_ledger
  where ${IN_KEYS} and line is not null and ${f("project_id")} is not null and ${f("upstream_id")} is not null
) where true
group by hour, project_id, upstream_id, key_id
${UPSERT}`;

/** Attempts that failed before another key or target answered. */
const FAILED = `
insert into upstream_hourly (hour, project_id, upstream_id, key_id, requests, errors, rate_limited,
  failed_attempts, ttfb_ms_sum, ttfb_count, duration_ms_sum)
select hour, project_id, upstream_id, key_id, 0, 0, sum(limited), count(*), 0, 0, 0
from (
  select ${HOUR} as hour,
    ${f("project_id")} as project_id,
    json_extract(a.value, '$.upstream_id') as upstream_id,
    coalesce(json_extract(a.value, '$.key_id'), '') as key_id,
    coalesce(json_extract(a.value, '$.status') = 429, 0) as limited
  from event_ledger, json_each(event_ledger.line, '$.attempt_errors') a
  where ${IN_KEYS} and line is not null and ${f("project_id")} is not null
    and json_extract(a.value, '$.upstream_id') is not null
) where true
group by hour, project_id, upstream_id, key_id
${UPSERT}`;

export const UPSTREAM_ROLLUPS = [SERVED, FAILED];

export type HealthCounts = {
  requests: number;
  errors: number;
  rate_limited: number;
  failed_attempts: number;
  avg_ttfb_ms: number | null;
  avg_duration_ms: number | null;
};

const h = upstreamHourly;

/** An upstream's counts since `from` (rounded down to its hour), per key (`""` = no key). */
export async function upstreamHealthCounts(
  db: Db,
  upstreamId: string,
  from: number,
): Promise<Map<string, HealthCounts>> {
  const hour = Math.floor(from / 3_600_000) * 3_600_000;
  const rows = await db
    .select({
      keyId: h.keyId,
      requests: sql<number>`sum(${h.requests})`,
      errors: sql<number>`sum(${h.errors})`,
      rateLimited: sql<number>`sum(${h.rateLimited})`,
      failedAttempts: sql<number>`sum(${h.failedAttempts})`,
      ttfb: sql<number>`sum(${h.ttfbMsSum})`,
      ttfbCount: sql<number>`sum(${h.ttfbCount})`,
      duration: sql<number>`sum(${h.durationMsSum})`,
    })
    .from(h)
    .where(and(eq(h.upstreamId, upstreamId), gte(h.hour, hour)))
    .groupBy(h.keyId);
  return new Map(
    rows.map((r) => [
      r.keyId,
      {
        requests: r.requests,
        errors: r.errors,
        rate_limited: r.rateLimited,
        failed_attempts: r.failedAttempts,
        avg_ttfb_ms: r.ttfbCount ? Math.round(r.ttfb / r.ttfbCount) : null,
        avg_duration_ms: r.requests ? Math.round(r.duration / r.requests) : null,
      },
    ]),
  );
}

/** Sums of several keys' counts (averages weighted by their requests). */
export function sumCounts(counts: Iterable<HealthCounts>): HealthCounts {
  let requests = 0;
  let errors = 0;
  let rateLimited = 0;
  let failed = 0;
  let ttfb = 0;
  let ttfbN = 0;
  let duration = 0;
  for (const c of counts) {
    requests += c.requests;
    errors += c.errors;
    rateLimited += c.rate_limited;
    failed += c.failed_attempts;
    if (c.avg_ttfb_ms !== null) {
      ttfb += c.avg_ttfb_ms * c.requests;
      ttfbN += c.requests;
    }
    if (c.avg_duration_ms !== null) duration += c.avg_duration_ms * c.requests;
  }
  return {
    requests,
    errors,
    rate_limited: rateLimited,
    failed_attempts: failed,
    avg_ttfb_ms: ttfbN ? Math.round(ttfb / ttfbN) : null,
    avg_duration_ms: requests ? Math.round(duration / requests) : null,
  };
}
