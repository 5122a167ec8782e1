/**
 * Per-isolate batching of usage-queue messages: one `sendBatch` RPC for many requests instead of one
 * `send` each (each send costs an RPC, and the consumer runs once per small batch). The bodies of a flush
 * travel packed, many to a queue message (`Packed`): the queue then carries one message per flush instead
 * of one per request — a fraction of the queue operations (billed per message), far below the queue's
 * messages-per-second limit, and a fraction of the per-message work on both sides.
 *
 * Ownership keeps every promise and every I/O inside the request that created it (workerd rejects or
 * hangs on promises resolved across requests, and I/O needs a live request context): the request whose
 * push opens a buffer owns the delayed flush of that buffer and awaits it in its own `waitUntil`; the
 * request whose push fills a buffer flushes it at once, itself. Every other push only appends and returns.
 */

/**
 * How long the first message of a buffer waits for company: short next to the consumer's own batching
 * (seconds). Each flush is a `sendBatch` RPC, whose cost is mostly per call: at 25 ms a gateway at a few
 * hundred requests per second flushed every ~10 requests, and the RPC cost ~9 % of its CPU per request
 * (Miniflare, c=1); at 200 ms a flush carries up to the 100-event limit and the cut measured 8 %
 * (`npm run bench:ab`, bench/README.md). The owning request's `waitUntil` lasts that much longer (wall
 * time, no CPU).
 */
export const FLUSH_DELAY_MS = 200;
/** Events per flush (once `sendBatch`'s limit of 100 messages; packed, a flush takes a message or two). */
export const MAX_BATCH_MESSAGES = 100;
/**
 * Budget on the JSON length of a batch. The queue's limit is 256 KB per call in its own serialization,
 * where a string of non-Latin-1 text takes two bytes a character: 100 000 characters stay under it even
 * then. Usage events are clipped (record.ts) to a few KB at most, ~0.5 KB typically, so a batch usually
 * reaches the message limit first.
 */
export const MAX_BATCH_CHARS = 100_000;
/**
 * A buffer older than this has lost its owner (its request was cancelled before the timer fired): the
 * next push sends it, so it cannot sit unsent waiting for a fill.
 */
export const STALE_MS = 1_000;
/**
 * Budget on the JSON length of the bodies packed into one queue message. A message may take 128 KB in the
 * queue's serialization, two bytes a character at worst: 50 000 characters leave room for that and the
 * serialization's own overhead.
 */
export const MAX_MESSAGE_CHARS = 50_000;

/** Several queue bodies in one message; the consumer unpacks them (consumer.ts) and treats each as a message. */
export type Packed<T> = { kind: "packed"; bodies: T[] };

export type BatchLimits = { delayMs: number; maxMessages: number; maxChars: number; staleMs: number };

const DEFAULT_LIMITS: BatchLimits = {
  delayMs: FLUSH_DELAY_MS,
  maxMessages: MAX_BATCH_MESSAGES,
  maxChars: MAX_BATCH_CHARS,
  staleMs: STALE_MS,
};

type Entry<T> = { body: T; id: string; size: number };

/** Something with an id to name in the log when it is lost. */
type Identified = { id: string };

export class QueueBatcher<T extends Identified> {
  private buffer: Entry<T>[] = [];
  private chars = 0;
  /** Bumped whenever a buffer is taken, so a delayed flush of an already-sent buffer does nothing. */
  private generation = 0;
  private openedAt = 0;

  private readonly limits: BatchLimits;

  constructor(
    private readonly queue: Queue<Packed<T>>,
    limits: Partial<BatchLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /**
   * Adds a message. Resolves when the flushes this call owns are done (at once when it owns none).
   * Never rejects: a batch that fails twice is logged message by message as lost.
   */
  push(body: T): Promise<void> {
    return this.add(body) ?? Promise.resolve();
  }

  /**
   * As `push`, but undefined when this call owns no flush (most calls): the caller then has nothing to
   * wait for, and no promise is made for it.
   */
  add(body: T): Promise<void> | undefined {
    const size = JSON.stringify(body).length;
    const now = Date.now();
    // Would not fit beside what is buffered, or orphaned: send that first, this caller owns it.
    let earlier: Promise<void> | undefined;
    if (
      this.buffer.length &&
      (this.chars + size > this.limits.maxChars || now - this.openedAt > this.limits.staleMs)
    )
      earlier = this.flushNow();
    const opens = this.buffer.length === 0;
    if (opens) this.openedAt = now;
    this.buffer.push({ body, id: body.id, size });
    this.chars += size;
    let own: Promise<void> | undefined;
    if (this.buffer.length >= this.limits.maxMessages || this.chars >= this.limits.maxChars)
      own = this.flushNow();
    else if (opens) own = this.flushLater();
    if (!earlier) return own;
    return own ? Promise.all([earlier, own]).then(() => undefined) : earlier;
  }

  /** Messages waiting for a flush (tests, diagnostics). */
  get pending(): number {
    return this.buffer.length;
  }

  private flushLater(): Promise<void> {
    const generation = this.generation;
    return new Promise<void>((resolve) => setTimeout(resolve, this.limits.delayMs)).then(() =>
      // Already sent by the request that filled it: the current buffer belongs to whoever opened it.
      generation === this.generation ? this.flushNow() : undefined,
    );
  }

  private flushNow(): Promise<void> {
    const batch = this.buffer;
    this.buffer = [];
    this.chars = 0;
    this.generation++;
    return this.send(batch);
  }

  private async send(batch: Entry<T>[]): Promise<void> {
    if (!batch.length) return;
    const messages = pack(batch);
    try {
      await this.queue.sendBatch(messages);
    } catch {
      try {
        // One retry: a duplicate from a send that did land is harmless, the consumer deduplicates by id.
        await this.queue.sendBatch(messages);
      } catch (err) {
        for (const e of batch) console.error("usage event lost", e.id, err);
      }
    }
  }
}

/** The flush's bodies in as few messages as fit MAX_MESSAGE_CHARS (one, usually), in order. */
function pack<T>(batch: Entry<T>[]): { body: Packed<T> }[] {
  const out: { body: Packed<T> }[] = [];
  let bodies: T[] = [];
  let chars = 0;
  for (const e of batch) {
    if (bodies.length && chars + e.size > MAX_MESSAGE_CHARS) {
      out.push({ body: { kind: "packed", bodies } });
      bodies = [];
      chars = 0;
    }
    bodies.push(e.body);
    chars += e.size;
  }
  if (bodies.length) out.push({ body: { kind: "packed", bodies } });
  return out;
}

const batchers = new WeakMap<Queue, QueueBatcher<Identified>>();

/** The isolate's batcher for a queue binding: each env object's binding gets its own buffer. */
export function batcherFor(queue: Queue): QueueBatcher<Identified> {
  let batcher = batchers.get(queue);
  if (!batcher) {
    batcher = new QueueBatcher<Identified>(queue);
    batchers.set(queue, batcher);
  }
  return batcher;
}
