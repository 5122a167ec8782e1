import { z } from "zod";
import { decodeCursor, encodeCursor } from "../lib/cursor";
import type { UsageEvent } from "./event";
import { ledgerEntry } from "./event-ledger";
import type { EventsQuery } from "./schema";

/**
 * Reads recent events back from the R2 log, newest first: date and hour partitions newest first, the
 * objects of an hour newest first (batch ids start with the write time), the lines of an object by
 * timestamp, newest first. Bounded work per call: at most MAX_OBJECTS objects read; when the budget runs
 * out before `limit` events matched, the page is shorter and `next_cursor` continues where it stopped.
 */

const MAX_OBJECTS = 40;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Without `from`, look back this far. */
const DEFAULT_WINDOW_MS = 7 * DAY_MS;

const EventsCursor = z.object({ k: z.string().startsWith("events/"), i: z.number().int().nonnegative() });

/** Prefixes one level below `prefix` (`dt=…/` or `hour=…/`), all pages. */
async function childPrefixes(bucket: R2Bucket, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, delimiter: "/", cursor });
    out.push(...page.delimitedPrefixes);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return out;
}

async function objectKeys(bucket: R2Bucket, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, cursor });
    out.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return out;
}

/** Start of the hour a partition prefix `events/dt=YYYY-MM-DD/hour=HH/` stands for. */
function partitionStart(prefix: string): number {
  const m = /dt=(\d{4}-\d{2}-\d{2})\/(?:hour=(\d{2})\/)?$/.exec(prefix);
  if (!m) return Number.NaN;
  return Date.parse(`${m[1]}T${m[2] ?? "00"}:00:00Z`);
}

/** Object keys in the time range, newest first, from `startKey` (inclusive) on. */
async function* keysNewestFirst(bucket: R2Bucket, from: number, to: number, startKey?: string) {
  const days = (await childPrefixes(bucket, "events/"))
    .filter((d) => {
      const start = partitionStart(d);
      return start + DAY_MS > from && start < to;
    })
    .sort()
    .reverse();
  for (const day of days) {
    if (startKey && day > startKey) continue;
    const hours = (await childPrefixes(bucket, day))
      .filter((h) => {
        const start = partitionStart(h);
        return start + HOUR_MS > from && start < to;
      })
      .sort()
      .reverse();
    for (const hour of hours) {
      if (startKey && hour > startKey) continue;
      const keys = (await objectKeys(bucket, hour)).sort().reverse();
      for (const key of keys) if (!startKey || key <= startKey) yield key;
    }
  }
}

/** Same rule as the rollups' `errors` (event-ledger.ts): a client leaving a stream is not an error. */
const isError = (e: UsageEvent) => e.status >= 400 || (e.error !== null && e.error !== "client_closed");

function statusMatches(e: UsageEvent, status: string | undefined): boolean {
  if (!status) return true;
  if (status === "ok") return !isError(e);
  if (status === "error") return isError(e);
  if (status.endsWith("xx")) return Math.floor(e.status / 100) === Number(status[0]);
  return e.status === Number(status);
}

/** The API's filters, plus a set of token ids (the admin pages' search by a token's name or hint). */
export type EventFilter = EventsQuery & { token_ids?: readonly string[] };

function matches(e: UsageEvent, q: EventFilter, from: number, to: number): boolean {
  const t = Date.parse(e.timestamp);
  return (
    t >= from &&
    t < to &&
    (!q.request_id || e.id === q.request_id) &&
    (!q.project_id || e.project_id === q.project_id) &&
    (!q.token_id || e.token_id === q.token_id) &&
    (!q.token_ids || (e.token_id !== null && q.token_ids.includes(e.token_id))) &&
    (!q.model || e.model === q.model) &&
    statusMatches(e, q.status)
  );
}

/** The events of an object; a torn or foreign line is skipped, never hides the rest of the log. */
function parseLines(text: string): UsageEvent[] {
  const out: UsageEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as UsageEvent;
      if (e && typeof e.id === "string" && typeof e.timestamp === "string") out.push(e);
    } catch {
      // skipped
    }
  }
  return out;
}

export type EventPage = { data: UsageEvent[]; next_cursor: string | null };

/** Where the request log lives: the R2 bucket, and D1 for the event ledger (which object holds an id). */
export type EventStores = { EVENTS_BUCKET: R2Bucket; DB: D1Database };

/**
 * One event by its id — the `x-request-id` the client saw — without a scan: the event ledger names its
 * R2 object (or still holds its line, when the object is not written yet). Null when the ledger no longer
 * knows the id (older than its retention) or the event is not in the log yet.
 */
export async function findEvent(stores: EventStores, id: string): Promise<UsageEvent | null> {
  const entry = await ledgerEntry(stores.DB, id);
  if (!entry) return null;
  const text = entry.line ?? (await (await stores.EVENTS_BUCKET.get(entry.objectKey))?.text()) ?? "";
  return parseLines(text).find((e) => e.id === id) ?? null;
}

export async function listEvents(stores: EventStores, q: EventFilter, now = Date.now()): Promise<EventPage> {
  const bucket = stores.EVENTS_BUCKET;
  const to = q.to ? Date.parse(q.to) : now + 1;
  const from = q.from ? Date.parse(q.from) : to - DEFAULT_WINDOW_MS;
  if (q.request_id && !q.cursor) {
    const found = await findEvent(stores, q.request_id);
    if (found) return { data: matches(found, q, from, to) ? [found] : [], next_cursor: null };
    // Not in the ledger (older than its retention): the bounded scan below looks for it like any filter.
  }
  const cursor = decodeCursor(q.cursor, EventsCursor);
  const data: UsageEvent[] = [];
  let read = 0;
  for await (const key of keysNewestFirst(bucket, from, to, cursor?.k)) {
    if (read === MAX_OBJECTS) return { data, next_cursor: encodeCursor({ k: key, i: 0 }) };
    read++;
    const text = (await (await bucket.get(key))?.text()) ?? "";
    const lines = parseLines(text).sort(
      (a, b) => b.timestamp.localeCompare(a.timestamp) || b.id.localeCompare(a.id),
    );
    const skip = cursor && key === cursor.k ? cursor.i : 0;
    for (let i = skip; i < lines.length; i++) {
      if (!matches(lines[i]!, q, from, to)) continue;
      data.push(lines[i]!);
      // A full page may end exactly at the last event: the next page is then empty.
      if (data.length === q.limit) return { data, next_cursor: encodeCursor({ k: key, i: i + 1 }) };
    }
  }
  return { data, next_cursor: null };
}
