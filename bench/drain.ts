// Counting the queue consumer's CPU where it belongs. The consumer handles a round's events while the
// round runs (a batch is delivered as soon as it holds max_batch_size events) and after it (the last,
// partial batch waits for max_batch_timeout). Reading the process's CPU time right at the end of a round
// would miss that tail, or charge it to whichever target runs next in the same process. So the bench
// waits, outside the round's clock, until the consumer has counted every request of the round, and only
// then reads the CPU time.

export type DrainOptions = {
  /** The consumer's max_batch_timeout, ms: how long a partial batch may wait before delivery. */
  batchTimeoutMs: number;
  /** Between two looks at the rollups. */
  pollMs?: number;
  /** Give up waiting for a round's events after this long (then the next round settles first). */
  timeoutMs?: number;
};

export type DrainStats = { polls: number; waitedMs: number; timedOut: number; settles: number };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Tracks one host's consumer: `settle` waits until nothing is pending (unknown backlog: warm-ups, a round
 * that timed out), `after` waits until the rollups count `requests` more than before the round.
 */
export class QueueDrain {
  /** Rollup total with nothing pending, or null when that is not known. */
  private known: number | null = null;
  readonly stats: DrainStats = { polls: 0, waitedMs: 0, timedOut: 0, settles: 0 };
  private readonly pollMs: number;
  private readonly timeoutMs: number;

  private readonly total: () => Promise<number>;
  private readonly opts: DrainOptions;

  constructor(total: () => Promise<number>, opts: DrainOptions) {
    this.total = total;
    this.opts = opts;
    this.pollMs = opts.pollMs ?? 25;
    this.timeoutMs = opts.timeoutMs ?? Math.max(5_000, 4 * opts.batchTimeoutMs);
  }

  private async look(): Promise<number> {
    this.stats.polls++;
    return this.total();
  }

  /** Before a round: make sure nothing from earlier work is still on its way to the consumer. */
  async before(): Promise<void> {
    if (this.known !== null) return;
    const t0 = performance.now();
    this.stats.settles++;
    // Unchanged for longer than a partial batch can wait (plus a margin for the consumer's own run).
    const quietMs = this.opts.batchTimeoutMs + 250;
    let last = await this.look();
    let since = performance.now();
    const deadline = t0 + this.timeoutMs * 2;
    while (performance.now() - since < quietMs && performance.now() < deadline) {
      await sleep(this.pollMs * 2);
      const now = await this.look();
      if (now !== last) {
        last = now;
        since = performance.now();
      }
    }
    this.known = last;
    this.stats.waitedMs += performance.now() - t0;
  }

  /** After a round of `requests` requests: wait until the consumer has counted them all. */
  async after(requests: number): Promise<boolean> {
    const t0 = performance.now();
    const expected = (this.known ?? 0) + requests;
    let now = await this.look();
    while (now < expected && performance.now() - t0 < this.timeoutMs) {
      await sleep(this.pollMs);
      now = await this.look();
    }
    this.stats.waitedMs += performance.now() - t0;
    if (now >= expected) {
      this.known = now;
      return true;
    }
    // Some request made no event (e.g. a connection error), or the consumer is stuck: settle next time.
    this.stats.timedOut++;
    this.known = null;
    return false;
  }
}
