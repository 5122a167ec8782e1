/**
 * Requests without a valid token are counted (abuse monitoring) but must not let a flood of bad tokens
 * flood the queue, the log or the bill. Each isolate lets a small burst of them through as full events
 * (token bucket); the rest are only counted here, by hour and error code, and sent as one summary message
 * at most every FLUSH_MS. An evicted isolate loses at most FLUSH_MS worth of such counts.
 */

export const HOUR_MS = 3_600_000;

/** Queue message counting unidentified requests that were not sent as events. */
export type RejectionSummary = {
  kind: "rejections";
  /** Unique per summary: the ledger key that makes its counting idempotent. */
  id: string;
  rejections: { hour: number; code: string; count: number }[];
};

export type GateDecision = { sendEvent: boolean; summary: RejectionSummary | null };

export class UnidentifiedGate {
  private tokens: number;
  private refilledAt = 0;
  private lastFlush = 0;
  private pending = new Map<string, { hour: number; code: string; count: number }>();

  constructor(
    private readonly burst = 20,
    private readonly perSecond = 1,
    private readonly flushMs = 10_000,
  ) {
    this.tokens = burst;
  }

  admit(code: string, now: number): GateDecision {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
    let sendEvent = false;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      sendEvent = true;
    } else {
      const hour = Math.floor(now / HOUR_MS) * HOUR_MS;
      const key = `${hour}|${code}`;
      const entry = this.pending.get(key) ?? { hour, code, count: 0 };
      entry.count += 1;
      this.pending.set(key, entry);
    }
    return { sendEvent, summary: this.flush(now) };
  }

  private flush(now: number): RejectionSummary | null {
    if (this.pending.size === 0 || now - this.lastFlush < this.flushMs) return null;
    this.lastFlush = now;
    const rejections = [...this.pending.values()];
    this.pending.clear();
    return { kind: "rejections", id: crypto.randomUUID(), rejections };
  }
}

/** One gate per isolate. */
export const unidentifiedGate = new UnidentifiedGate();
