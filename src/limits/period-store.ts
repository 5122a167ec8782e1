import type { Period, PeriodBudget } from "../storage/schema";
import type { Amount, Ledger } from "./budget";
import { type Bounds, periodBounds } from "./periods";

/**
 * The ledgers of budgets that renew every calendar period, one per configured period, in a Durable
 * Object's KV storage (one small value, written in the same synchronous step as the lifetime ledger, so
 * both commit together). A request belongs to the period in which it was admitted: its hold, its settle
 * and an expiry of its hold all count there, even when they arrive after the period ended (then they
 * change nothing: the new period starts with nothing used and nothing held). That keeps every period
 * exact on its own: what a period admitted never exceeds its budget, whatever runs across the boundary.
 */

const KEY = "periods";

/** One period's ledger. `since` is when counting began (a budget added mid-period counts from then). */
export type PeriodUse = Ledger & Bounds & { period: Period; since: number };

/** A closed hold as the ledger store saw it: when it was made and what it held. */
export type HoldRow = { createdAt: number; tokens: number; costNanos: number };

const fresh = (period: Period, bounds: Bounds, since: number): PeriodUse => ({
  period,
  ...bounds,
  since,
  requests: 0,
  tokensUsed: 0,
  costUsedNanos: 0,
  tokensReserved: 0,
  costReservedNanos: 0,
});

export class PeriodStore {
  private uses: PeriodUse[];

  constructor(private readonly storage: DurableObjectStorage) {
    this.uses = storage.kv.get<PeriodUse[]>(KEY) ?? [];
  }

  /**
   * The ledgers of these budgets at `now`, in the budgets' order: a period that ended starts afresh,
   * ledgers of periods no longer configured are dropped. Nothing is written unless something rolled.
   */
  current(budgets: readonly PeriodBudget[] | null, timeZone: string | null, now: number): PeriodUse[] {
    if (!budgets || budgets.length === 0) {
      if (this.uses.length > 0) this.save([]);
      return [];
    }
    let changed = this.uses.length !== budgets.length;
    const next = budgets.map((b) => {
      const use = this.uses.find((u) => u.period === b.period);
      if (use && now >= use.start && now < use.end) return use;
      changed = true;
      const bounds = periodBounds(b.period, timeZone, now);
      return fresh(b.period, bounds, use ? bounds.start : now);
    });
    if (changed) this.save(next);
    return next;
  }

  /** Ledgers as they stand (for the management API), without rolling. */
  get all(): readonly PeriodUse[] {
    return this.uses;
  }

  /** Counts one admitted request (and its hold) in every current period; call after `current(now)`. */
  admit(hold: Amount | null): void {
    if (this.uses.length === 0) return;
    for (const u of this.uses) {
      u.requests += 1;
      if (hold) {
        u.tokensReserved += hold.tokens;
        u.costReservedNanos += hold.costNanos;
      }
    }
    this.save(this.uses);
  }

  private owning(at: number): PeriodUse[] {
    return this.uses.filter((u) => at >= u.since && at >= u.start && at < u.end);
  }

  /** Undoes `admit` for a request refused further on (the project's limits). */
  unadmit(at: number, hold: Amount | null): void {
    const owners = this.owning(at);
    if (owners.length === 0) return;
    for (const u of owners) {
      u.requests = Math.max(0, u.requests - 1);
      if (hold) this.release(u, hold.tokens, hold.costNanos);
    }
    this.save(this.uses);
  }

  /** A hold closed: released (if it was still open) and `charged` counted as used in its own period. */
  close(row: HoldRow, wasOpen: boolean, charged: Amount): void {
    const owners = this.owning(row.createdAt);
    if (owners.length === 0) return;
    for (const u of owners) {
      if (wasOpen) this.release(u, row.tokens, row.costNanos);
      // A correction after an expiry's full charge may give some back (never below zero).
      u.tokensUsed = Math.max(0, u.tokensUsed + charged.tokens);
      u.costUsedNanos = Math.max(0, u.costUsedNanos + charged.costNanos);
    }
    this.save(this.uses);
  }

  private release(u: PeriodUse, tokens: number, costNanos: number): void {
    u.tokensReserved = Math.max(0, u.tokensReserved - tokens);
    u.costReservedNanos = Math.max(0, u.costReservedNanos - costNanos);
  }

  private save(uses: PeriodUse[]): void {
    this.uses = uses;
    if (uses.length === 0) this.storage.kv.delete(KEY);
    else this.storage.kv.put(KEY, uses);
  }
}
