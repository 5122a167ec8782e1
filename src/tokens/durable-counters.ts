import { type EscrowAmount, EscrowStore } from "../issuing/escrow-store";
import { type Amount, type Ledger, type Remaining, remaining, tighter } from "../limits/budget";
import { type Charge, LedgerStore } from "../limits/ledger-store";
import { periodRemaining } from "../limits/period-budgets";
import type { PeriodUse } from "../limits/period-store";
import { RenewingCounters, type RenewingLimits } from "../limits/renewing";
import type { TokenWindowState } from "../limits/token-windows";
import { WindowLog } from "../limits/window-log";
import { logCapacity, type WindowState, windowStates } from "../limits/windows";
import type { ProjectLiveState } from "../projects/durable";
import type { Allowance } from "./admission";
import type { TokenUsage } from "./decide";
import { type TokenConfig, tokenLimits } from "./token-config";

// What a token's object has counted, in its SQLite storage: requests and budget reservations, the
// rate-window log, per-period ledgers and token windows, child escrows. Every method is synchronous, so the
// object checks a limit and counts the request in one step (durable.ts); the object's configuration and
// its round trips (D1, the project's object) stay there.

export type TokenLiveState = {
  requests: number;
  lastUsedAt: number | null;
  loaded: boolean;
  ledger: Ledger;
  windows: WindowState[];
  /** What is left, the token's and the project's limits together. */
  remaining: Remaining;
  /** What is left under the token's own limits. */
  ownRemaining: Remaining;
  openReservations: number;
  /** The project's ledger when the project has caps (its object exists once a token of it was used). */
  project: ProjectLiveState | null;
  /** Budgets per period: the current period's use and when it renews. */
  periods: (PeriodUse & { remaining: Remaining })[];
  /** Token windows (tokens per minute…). */
  tokenWindows: TokenWindowState[];
  /** Allowance held for child tokens (carved from this token's budgets). */
  escrow: EscrowAmount & { children: number };
};

/** A budget hold of one request, mirrored by the project's object when it has caps (`project`). */
export type Reservation = { id: string; amount: Amount; expiresAt: number; project: string | null };

function tightest(states: WindowState[]): WindowState | null {
  let best: WindowState | null = null;
  for (const s of states) {
    if (
      !best ||
      s.remaining < best.remaining ||
      (s.remaining === best.remaining && s.reset_seconds > best.reset_seconds)
    )
      best = s;
  }
  return best;
}

/** The ledger admission decides on: what was used and held, plus what children hold in escrow. */
function withEscrow(ledger: Ledger, escrow: EscrowAmount, children: number): Ledger {
  if (children === 0) return ledger;
  return {
    requests: ledger.requests + escrow.requests,
    tokensUsed: ledger.tokensUsed,
    costUsedNanos: ledger.costUsedNanos,
    tokensReserved: ledger.tokensReserved + escrow.tokens,
    costReservedNanos: ledger.costReservedNanos + escrow.costNanos,
  };
}

export class TokenCounters {
  private ledgerStore: LedgerStore | undefined;
  private windowLog: WindowLog | undefined;
  private renewingCounters: RenewingCounters | undefined;
  private escrowStore: EscrowStore | undefined;

  constructor(private readonly storage: DurableObjectStorage) {}

  /**
   * The object's tables, created on first use by a token that exists: an unknown token's object (a
   * deleted token's, or one named by a hash that never was a token) writes nothing to storage.
   */
  get store(): LedgerStore {
    this.ledgerStore ??= new LedgerStore(this.storage);
    return this.ledgerStore;
  }

  get log(): WindowLog {
    this.windowLog ??= new WindowLog(this.storage.sql);
    return this.windowLog;
  }

  get renewing(): RenewingCounters {
    this.renewingCounters ??= new RenewingCounters(this.storage);
    return this.renewingCounters;
  }

  get escrow(): EscrowStore {
    this.escrowStore ??= new EscrowStore(this.storage.sql);
    return this.escrowStore;
  }

  /** Whether the ledger was opened (something may be stored): an unknown token's object never opens it. */
  get opened(): boolean {
    return this.ledgerStore !== undefined;
  }

