import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { batcherFor, MAX_MESSAGE_CHARS, type Packed, QueueBatcher } from "../src/usage/batcher";
import type { UsageEvent } from "../src/usage/event";
import { recordRequest } from "../src/usage/record";
import { draft, event, logLines } from "./usage-fixtures";

/** How many times each id appears in the R2 log, polled until all of `ids` are there or time runs out. */
async function countLines(ids: Set<string>, timeoutMs: number): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = new Map<string, number>();
    for (const { id } of await logLines()) if (ids.has(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
    if (counts.size >= ids.size || Date.now() > deadline) return counts;
    await new Promise((r) => setTimeout(r, 250));
  }
}

afterEach(() => vi.restoreAllMocks());

type SentBatch = Iterable<MessageSendRequest<unknown>>;

/** Bodies per sendBatch call: a flush's bodies travel packed, several to a message. */
const bodiesPerCall = (calls: [SentBatch, ...unknown[]][]) =>
  calls.map(([messages]) => [...messages].flatMap((m) => (m.body as Packed<unknown>).bodies).length);

describe("usage queue batcher", () => {
  it("250 concurrent requests: 3 sendBatch calls, every event in R2 exactly once", {
    timeout: 30_000,
  }, async () => {
    const sendBatch = vi.spyOn(env.USAGE_QUEUE, "sendBatch");
    const send = vi.spyOn(env.USAGE_QUEUE, "send");
    const drafts = Array.from({ length: 250 }, () => draft());
    const ctxs = drafts.map((d) => {
      const ctx = createExecutionContext();
      recordRequest(env, ctx, d);
      return ctx;
    });
    await Promise.all(ctxs.map((ctx) => waitOnExecutionContext(ctx)));
    expect(send).not.toHaveBeenCalled();
    // 100 (filled), 100 (filled), 50 (after the delay, by the request that opened the third buffer).
    expect(bodiesPerCall(sendBatch.mock.calls)).toEqual([100, 100, 50]);
    // Packed: a flush of 100 small events takes one or two queue messages, not 100.
    expect(sendBatch.mock.calls.every(([messages]) => [...messages].length <= 2)).toBe(true);
    expect(batcherFor(env.USAGE_QUEUE).pending).toBe(0);

    const ids = new Set(drafts.map((d) => d.id));
    const counts = await countLines(ids, 25_000);
    expect(counts.size).toBe(250);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });

  it("only the request that opens a buffer waits for its flush", async () => {
    const batcher = new QueueBatcher(env.USAGE_QUEUE, { delayMs: 50 });
    const sendBatch = vi.spyOn(env.USAGE_QUEUE, "sendBatch");
    let ownerDone = false;
    const owner = batcher.push(event()).then(() => {
      ownerDone = true;
    });
    await batcher.push(event()); // a later push returns at once
    expect(ownerDone).toBe(false);
    expect(batcher.pending).toBe(2);
    await owner;
    expect(batcher.pending).toBe(0);
    expect(sendBatch).toHaveBeenCalledTimes(1);
  });

  it("a push that would overflow the size budget sends the buffer first", { timeout: 30_000 }, async () => {
    const one = JSON.stringify(event()).length;
    const batcher = new QueueBatcher(env.USAGE_QUEUE, { delayMs: 10, maxChars: Math.floor(one * 2.5) });
    const sendBatch = vi.spyOn(env.USAGE_QUEUE, "sendBatch");
    const events = Array.from({ length: 5 }, () => event());
    await Promise.all(events.map((e) => batcher.push(e)));
    expect(bodiesPerCall(sendBatch.mock.calls)).toEqual([2, 2, 1]);
    const counts = await countLines(new Set(events.map((e) => e.id)), 20_000);
    expect(counts.size).toBe(5);
  });

  it("a buffer whose owner never flushed is sent by the next push", async () => {
    const batcher = new QueueBatcher(env.USAGE_QUEUE, { delayMs: 300, staleMs: 20 });
    const sendBatch = vi.spyOn(env.USAGE_QUEUE, "sendBatch");
    // Stands for an owner that was cancelled: nobody awaits its timer (which, when it fires, finds its
    // buffer already sent and does nothing).
    const orphan = batcher.push(event());
    await new Promise((r) => setTimeout(r, 30));
    const second = batcher.push(event());
    await vi.waitFor(() => expect(sendBatch).toHaveBeenCalledTimes(1));
    expect([...sendBatch.mock.calls[0]![0]].length).toBe(1);
    expect(batcher.pending).toBe(1);
    await Promise.all([orphan, second]);
    expect(sendBatch.mock.calls.map(([messages]) => [...messages].length)).toEqual([1, 1]);
  });

  it("a refused batch is retried once, then every message is logged as lost", async () => {
    const batcher = new QueueBatcher(env.USAGE_QUEUE, { delayMs: 0 });
    const sendBatch = vi.spyOn(env.USAGE_QUEUE, "sendBatch");
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    // Over the queue's 128 KB message limit: the real local queue refuses the batch.
    const huge = { ...event(), user_agent: "x".repeat(200_000) };
    const small = event();
    await Promise.all([batcher.push(small), batcher.push(huge)]);
    // The small one went alone (the huge one would not fit beside it); the huge one twice, refused twice.
    expect(sendBatch.mock.calls.map(([messages]) => [...messages].length)).toEqual([1, 1, 1]);
    const lost = errors.mock.calls.filter(([msg]) => msg === "usage event lost").map(([, id]) => id);
    expect(lost).toEqual([huge.id]);
  });

  it("packs a flush into messages within the per-message budget, in order", { timeout: 30_000 }, async () => {
    const batcher = new QueueBatcher(env.USAGE_QUEUE, { delayMs: 0 });
    const sendBatch = vi.spyOn(env.USAGE_QUEUE, "sendBatch");
    // ~12 KB each: a flush of 6 (under the 100 000-character batch budget) needs two messages.
    const events = Array.from({ length: 6 }, () => ({ ...event(), user_agent: "u".repeat(12_000) }));
    await Promise.all(events.map((e) => batcher.push(e)));
    expect(sendBatch).toHaveBeenCalledTimes(1);
    const messages = [...sendBatch.mock.calls[0]![0]];
    expect(messages.length).toBe(2);
    for (const m of messages)
      expect(JSON.stringify((m.body as Packed<unknown>).bodies).length).toBeLessThan(MAX_MESSAGE_CHARS + 100);
    expect(messages.flatMap((m) => (m.body as Packed<UsageEvent>).bodies.map((b) => b.id))).toEqual(
      events.map((e) => e.id),
    );
    const counts = await countLines(new Set(events.map((e) => e.id)), 20_000);
    expect(counts.size).toBe(6);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });

  it("keeps one buffer per queue binding: pushes from anywhere in the isolate share one batch", async () => {
    const sendBatch = vi.spyOn(env.USAGE_QUEUE, "sendBatch");
    const [a, b] = [event(), event()];
    // Two callers asking for the binding's batcher separately, as two requests' recordRequest would.
    await Promise.all([batcherFor(env.USAGE_QUEUE).push(a), batcherFor(env.USAGE_QUEUE).push(b)]);
    const sent = sendBatch.mock.calls.map(([messages]) =>
      [...messages].flatMap((m) => (m.body as Packed<UsageEvent>).bodies.map((e) => e.id)),
    );
    expect(sent).toEqual([[a.id, b.id]]);
  });
});
