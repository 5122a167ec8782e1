import type { RejectionSummary } from "./unidentified";

/**
 * D1 side of the consumer. The event ledger is the commit point: an event is counted in the rollups in the
 * same D1 transaction (one `batch`) that first inserts its ledger row, and every rollup is computed from the
 * rows this attempt inserted (found by this attempt's fresh object keys), so an event redelivered in any
 * batch, or by a concurrent consumer, is never counted twice.
 */

/** Gateway refusals: the token did not get to use the upstream, so they do not touch `last_used_at`. */
const REFUSALS = [
  "invalid_token",
  "token_not_found",
  "token_expired",
  "token_inactive",
  "project_inactive",
  "model_not_allowed",
  "origin_not_allowed",
  "endpoint_not_found",
  "method_not_allowed",
  "request_too_large",
  "rate_limit_exceeded",
  "quota_exceeded",
];

/*
 * An error, in the rollups and the events API: status >= 400 or an error code — except `client_closed`
 * (the client left a stream that was going fine: its choice, not a failure).
 */

/** JSON fields of a ledger line, as SQL expressions. */
const f = (path: string) => `json_extract(line, '$.${path}')`;
const HOUR = `(cast(unixepoch(${f("timestamp")}) as integer) / 3600) * 3600000`;
const IN_KEYS = "object_key in (select value from json_each(?1))";

const USAGE_ROLLUP = `
insert into usage_hourly (hour, project_id, token_id, model, requests, errors, prompt_tokens,
  completion_tokens, cached_tokens, reasoning_tokens, estimated_requests, cost_usd, duration_ms_sum)
select hour, project_id, token_id, model, count(*), sum(is_error), sum(pt), sum(ct), sum(cached),
  sum(reasoning), sum(estimated), sum(cost), sum(duration)
from (
  select ${HOUR} as hour,
    ${f("project_id")} as project_id,
    coalesce(${f("token_id")}, '') as token_id,
    coalesce(${f("model")}, '') as model,
    (${f("status")} >= 400 or coalesce(${f("error")}, 'client_closed') <> 'client_closed') as is_error,
    coalesce(${f("usage.prompt_tokens")}, 0) as pt,
    coalesce(${f("usage.completion_tokens")}, 0) as ct,
    coalesce(${f("usage.cached_tokens")}, 0) as cached,
    coalesce(${f("usage.reasoning_tokens")}, 0) as reasoning,
    (${f("usage_source")} = 'estimated') as estimated,
    coalesce(${f("cost_usd")}, 0) as cost,
    cast(coalesce(${f("duration_ms")}, 0) as integer) as duration
  from event_ledger
  where ${IN_KEYS} and line is not null and ${f("project_id")} is not null
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
  duration_ms_sum = duration_ms_sum + excluded.duration_ms_sum`;

const REJECTION_UPSERT = "on conflict (hour, code) do update set count = count + excluded.count";

/** Unidentified requests that came as full events. */
const EVENT_REJECTIONS = `
insert into rejections_hourly (hour, code, count)
select hour, code, count(*) from (
  select ${HOUR} as hour, coalesce(${f("error")}, 'http_' || ${f("status")}) as code
  from event_ledger where ${IN_KEYS} and line is not null and ${f("token_id")} is null
    and ${f("project_id")} is null
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

const LAST_USED = `
update tokens set last_used_at = max(coalesce(tokens.last_used_at, 0), u.at)
from (
  select ${f("token_id")} as token_id, max(cast(unixepoch(${f("timestamp")}, 'subsec') * 1000 as integer)) as at
  from event_ledger
  where ${IN_KEYS} and line is not null and ${f("token_id")} is not null
    and coalesce(${f("error")}, '') not in (select value from json_each(?2))
  group by 1
) as u
where tokens.id = u.token_id`;

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

/**
 * Commits an attempt in one D1 transaction: ledger rows for the ids not seen before (each with this
 * attempt's object key and its line), their rollups, the rejection counts of summaries, last_used_at.
 */
export async function commitAttempt(
  db: D1Database,
  groups: ObjectGroup[],
  summaries: RejectionSummary[],
  attemptId: string,
  now: number,
): Promise<void> {
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
  if (groups.length) {
    const keys = JSON.stringify(groups.map((g) => g.key));
    statements.push(db.prepare(USAGE_ROLLUP).bind(keys));
    statements.push(db.prepare(EVENT_REJECTIONS).bind(keys));
    statements.push(db.prepare(LAST_USED).bind(keys, JSON.stringify(REFUSALS)));
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
  if (statements.length) await db.batch(statements);
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

/** Object keys that still have lines not confirmed in R2, among the given event ids. */
export async function pendingKeysOf(db: D1Database, eventIds: string[]): Promise<string[]> {
  if (!eventIds.length) return [];
  const { results } = await db
    .prepare(
      `select distinct object_key from event_ledger
       where event_id in (select value from json_each(?1)) and line is not null`,
    )
    .bind(JSON.stringify(eventIds))
    .all<{ object_key: string }>();
  return results.map((r) => r.object_key);
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
