import { ALL_NEW, f, HOUR, IN_KEYS } from "./ledger-sql";
import type { RollupDelta } from "./rollup-delta";
import type { RejectionSummary } from "./unidentified";
import { UPSTREAM_ROLLUP } from "./upstream-rollups";

/**
 * D1 side of the consumer. The event ledger is the commit point: an event is counted in the rollups in the
 * same D1 transaction (one `batch`) that first inserts its ledger row, and every rollup counts only the rows
 * this attempt inserted (found by this attempt's fresh object keys), so an event redelivered in any batch,
 * or by a concurrent consumer, is never counted twice. When every event of the batch is new (the usual
 * case, checked inside the transaction), the worker's own sums (rollup-delta.ts) are added instead of
 * reading every line back; otherwise the inserted rows are summed in SQL.
 */

/**
 * ?1 this attempt's object keys, ?2 the batch's event count (-1: do not use the worker's sums), ?3 the
 * worker's sums (RollupDelta.usage). Exactly one of the two sources applies, decided in the transaction.
 */
const USAGE_ROLLUP = `
insert into usage_hourly (hour, project_id, token_id, model, requests, errors, prompt_tokens,
  completion_tokens, cached_tokens, reasoning_tokens, estimated_requests, cost_usd, duration_ms_sum,
  cache_hits, cache_misses, saved_usd)
select hour, project_id, token_id, model, sum(requests), sum(is_error), sum(pt), sum(ct), sum(cached),
  sum(reasoning), sum(estimated), sum(cost), sum(duration), sum(hit), sum(miss), sum(saved)
from (
  select value ->> 0 as hour, value ->> 1 as project_id, value ->> 2 as token_id, value ->> 3 as model,
    value ->> 4 as requests, value ->> 5 as is_error, value ->> 6 as pt, value ->> 7 as ct,
    value ->> 8 as cached, value ->> 9 as reasoning, value ->> 10 as estimated, value ->> 11 as cost,
    value ->> 12 as duration, value ->> 13 as hit, value ->> 14 as miss, value ->> 15 as saved
  from json_each(?3) where ${ALL_NEW}
  union all
  select ${HOUR} as hour,
    ${f("project_id")} as project_id,
    coalesce(${f("token_id")}, '') as token_id,
    coalesce(${f("model")}, '') as model,
    1 as requests,
    (${f("status")} >= 400 or coalesce(${f("error")}, 'client_closed') <> 'client_closed') as is_error,
    coalesce(${f("usage.prompt_tokens")}, 0) as pt,
    coalesce(${f("usage.completion_tokens")}, 0) as ct,
    coalesce(${f("usage.cached_tokens")}, 0) as cached,
    coalesce(${f("usage.reasoning_tokens")}, 0) as reasoning,
    (${f("usage_source")} = 'estimated') as estimated,
    coalesce(${f("cost_usd")}, 0) as cost,
    cast(coalesce(${f("duration_ms")}, 0) as integer) as duration,
    (coalesce(${f("cache")}, '') = 'hit') as hit,
    (coalesce(${f("cache")}, '') = 'miss') as miss,
    coalesce(${f("saved_usd")}, 0) as saved
  from event_ledger
  where ${IN_KEYS} and line is not null and ${f("project_id")} is not null and not ${ALL_NEW}
) where true
group by hour, project_id, token_id, model
on conflict (hour, project_id, token_id, model) do update set
  requests = requests + excluded.requests,
  errors = errors + excluded.errors,
  prompt_tokens = prompt_tokens + excluded.prompt_tokens,
  completion_tokens = completion_tokens + excluded.completion_tokens,
  cached_tokens = cached_tokens + excluded.cached_tokens,
  reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
  estimated_requests = estimated_requests + excluded.estimated_requests,
  cost_usd = cost_usd + excluded.cost_usd,
  duration_ms_sum = duration_ms_sum + excluded.duration_ms_sum,
  cache_hits = cache_hits + excluded.cache_hits,
  cache_misses = cache_misses + excluded.cache_misses,
  saved_usd = saved_usd + excluded.saved_usd`;

const REJECTION_UPSERT = "on conflict (hour, code) do update set count = count + excluded.count";

