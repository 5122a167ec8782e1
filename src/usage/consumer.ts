import { sha256Hex } from "../lib/crypto";
import { clearLines, commitAttempt, type ObjectGroup, pendingLines } from "./event-ledger";
import { HOUR_MS, rollupDelta, type Timed } from "./rollup-delta";
import { RejectionSummary, UsageEvent } from "./schema";
import type { RejectionSummary as Summary } from "./unidentified";

/**
 * The usage queue consumer. Per batch: (1) commit the events new to the ledger and their rollups in one
 * D1 transaction, each assigned to an R2 object key of this attempt; (2) write every object that still
 * has pending lines for the batch's events — this attempt's from the lines in hand when every event was
 * new, else rebuilt from the ledger, and earlier attempts' rebuilt from the ledger — so an object is
 * always complete whatever batch a retry arrives in; (3) clear the written lines. A failure anywhere
 * throws and the batch is retried: step 1 skips what is already committed, step 2 rewrites the same
 * objects with the same content. No duplicate lines, no double counts. Two D1 calls per batch.
 */

export type QueuedMessage = Pick<Message<unknown>, "id" | "body" | "attempts">;

export type BatchResult = {
  /** Events committed by this attempt or found already committed. */
  events: number;
  /** Objects written to R2 by this attempt. */
  written: string[];
  summaries: number;
  /** Messages that were not events: kept under dead-letter/invalid/, never retried. */
  invalid: number;
};

const JSONL = { httpMetadata: { contentType: "application/x-ndjson" } };

export const pad = (n: number) => String(n).padStart(2, "0");

/** `events/dt=YYYY-MM-DD/hour=HH/` of an instant, in UTC. */
export function partitionOf(ms: number, root = "events"): string {
  const d = new Date(ms);
  return `${root}/dt=${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}/hour=${pad(d.getUTCHours())}/`;
}

