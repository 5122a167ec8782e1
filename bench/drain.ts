// Counting the queue consumer's CPU where it belongs. The consumer handles a round's events while the
// round runs (a batch is delivered as soon as it holds max_batch_size messages) and after it (the last,
// partial batch waits for max_batch_timeout). Reading the process's CPU time right at the end of a round
// would miss that tail, or charge it to whichever target runs next in the same process. So the bench
// counts every request it sends to the host, and before reading the CPU time waits, outside the round's
// clock, until the consumer has counted that many requests in the rollups.

export type DrainOptions = {
  /** The consumer's max_batch_timeout, ms: how long a partial batch may wait before delivery. */
  batchTimeoutMs: number;
  /** Between two looks at the rollups. */
  pollMs?: number;
  /** Give up waiting after this long (the count is then unknown until the next settle). */
  timeoutMs?: number;
};

export type DrainStats = { polls: number; waitedMs: number; timedOut: number; settles: number };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Tracks one host's consumer. `sent` adds requests whose events are on their way (warm-ups included);
 * `before` and `after` wait until the rollups count all of them. When the count is not known (at the
 * start, after a wait gave up, after `forget`), `before` waits until the rollups stop moving instead.
 */
export class QueueDrain {
  /** Rollup total once every request sent so far is counted, or null when not known. */
  private expected: number | null = null;
  readonly stats: DrainStats = { polls: 0, waitedMs: 0, timedOut: 0, settles: 0 };
  private readonly total: () => Promise<number>;
  private readonly opts: DrainOptions;
  private readonly pollMs: number;
  private readonly timeoutMs: number;

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

  /** Requests sent to the host outside the measured rounds (warm-ups, probes): their events will come. */
  sent(requests: number): void {
    if (this.expected !== null) this.expected += requests;
  }

  /** Requests were sent without being counted: settle by quiet before the next measurement. */
  forget(): void {
    this.expected = null;
  }

  private async settle(): Promise<void> {
    this.stats.settles++;
    // Unchanged for longer than a partial batch can wait (plus a margin for the consumer's own run).
    const quietMs = this.opts.batchTimeoutMs + 250;
    const t0 = performance.now();
    let last = await this.look();
    let since = performance.now();
    while (performance.now() - since < quietMs && performance.now() - t0 < this.timeoutMs * 2) {
      await sleep(this.pollMs * 2);
      const now = await this.look();
      if (now !== last) {
        last = now;
        since = performance.now();
      }
    }
    this.expected = last;
  }

  private async reach(): Promise<boolean> {
    const expected = this.expected!;
    const t0 = performance.now();
    let now = await this.look();
    while (now < expected && performance.now() - t0 < this.timeoutMs) {
      await sleep(this.pollMs);
      now = await this.look();
    }
    if (now >= expected) {
      this.expected = now;
      return true;
    }
    // Some request made no event (e.g. a connection error), or the consumer is stuck: settle next time.
    this.stats.timedOut++;
    this.expected = null;
    return false;
  }

  /** Before a round: everything sent earlier (warm-ups, other rounds) has been consumed. */
  async before(): Promise<void> {
    const t0 = performance.now();
    if (this.expected === null) await this.settle();
    else await this.reach();
    this.stats.waitedMs += performance.now() - t0;
  }

  /** After a round of `requests` requests: wait until the consumer has counted them (and all before). */
  async after(requests: number): Promise<boolean> {
    const t0 = performance.now();
    let ok = false;
    if (this.expected !== null) {
      this.expected += requests;
      ok = await this.reach();
    }
    this.stats.waitedMs += performance.now() - t0;
    return ok;
  }
}
