import type { PeriodBudget, TokenWindow } from "../storage/schema";
import { type Amount, toNanos } from "./budget";
import type { Charge, ReservationRow } from "./ledger-store";
import { periodNeedsHold } from "./period-budgets";
import { PeriodStore, type PeriodUse } from "./period-store";
import { TokenLog } from "./token-log";
import {
  longestWindowMs,
  type TokenLogView,
  type TokenWindowState,
  tokenWindowStates,
} from "./token-windows";

/** The renewing limits of a holder (a token, an end user, a project): budgets per period, token windows. */
export type RenewingLimits = {
  periodBudgets: PeriodBudget[] | null;
  timeZone: string | null;
  tokenWindows: TokenWindow[] | null;
};

export const NO_RENEWING: RenewingLimits = { periodBudgets: null, timeZone: null, tokenWindows: null };

export const hasRenewing = (r: RenewingLimits): boolean =>
  (r.periodBudgets?.length ?? 0) > 0 || (r.tokenWindows?.length ?? 0) > 0;

/** Whether requests need a hold settled with their real usage for these limits. */
export const renewingNeedsHold = (r: RenewingLimits): boolean =>
  periodNeedsHold(r.periodBudgets) || (r.tokenWindows?.length ?? 0) > 0;

/** What the renewing limits have counted, as admission sees it. */
export type RenewingUsage = { periods: PeriodUse[]; tokenLog: TokenLogView };

/**
 * The counters of the renewing limits in a Durable Object, next to its lifetime ledger (ledger-store.ts):
 * the object calls these at the same points as the ledger (admit, undo, settle, expiry), in the same
 * synchronous steps, so both stay consistent and exact under concurrency.
 */
export class RenewingCounters {
  private readonly periods: PeriodStore;
  private readonly tokens: TokenLog;

  constructor(storage: DurableObjectStorage) {
    this.periods = new PeriodStore(storage);
    this.tokens = new TokenLog(storage.sql);
  }

  /** The usage to decide on at `now` (rolls ended periods over, forgets entries no window can see). */
  usage(limits: RenewingLimits, now: number): RenewingUsage {
    const keep = longestWindowMs(limits.tokenWindows);
    this.tokens.trim(now, keep);
    return {
      periods: this.periods.current(limits.periodBudgets, limits.timeZone, now),
      tokenLog: this.tokens,
    };
  }

  /** Counts an admitted request; call right after `usage(now)` and the decision, in the same step. */
  admit(limits: RenewingLimits, now: number, reservationId: string | undefined, hold: Amount | null): void {
    this.periods.admit(hold);
    if (reservationId && hold && (limits.tokenWindows?.length ?? 0) > 0)
      this.tokens.add(reservationId, now, hold.tokens);
  }

  unadmit(now: number, reservationId: string | undefined, hold: Amount | null): void {
    this.periods.unadmit(now, hold);
    if (reservationId) this.tokens.remove(reservationId);
  }

  /**
   * A hold was settled (`row` as it was before, absent if long forgotten) with the request's charge, the same
   * way as the lifetime ledger (ledger-store.ts `settle`): reported usage exactly, unreported usage at least
   * the hold; a hold that expired was charged in full then, so only the difference is added or given back.
   */
  settled(row: ReservationRow | undefined, actual: Charge): void {
    if (!row || row.state === "settled") return;
    let tokens = Math.max(0, actual.tokens);
    let cost =
      actual.costUsd !== null ? Math.max(0, toNanos(actual.costUsd)) : actual.tokens > 0 ? row.cost : 0;
    if (!actual.reported) {
      tokens = Math.max(tokens, row.tokens);
      cost = Math.max(cost, row.cost);
    }
    const already = row.state === "expired" ? { tokens: row.tokens, cost: row.cost } : { tokens: 0, cost: 0 };
    this.periods.close(
      { createdAt: row.created_at, tokens: row.tokens, costNanos: row.cost },
      row.state === "open",
      { tokens: tokens - already.tokens, costNanos: cost - already.cost },
    );
    this.tokens.settle(row.id, tokens);
  }

  /**
   * A hold expired without a settle (the worker died mid-request, the settle call failed): charged in full
   * like the lifetime ledger's, since nothing proves the request used less; a late settle corrects it.
   */
  expired(row: ReservationRow): void {
    this.periods.close({ createdAt: row.created_at, tokens: row.tokens, costNanos: row.cost }, true, {
      tokens: row.tokens,
      costNanos: row.cost,
    });
  }

  /** The current periods and token windows, for the management API. */
  state(limits: RenewingLimits, now: number): { periods: PeriodUse[]; tokenWindows: TokenWindowState[] } {
    const { periods, tokenLog } = this.usage(limits, now);
    return {
      periods: periods.map((p) => ({ ...p })),
      tokenWindows: tokenWindowStates(tokenLog, limits.tokenWindows, now),
    };
  }
}
