/**
 * A circuit breaker for one upstream, as one isolate sees it. Closed: traffic flows and consecutive
 * failures are counted (a success resets the count; failures further apart than `windowMs` start a new
 * count). `threshold` consecutive failures open it: no traffic for a cool-down, then one probe at a time
 * (half-open). A probe that succeeds closes it; one that fails opens it again for twice as long (up to
 * `maxCoolDownMs`). One failure never opens it: a single bad request must not take an upstream out.
 */
export type BreakerPolicy = {
  threshold: number;
  windowMs: number;
  coolDownMs: number;
  maxCoolDownMs: number;
};

export const DEFAULT_BREAKER: BreakerPolicy = {
  threshold: 3,
  windowMs: 30_000,
  coolDownMs: 10_000,
  maxCoolDownMs: 120_000,
};

export type BreakerAdmission = "closed" | "probe" | "open";

export class CircuitBreaker {
  private failures = 0;
  private firstFailureAt = 0;
  /** 0 while closed; else the end of the cool-down. */
  private openedUntil = 0;
  private opens = 0;
  /** While a probe is out, no other request probes (its lease ends at this time, in case it hangs). */
  private probeUntil = 0;

  constructor(private readonly policy: BreakerPolicy = DEFAULT_BREAKER) {}

  get isOpen(): boolean {
    return this.openedUntil !== 0;
  }

  /** When the cool-down ends (0 when closed). */
  get openUntil(): number {
    return this.openedUntil;
  }

  /** Whether a request may go: "probe" marks this request as the one probe of a half-open breaker. */
  admit(now: number): BreakerAdmission {
    if (this.openedUntil === 0) return "closed";
    if (now < this.openedUntil || now < this.probeUntil) return "open";
    this.probeUntil = now + Math.min(this.coolDown(), 30_000);
    return "probe";
  }

  /**
   * The upstream answered (any answer that is not a retryable failure). A request that was already on its
   * way when the breaker opened does not close it before its cool-down ends: only a probe's answer does.
   */
  success(now: number): void {
    if (this.openedUntil !== 0 && now < this.openedUntil) return;
    this.failures = 0;
    this.openedUntil = 0;
    this.opens = 0;
    this.probeUntil = 0;
  }

  /** The upstream failed (connection, timeout, retryable 5xx). Returns true when this opened the breaker. */
  failure(now: number): boolean {
    if (this.openedUntil !== 0) {
      // A failed probe (or a request that was already out): open again, for longer.
      if (now >= this.openedUntil) {
        this.opens++;
        this.openedUntil = now + this.coolDown();
        this.probeUntil = 0;
        return true;
      }
      return false;
    }
    if (this.failures > 0 && now - this.firstFailureAt > this.policy.windowMs) this.failures = 0;
    if (this.failures === 0) this.firstFailureAt = now;
    this.failures++;
    if (this.failures < this.policy.threshold) return false;
    this.failures = 0;
    this.opens = 1;
    this.openedUntil = now + this.coolDown();
    return true;
  }

  /** Opens it until `until` (a state shared by another isolate of the location), unless already longer. */
  openUntilAtLeast(until: number): void {
    if (until <= this.openedUntil) return;
    this.openedUntil = until;
    this.opens = Math.max(this.opens, 1);
    this.probeUntil = 0;
  }

  private coolDown(): number {
    return Math.min(this.policy.coolDownMs * 2 ** Math.max(0, this.opens - 1), this.policy.maxCoolDownMs);
  }
}
