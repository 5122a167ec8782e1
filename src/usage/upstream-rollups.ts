import { and, eq, gte, sql } from "drizzle-orm";
import type { Db } from "../storage/db";
import { upstreamHourly } from "../storage/schema";
import type { UsageEvent } from "./event";
import { ALL_NEW, f, HOUR, IN_KEYS } from "./ledger-sql";

// Per-upstream and per-key health from the request log, in the consumer's commit transaction, like the usage
// rollups and just as idempotent: when every event of the batch is new, the worker's own sums
// (`upstreamDelta`, in RollupDelta.upstream) are added; otherwise the ledger rows this attempt inserted are
// summed in SQL (the same definitions, held together by the tests). Parameters as event-ledger.ts's
// USAGE_ROLLUP: ?1 the attempt's object keys, ?2 the batch's event count (-1: sum in SQL), ?3 the delta.

/** Row layout: [hour, project_id, upstream_id, key_id ('' = none), requests, errors, rate_limited,
 * failed_attempts, ttfb_ms_sum, ttfb_count, duration_ms_sum]. */
export type UpstreamRow = [string | number, ...(string | number)[]];

const LEDGER_ROWS = `
  select ${HOUR} as hour, ${f("project_id")} as project_id, ${f("upstream_id")} as upstream_id,
    coalesce(${f("key_id")}, '') as key_id, 1 as requests,
    coalesce(${f("status")} >= 500 or coalesce(${f("error")}, '') in ('upstream_error', 'upstream_timeout'), 0) as errors,
    coalesce(${f("status")} = 429, 0) as rate_limited, 0 as failed,
    cast(coalesce(${f("ttfb_ms")}, 0) as integer) as ttfb, (${f("ttfb_ms")} is not null) as ttfb_n,
    cast(coalesce(${f("duration_ms")}, 0) as integer) as duration
  from event_ledger
  where ${IN_KEYS} and line is not null and ${f("project_id")} is not null and ${f("upstream_id")} is not null
    and not ${ALL_NEW}
  union all
  select ${HOUR}, ${f("project_id")}, json_extract(a.value, '$.upstream_id'),
    coalesce(json_extract(a.value, '$.key_id'), ''), 0, 0,
    coalesce(json_extract(a.value, '$.status') = 429, 0), 1, 0, 0, 0
  from event_ledger, json_each(event_ledger.line, '$.attempt_errors') a
  where ${IN_KEYS} and line is not null and ${f("project_id")} is not null
    and json_extract(a.value, '$.upstream_id') is not null and not ${ALL_NEW}`;

export const UPSTREAM_ROLLUP = `
insert into upstream_hourly (hour, project_id, upstream_id, key_id, requests, errors, rate_limited,
  failed_attempts, ttfb_ms_sum, ttfb_count, duration_ms_sum)
select hour, project_id, upstream_id, key_id, sum(requests), sum(errors), sum(rate_limited), sum(failed),
  sum(ttfb), sum(ttfb_n), sum(duration)
from (
  select value ->> 0 as hour, value ->> 1 as project_id, value ->> 2 as upstream_id, value ->> 3 as key_id,
    value ->> 4 as requests, value ->> 5 as errors, value ->> 6 as rate_limited, value ->> 7 as failed,
    value ->> 8 as ttfb, value ->> 9 as ttfb_n, value ->> 10 as duration
  from json_each(?3) where ${ALL_NEW}
  union all
  ${LEDGER_ROWS}
) where true
group by hour, project_id, upstream_id, key_id
on conflict (hour, project_id, upstream_id, key_id) do update set
  requests = requests + excluded.requests,
  errors = errors + excluded.errors,
  rate_limited = rate_limited + excluded.rate_limited,
  failed_attempts = failed_attempts + excluded.failed_attempts,
  ttfb_ms_sum = ttfb_ms_sum + excluded.ttfb_ms_sum,
  ttfb_count = ttfb_count + excluded.ttfb_count,
  duration_ms_sum = duration_ms_sum + excluded.duration_ms_sum`;

/** What a batch of events adds to `upstream_hourly`, summed in the worker (rows as UPSTREAM_ROLLUP reads them). */
export function upstreamDelta(events: readonly { event: UsageEvent; hour: number }[]): UpstreamRow[] {
  const rows = new Map<string, number[] & (string | number)[]>();
  const row = (hour: number, project: string, upstream: string, key: string) => {
    const id = `${hour}\n${project}\n${upstream}\n${key}`;
    let r = rows.get(id);
    if (!r) {
      r = [hour, project, upstream, key, 0, 0, 0, 0, 0, 0, 0] as never;
      rows.set(id, r!);
    }
    return r! as unknown as number[];
  };
  for (const { event: e, hour } of events) {
    if (e.project_id === null) continue;
    if (e.upstream_id) {
      const r = row(hour, e.project_id, e.upstream_id, e.key_id ?? "");
      r[4]! += 1;
      if (e.status >= 500 || e.error === "upstream_error" || e.error === "upstream_timeout") r[5]! += 1;
      if (e.status === 429) r[6]! += 1;
      if (e.ttfb_ms !== null) {
        r[8]! += Math.trunc(e.ttfb_ms);
        r[9]! += 1;
      }
      r[10]! += Math.trunc(e.duration_ms);
    }
    for (const a of e.attempt_errors ?? []) {
      const r = row(hour, e.project_id, a.upstream_id, a.key_id ?? "");
      if (a.status === 429) r[6]! += 1;
      r[7]! += 1;
    }
  }
  return [...rows.values()] as unknown as UpstreamRow[];
}

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
