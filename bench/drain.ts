// Counting the queue consumer's CPU where it belongs. The consumer handles a phase's events while the
// phase runs (a batch is delivered as soon as it holds max_batch_size messages) and after it (the last,
// partial batch waits for max_batch_timeout). The bench counts every request it sends to a host, and
// before reading the host's CPU time at the start and at the end of a phase waits, outside any round's
// clock, until the consumer has counted that many requests in the rollups. A look at the rollups is a D1
// query, which costs the host several ms of CPU in Miniflare: at the end the drain first waits out the
// batch timeout and until the process is idle, reads the CPU time, and only then looks, so a successful
// look is never inside the measurement (a look that finds the count short is, and is reported).

export type DrainOptions = {
  /** The consumer's max_batch_timeout, ms: how long a partial batch may wait before delivery. */
  batchTimeoutMs: number;
  /** Between two looks at the rollups. */
  pollMs?: number;
  /** Give up waiting after this long (the count is then unknown until the next settle). */
  timeoutMs?: number;
};

export type DrainStats = { polls: number; waitedMs: number; timedOut: number; settles: number };

/** How a round ended: whether its events were all counted, the CPU time read just before the look that
 * found them, and how many looks (each a D1 query on the host) fell inside the measurement before it. */
export type Drained = { ok: boolean; cpuMs: number | null; polls: number };

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
  private readonly cpu: () => number | null;
  private readonly opts: DrainOptions;
  private readonly pollMs: number;
  private readonly timeoutMs: number;

  constructor(total: () => Promise<number>, cpu: () => number | null, opts: DrainOptions) {
    this.total = total;
    this.cpu = cpu;
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

  /** Before a measurement: everything sent earlier (warm-ups, earlier phases) has been consumed. */
  async before(): Promise<void> {
    const t0 = performance.now();
    if (this.expected === null) await this.settle();
    else await this.reach();
    this.stats.waitedMs += performance.now() - t0;
  }

  /** Until the host's process has used less than 1 ms of CPU in 50 ms (its consumer is not running). */
  private async idle(deadline: number): Promise<void> {
    let last = this.cpu();
    while (last !== null && performance.now() < deadline) {
      await sleep(50);
      const now = this.cpu();
      if (now === null || now - last < 1) return;
      last = now;
    }
  }

  /**
   * After `requests` more requests: wait until the consumer has counted them (and all before),
   * and say what the host's CPU time was once it had.
   */
  async after(requests: number): Promise<Drained> {
    const t0 = performance.now();
    const deadline = t0 + this.timeoutMs;
    if (this.expected === null) return { ok: false, cpuMs: this.cpu(), polls: 0 };
    this.expected += requests;
    let polls = 0;
    // The round's last, partial batch is delivered at most a batch timeout after its first event.
    await sleep(this.opts.batchTimeoutMs + 50);
    for (;;) {
      await this.idle(deadline);
      const cpuMs = this.cpu();
      const now = await this.look();
      if (now >= this.expected) {
        this.expected = now;
        this.stats.waitedMs += performance.now() - t0;
        return { ok: true, cpuMs, polls };
      }
      polls++;
      if (performance.now() > deadline) break;
      await sleep(this.pollMs * 4);
    }
    // Some request made no event (e.g. a connection error), or the consumer is stuck: settle next time.
    this.stats.timedOut++;
    this.expected = null;
    this.stats.waitedMs += performance.now() - t0;
    return { ok: false, cpuMs: this.cpu(), polls };
  }
}