  /** Forgets the open tables after the object's storage was deleted: the next use creates them again. */
  reset(): void {
    this.ledgerStore = undefined;
    this.windowLog = undefined;
    this.renewingCounters = undefined;
    this.escrowStore = undefined;
  }

  /** Windows removed or made smaller: drop what no window can look at any more. */
  trimWindows(config: TokenConfig): void {
    this.log.trim(logCapacity(config.rateLimits));
  }

  /** The ledger admission decides on: what was used and held, plus what children hold in escrow. */
  decidingLedger(): Ledger {
    return withEscrow(this.store.ledger, this.escrow.totals, this.escrow.count);
  }

  /** What `decide` reads: the ledger with escrow, the rate-window log, the current periods and token log. */
  usage(renewing: RenewingLimits, now: number): TokenUsage {
    const periods = this.renewing.usage(renewing, now);
    return { ledger: this.decidingLedger(), windowLog: this.log.times, renewing: periods };
  }

  /**
   * Counts an admitted request (and holds its budget, and takes a rate-window slot unless `capacity` is 0)
   * right after the decision; returns what undoes it if the project's object refuses the request.
   */
  count(
    renewing: RenewingLimits,
    now: number,
    hold: Amount | null,
    reservation: Reservation | undefined,
    capacity: number,
  ): () => void {
    this.store.admit(now, reservation);
    this.renewing.admit(renewing, now, reservation?.id, hold);
    const logged = capacity > 0 ? this.log.add(now, capacity) : undefined;
    return () => {
      this.store.unadmit(reservation?.id);
      this.renewing.unadmit(now, reservation?.id, hold);
      if (logged !== undefined) this.log.remove(logged);
    };
  }

  /** What the client has left after a counted request: the token's limits, its periods and the project's. */
  allowance(config: TokenConfig, usage: TokenUsage, project: Remaining | null, now: number): Allowance {
    let left = remaining(tokenLimits(config), usage.ledger);
    for (const r of periodRemaining(config.renewing.periodBudgets, usage.renewing?.periods ?? []))
      left = tighter(left, r);
    left = tighter(left, project);
    return {
      ...left,
      window: tightest(windowStates(this.log.times, config.rateLimits, now)),
      expiresAt: config.expiresAt,
    };
  }

  /** Settles a reservation: the ledger and the per-period ledgers it was held in. */
  settle(reservationId: string, amount: Charge): void {
    const row = this.store.row(reservationId);
    this.store.settle(reservationId, amount);
    this.renewing.settled(row, amount);
  }

  /** Releases reservations past their life (their settle never came); when the next one expires. */
  expire(now: number): number | null {
    return this.store.expire(now, (row) => this.renewing.expired(row));
  }

  /**
   * Live counters and what is left, for the management API. `ledger`: the object's ledger as it was when
   * asked (before the project's object answered); `project`: that object's state, when it has caps.
   */
  live(
    config: TokenConfig | null,
    ledger: Ledger,
    project: ProjectLiveState | null,
    now: number,
  ): TokenLiveState {
    const counted = withEscrow(ledger, this.escrow.totals, this.escrow.count);
    const own = config
      ? remaining(tokenLimits(config), counted)
      : { requests: null, tokens: null, costUsd: null };
    const renewing = config ? this.renewing.state(config.renewing, now) : { periods: [], tokenWindows: [] };
    const periodLeft = periodRemaining(config?.renewing.periodBudgets ?? null, renewing.periods);
    let left = own;
    for (const r of periodLeft) left = tighter(left, r);
    return {
      requests: ledger.requests,
      lastUsedAt: this.store.lastUsedAt,
      loaded: config !== null,
      ledger,
      windows: windowStates(this.log.times, config?.rateLimits ?? null, now),
      remaining: tighter(left, project?.remaining ?? null),
      ownRemaining: own,
      openReservations: this.store.openReservations(),
      project,
      periods: renewing.periods.map((p, i) => ({ ...p, remaining: periodLeft[i] as Remaining })),
      tokenWindows: renewing.tokenWindows,
      escrow: { ...this.escrow.totals, children: this.escrow.count },
    };
  }
}