/** Unidentified requests that came as full events (parameters as USAGE_ROLLUP's, ?3 RollupDelta.rejections). */
const EVENT_REJECTIONS = `
insert into rejections_hourly (hour, code, count)
select hour, code, sum(n) from (
  select value ->> 0 as hour, value ->> 1 as code, value ->> 2 as n from json_each(?3) where ${ALL_NEW}
  union all
  select ${HOUR} as hour, coalesce(${f("error")}, 'http_' || ${f("status")}) as code, 1 as n
  from event_ledger where ${IN_KEYS} and line is not null and ${f("token_id")} is null
    and ${f("project_id")} is null and not ${ALL_NEW}
) where true
group by hour, code
${REJECTION_UPSERT}`;

/** Unidentified requests only counted by the producing isolate (see unidentified.ts). */
const SUMMARY_REJECTIONS = `
insert into rejections_hourly (hour, code, count)
select json_extract(r.value, '$.hour'), json_extract(r.value, '$.code'), sum(json_extract(r.value, '$.count'))
from event_ledger l, json_each(l.line, '$.rejections') r
where l.object_key = ?1 and l.line is not null
group by 1, 2
${REJECTION_UPSERT}`;

/**
 * The latest use of each token (RollupDelta.lastUsed). A maximum, so applying it again for a redelivered
 * event changes nothing: it needs no ledger check.
 */
const LAST_USED = `
update tokens set last_used_at = max(coalesce(tokens.last_used_at, 0), u.at)
from (select value ->> 0 as token_id, value ->> 1 as at from json_each(?1)) as u
where tokens.id = u.token_id`;

/** Ledger rows this attempt inserted (?1 its object keys). */
const INSERTED = `select count(*) as n from event_ledger where ${IN_KEYS}`;

/**
 * Pending lines of earlier attempts' objects that hold one of this batch's events (?1 event ids, ?2 this
 * attempt's keys): an attempt that committed but did not reach R2. Their objects are rewritten whole.
 */
const EARLIER_PENDING = `
select object_key, line from event_ledger
where line is not null and object_key in (
  select distinct object_key from event_ledger
  where event_id in (select value from json_each(?1)) and line is not null
    and object_key not in (select value from json_each(?2)))
order by rowid`;

/** Rows of one R2 object to be: its key and its JSON lines. */
export type ObjectGroup = { key: string; lines: { id: string; line: string }[] };

/** Past this many characters of lines per statement, split the insert (D1 caps statement and value sizes). */
const MAX_CHUNK_CHARS = 256 * 1024;

function chunks(lines: string[]): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const line of lines) {
    if (current.length && size + line.length > MAX_CHUNK_CHARS) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(line);
    size += line.length;
  }
  if (current.length) out.push(current);
  return out;
}

export type Committed = {
  /** Ledger rows this attempt inserted: as many as the batch's events when every one was new. */
  inserted: number;
  /** Complete content of earlier attempts' objects still pending for this batch's events, by key. */
  earlier: Map<string, string[]>;
};

/**
 * Commits an attempt in one D1 transaction: ledger rows for the ids not seen before (each with this
 * attempt's object key and its line), their rollups, the rejection counts of summaries, last_used_at; and
 * reads back what the caller must still write to R2 besides this attempt's own objects.
 */