/** Batch ids sort by time, so a listing of an hour's objects is in write order. */
function newAttemptId(now: number): string {
  const rand = crypto.getRandomValues(new Uint8Array(6));
  return `${String(now).padStart(13, "0")}-${[...rand].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

type Sorted = { events: Timed[]; summaries: Summary[]; invalid: QueuedMessage[] };

/**
 * Each body of a packed message (batcher.ts) as a message of its own, named after the message and its
 * place in it (for the dead-letter archive); other messages as they are.
 */
function unpacked(messages: readonly QueuedMessage[]): QueuedMessage[] {
  const out: QueuedMessage[] = [];
  for (const m of messages) {
    const body = m.body as { kind?: unknown; bodies?: unknown } | null;
    if (typeof body === "object" && body !== null && body.kind === "packed" && Array.isArray(body.bodies)) {
      body.bodies.forEach((b: unknown, i) => {
        out.push({ id: `${m.id}/${i}`, body: b, attempts: m.attempts });
      });
    } else out.push(m);
  }
  return out;
}

/**
 * Events handled between two yields to the event loop. Packed messages make a batch thousands of events;
 * the consumer may share its isolate with requests, whose streamed chunks must not wait for all of them
 * to be checked and serialised (a few ms of work per slice).
 */
const SLICE = 200;
const yieldToRequests = () => new Promise((resolve) => setTimeout(resolve, 0));

async function sortMessages(messages: readonly QueuedMessage[]): Promise<Sorted> {
  const out: Sorted = { events: [], summaries: [], invalid: [] };
  const seen = new Set<string>();
  let n = 0;
  for (const m of unpacked(messages)) {
    if (++n % SLICE === 0) await yieldToRequests();
    const body = m.body as { kind?: unknown } | null;
    if (typeof body === "object" && body !== null && body.kind === "rejections") {
      const summary = RejectionSummary.safeParse(body);
      if (!summary.success) out.invalid.push(m);
      else if (!seen.has(`r:${summary.data.id}`)) {
        seen.add(`r:${summary.data.id}`);
        out.summaries.push(summary.data);
      }
      continue;
    }
    const event = UsageEvent.safeParse(body);
    if (!event.success) {
      out.invalid.push(m);
      continue;
    }
    const e = event.data;
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    // One timestamp format in the log, whatever the producer sent (DuckDB and SQLite read it alike). The
    // parse made `e` a copy of the message: it is ours to change.
    const at = Date.parse(e.timestamp);
    e.timestamp = new Date(at).toISOString();
    out.events.push({ event: e, at });
  }
  return out;
}

/** Puts each object (key → its lines), all at once; the keys written, sorted. */
async function writeObjects(env: Env, objects: Map<string, string[]>): Promise<string[]> {
  await Promise.all(
    [...objects].map(([key, lines]) => env.EVENTS_BUCKET.put(key, `${lines.join("\n")}\n`, JSONL)),
  );
  return [...objects.keys()].sort();
}

/** Writes the given objects from their pending ledger lines, then marks them written (the cron's flush). */
export async function flushObjects(env: Env, keys: string[]): Promise<string[]> {
  const objects = new Map<string, string[]>();
  await Promise.all(
    keys.map(async (key) => {
      const lines = await pendingLines(env.DB, key);
      if (lines.length) objects.set(key, lines);
    }),
  );
  const written = await writeObjects(env, objects);
  await clearLines(env.DB, written);
  return written;
}

/**
 * Keeps messages raw in R2 under `root/dt=…/hour=…/`, where someone can look at them, under a key named by
 * their ids so a retry rewrites the same object. Returns the key.
 */
async function archiveRaw(
  env: Env,
  messages: readonly QueuedMessage[],
  root: string,
  now: number,
): Promise<string> {
  const ids = messages.map((m) => m.id).sort();
  const key = `${partitionOf(now, root)}${(await sha256Hex(ids.join(","))).slice(0, 32)}.jsonl`;
  const lines = messages.map((m) => JSON.stringify({ message_id: m.id, attempts: m.attempts, body: m.body }));
  await env.EVENTS_BUCKET.put(key, `${lines.join("\n")}\n`, JSONL);
  return key;
}

/** Processes one batch of usage messages; throws when the batch must be retried (nothing is lost or doubled). */
export async function processBatch(
  messages: readonly QueuedMessage[],
  env: Env,
  now = Date.now(),
): Promise<BatchResult> {
  const { events, summaries, invalid } = await sortMessages(messages);
  const attemptId = newAttemptId(now);
  const byKey = new Map<string, ObjectGroup>();
  // One key per hour partition: most batches fall in one hour, so the key is built once or twice.
  const keyOfHour = new Map<number, string>();
  let n = 0;
  for (const { event: e, at } of events) {
    if (++n % SLICE === 0) await yieldToRequests();
    const hour = Math.floor(at / HOUR_MS);
    let key = keyOfHour.get(hour);
    if (key === undefined) {
      key = `${partitionOf(at)}${attemptId}.jsonl`;
      keyOfHour.set(hour, key);
    }
    const group = byKey.get(key) ?? { key, lines: [] };
    group.lines.push({ id: e.id, line: JSON.stringify(e) });
    byKey.set(key, group);
  }
  // Messages that are not events are kept, never retried.
  if (invalid.length) await archiveRaw(env, invalid, "dead-letter/invalid", now);
  const groups = [...byKey.values()];
  const { inserted, earlier } = await commitAttempt(
    env.DB,
    groups,
    summaries,
    attemptId,
    now,
    rollupDelta(events),
  );
  // This attempt's objects: every line in hand when every event was new (the usual case); otherwise
  // only the rows it inserted, read back (the others are already in earlier attempts' objects).
  const objects = new Map<string, string[]>(earlier);
  for (const g of groups) {
    const lines = inserted === events.length ? g.lines.map((l) => l.line) : await pendingLines(env.DB, g.key);
    if (lines.length) objects.set(g.key, lines);
  }
  const written = await writeObjects(env, objects);
  await clearLines(env.DB, written);
  return { events: events.length, written, summaries: summaries.length, invalid: invalid.length };
}

/** Exponential backoff for a retried message: 10 s, 20 s, 40 s … capped at 10 minutes. */
export const retryDelaySeconds = (attempts: number) => Math.min(600, 10 * 2 ** Math.max(0, attempts - 1));

/** Dead letters: archive them raw under dead-letter/, then try once more to log them; never lose them. */
export async function processDeadLetters(
  messages: readonly QueuedMessage[],
  env: Env,
  now = Date.now(),
): Promise<void> {
  if (!messages.length) return;
  const key = await archiveRaw(env, messages, "dead-letter", now);
  try {
    await processBatch(messages, env, now);
  } catch (err) {
    // Archived above; the cron flush and an operator replay can still bring them into the log.
    console.error("dead letters archived but not logged", key, err);
  }
}

/** The queue handler: a thin loop over processBatch / processDeadLetters with per-message backoff. */
export async function consumeUsageBatch(
  batch: MessageBatch<unknown>,
  env: Env,
  _ctx?: ExecutionContext,
): Promise<void> {
  if (batch.messages.length === 0) return;
  try {
    if (batch.queue.endsWith("-dlq")) await processDeadLetters(batch.messages, env);
    else await processBatch(batch.messages, env);
    batch.ackAll();
  } catch (err) {
    console.error("usage batch failed; retrying", batch.queue, batch.messages.length, err);
    for (const m of batch.messages) m.retry({ delaySeconds: retryDelaySeconds(m.attempts) });
  }
}
