import { sha256Hex } from "../lib/crypto";
import type { UsageEvent as UsageEventType } from "./event";
import { clearLines, commitAttempt, type ObjectGroup, pendingKeysOf, pendingLines } from "./event-ledger";
import { RejectionSummary, UsageEvent } from "./schema";
import type { RejectionSummary as Summary } from "./unidentified";

/**
 * The usage queue consumer. Per batch: (1) commit the events new to the ledger and their rollups in one
 * D1 transaction, each assigned to an R2 object key of this attempt; (2) write every object that still
 * has pending lines for the batch's events, rebuilt from the ledger, so an object is always complete
 * whatever batch a retry arrives in; (3) clear the written lines. A failure anywhere throws and the batch
 * is retried: step 1 skips what is already committed, step 2 rewrites the same objects with the same
 * content. No duplicate lines, no double counts.
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

type Sorted = { events: UsageEventType[]; summaries: Summary[]; invalid: QueuedMessage[] };

function sortMessages(messages: readonly QueuedMessage[]): Sorted {
  const out: Sorted = { events: [], summaries: [], invalid: [] };
  const seen = new Set<string>();
  for (const m of messages) {
    const summary = RejectionSummary.safeParse(m.body);
    if (summary.success) {
      if (!seen.has(`r:${summary.data.id}`)) out.summaries.push(summary.data);
      seen.add(`r:${summary.data.id}`);
      continue;
    }
    const event = UsageEvent.safeParse(m.body);
    if (!event.success) {
      out.invalid.push(m);
      continue;
    }
    if (seen.has(event.data.id)) continue;
    seen.add(event.data.id);
    // One timestamp format in the log, whatever the producer sent (DuckDB and SQLite read it alike).
    out.events.push({ ...event.data, timestamp: new Date(event.data.timestamp).toISOString() });
  }
  return out;
}

/** Writes the given objects from their pending ledger lines, then marks them written. */
export async function flushObjects(env: Env, keys: string[]): Promise<string[]> {
  const written: string[] = [];
  await Promise.all(
    keys.map(async (key) => {
      const lines = await pendingLines(env.DB, key);
      if (!lines.length) return;
      await env.EVENTS_BUCKET.put(key, `${lines.join("\n")}\n`, JSONL);
      written.push(key);
    }),
  );
  await clearLines(env.DB, written);
  return written.sort();
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
  const { events, summaries, invalid } = sortMessages(messages);
  const attemptId = newAttemptId(now);
  const byKey = new Map<string, ObjectGroup>();
  for (const e of events) {
    const key = `${partitionOf(Date.parse(e.timestamp))}${attemptId}.jsonl`;
    const group = byKey.get(key) ?? { key, lines: [] };
    group.lines.push({ id: e.id, line: JSON.stringify(e) });
    byKey.set(key, group);
  }
  // Messages that are not events are kept, never retried.
  if (invalid.length) await archiveRaw(env, invalid, "dead-letter/invalid", now);
  await commitAttempt(env.DB, [...byKey.values()], summaries, attemptId, now);
  const pending = await pendingKeysOf(
    env.DB,
    events.map((e) => e.id),
  );
  const written = await flushObjects(env, pending);
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