export async function commitAttempt(
  db: D1Database,
  groups: ObjectGroup[],
  summaries: RejectionSummary[],
  attemptId: string,
  now: number,
  delta?: RollupDelta,
): Promise<Committed> {
  const statements: D1PreparedStatement[] = [];
  for (const group of groups) {
    for (const part of chunks(group.lines.map((l) => l.line))) {
      statements.push(
        db
          .prepare(
            `insert into event_ledger (event_id, object_key, line, committed_at)
             select json_extract(value, '$.id'), ?1, value, ?2 from json_each(?3) where true
             on conflict (event_id) do nothing`,
          )
          .bind(group.key, now, JSON.stringify(part)),
      );
    }
  }
  let read = -1;
  if (groups.length) {
    const keys = JSON.stringify(groups.map((g) => g.key));
    const events = groups.reduce((n, g) => n + g.lines.length, 0);
    // -1 never matches a row count: the rows are summed in SQL.
    const expected = delta?.exact ? events : -1;
    statements.push(db.prepare(USAGE_ROLLUP).bind(keys, expected, JSON.stringify(delta?.usage ?? [])));
    statements.push(db.prepare(UPSTREAM_ROLLUP).bind(keys, expected, JSON.stringify(delta?.upstream ?? [])));
    statements.push(
      db.prepare(EVENT_REJECTIONS).bind(keys, expected, JSON.stringify(delta?.rejections ?? [])),
    );
    if (delta?.lastUsed.length) statements.push(db.prepare(LAST_USED).bind(JSON.stringify(delta.lastUsed)));
    read = statements.length;
    statements.push(db.prepare(INSERTED).bind(keys));
    const ids = JSON.stringify(groups.flatMap((g) => g.lines.map((l) => l.id)));
    statements.push(db.prepare(EARLIER_PENDING).bind(ids, keys));
  }
  if (summaries.length) {
    // Summaries have no R2 object: their ledger rows only remember that they were counted.
    const key = `rejections/${attemptId}`;
    for (const s of summaries) {
      statements.push(
        db
          .prepare(
            `insert into event_ledger (event_id, object_key, line, committed_at) values (?1, ?2, ?3, ?4)
             on conflict (event_id) do nothing`,
          )
          .bind(`rejections:${s.id}`, key, JSON.stringify(s), now),
      );
    }
    statements.push(db.prepare(SUMMARY_REJECTIONS).bind(key));
    statements.push(db.prepare("update event_ledger set line = null where object_key = ?1").bind(key));
  }
  const earlier = new Map<string, string[]>();
  if (!statements.length) return { inserted: 0, earlier };
  const results = await db.batch(statements);
  if (read < 0) return { inserted: 0, earlier };
  const inserted = (results[read]?.results[0] as { n: number } | undefined)?.n ?? 0;
  for (const row of (results[read + 1]?.results ?? []) as { object_key: string; line: string }[]) {
    const lines = earlier.get(row.object_key);
    if (lines) lines.push(row.line);
    else earlier.set(row.object_key, [row.line]);
  }
  return { inserted, earlier };
}

/**
 * Where an event went: its R2 object, and its line while that is not confirmed written. Ledger rows are
 * kept LEDGER_RETENTION_MS (src/maintenance/cleanup.ts), so an event id older than that is not found here.
 */
export async function ledgerEntry(
  db: D1Database,
  eventId: string,
): Promise<{ objectKey: string; line: string | null } | null> {
  const row = await db
    .prepare("select object_key, line from event_ledger where event_id = ?1 and object_key like 'events/%'")
    .bind(eventId)
    .first<{ object_key: string; line: string | null }>();
  return row ? { objectKey: row.object_key, line: row.line } : null;
}

/** Object keys with lines pending for longer than `olderThan` (a consumer died between D1 and R2). */
export async function stalePendingKeys(db: D1Database, olderThan: number, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare(
      `select distinct object_key from event_ledger
       where line is not null and committed_at < ?1 and object_key like 'events/%' limit ?2`,
    )
    .bind(olderThan, limit)
    .all<{ object_key: string }>();
  return results.map((r) => r.object_key);
}

/** Every pending line of an object, in commit order: the object's full content. */
export async function pendingLines(db: D1Database, key: string): Promise<string[]> {
  const { results } = await db
    .prepare("select line from event_ledger where object_key = ?1 and line is not null order by rowid")
    .bind(key)
    .all<{ line: string }>();
  return results.map((r) => r.line);
}

/** Marks objects as written: their lines are no longer needed. */
export async function clearLines(db: D1Database, keys: string[]): Promise<void> {
  if (!keys.length) return;
  await db
    .prepare("update event_ledger set line = null where object_key in (select value from json_each(?1))")
    .bind(JSON.stringify(keys))
    .run();
}

/** Forgets ledger rows older than `before` whose objects are written (redelivery is long over by then). */
export async function deleteLedgerBefore(db: D1Database, before: number): Promise<number> {
  const res = await db
    .prepare("delete from event_ledger where committed_at < ?1 and line is null")
    .bind(before)
    .run();
  return res.meta.changes ?? 0;
}
