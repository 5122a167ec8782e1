import { DurableObject } from "cloudflare:workers";
import {
  type Amount,
  type Ledger,
  type Limits,
  limitRefusal,
  type Remaining,
  remaining,
  tighter,
} from "../limits/budget";
import { type Charge, LedgerStore } from "../limits/ledger-store";
import { periodRefusal, periodRemaining } from "../limits/period-budgets";
import type { PeriodUse } from "../limits/period-store";
import { RenewingCounters, type RenewingLimits } from "../limits/renewing";
import { checkTokenWindows, type TokenWindowState, tokenWindowRefusal } from "../limits/token-windows";
import { retryAfterSeconds } from "../limits/windows";
import type { Refused } from "../tokens/admission";

/** Fields of the project row the object needs: its limits travel with each call from the token's object. */
export type ProjectAdmitInput = {
  limits: Limits;
  /** The project's budgets per period and token windows, if it has any. */
  renewing?: RenewingLimits;
  /** The token object's reservation id: the project holds the same amount under the same id. */
  reservationId?: string;
  hold?: Amount;
  expiresAt?: number;
};

export type ProjectAdmission =
  | { ok: true; remaining: Remaining }
  | ({ ok: false } & Pick<
      Refused,
      "code" | "message" | "retryAfterSeconds" | "retryAfterMs" | "renewsAt" | "retryable"
    >);

export type ProjectLiveState = {
  ledger: Ledger;
  limits: Limits | null;
  remaining: Remaining | null;
  openReservations: number;
  periods: (PeriodUse & { remaining: Remaining })[];
  tokenWindows: TokenWindowState[];
};

const LIMITS_KEY = "limits";
const NONE: RenewingLimits = { periodBudgets: null, timeZone: null, tokenWindows: null };
const RENEWING_KEY = "renewing";

/**
 * One per project that has project-wide caps, named by the project id, consulted by a token's object only
 * when its project has caps (unlimited projects never reach it). It keeps the project's ledger: requests,
 * settled usage, open reservations. Single-threaded like the token's object, so check-and-count is exact
 * across all tokens of the project. It reads nothing from D1: the limits come with each call, from the
 * token object's copy of the project row (reloaded on every project change).
 */
export class ProjectState extends DurableObject<Env> {
  private readonly store: LedgerStore;
  private readonly renewing: RenewingCounters;
  /** The object's clock; tests replace it to walk periods through time. */
  clock: () => number = Date.now;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new LedgerStore(ctx.storage);
    this.renewing = new RenewingCounters(ctx.storage);
  }

  async admit(input: ProjectAdmitInput): Promise<ProjectAdmission> {
    const now = this.clock();
    const hold = input.hold ?? null;
    const refusal = limitRefusal(input.limits, this.store.ledger, hold, "project");
    if (refusal) return { ok: false, ...refusal };
    const renewingLimits = input.renewing ?? NONE;
    const usage = this.renewing.usage(renewingLimits, now);
    const period = periodRefusal(renewingLimits.periodBudgets, usage.periods, hold, "project", now);
    if (period) {
      const soon = period.retryAfterMs;
      return {
        ok: false,
        code: period.code,
        message: period.message,
        renewsAt: period.renewsAt,
        ...(soon !== undefined
          ? { retryAfterSeconds: retryAfterSeconds(soon), retryAfterMs: soon, retryable: true }
          : {}),
      };
    }
    if (renewingLimits.tokenWindows) {
      const check = checkTokenWindows(usage.tokenLog, renewingLimits.tokenWindows, hold?.tokens ?? 0, now);
      if (!check.ok) {
        const { ok: _ok, status: _status, ...why } = tokenWindowRefusal(check, "project");
        return { ok: false, ...why };
      }
    }
    const held =
      input.reservationId && input.hold && input.expiresAt
        ? { id: input.reservationId, amount: input.hold, expiresAt: input.expiresAt, project: null }
        : undefined;
    this.store.admit(now, held);
    this.renewing.admit(renewingLimits, now, input.reservationId, hold);
    this.ctx.storage.kv.put(LIMITS_KEY, input.limits);
    this.ctx.storage.kv.put(RENEWING_KEY, renewingLimits);
    if (held) this.armAlarm(held.expiresAt);
    let left = remaining(input.limits, this.store.ledger);
    for (const r of periodRemaining(renewingLimits.periodBudgets, usage.periods)) left = tighter(left, r);
    return { ok: true, remaining: left };
  }

  async settle(reservationId: string, actual: Charge): Promise<void> {
    const row = this.store.row(reservationId);
    this.store.settle(reservationId, actual);
    this.renewing.settled(row, actual);
  }

  async state(): Promise<ProjectLiveState> {
    const limits = this.ctx.storage.kv.get<Limits>(LIMITS_KEY) ?? null;
    const renewingLimits = this.ctx.storage.kv.get<RenewingLimits>(RENEWING_KEY) ?? NONE;
    const { periods, tokenWindows } = this.renewing.state(renewingLimits, this.clock());
    const periodLeft = periodRemaining(renewingLimits.periodBudgets, periods);
    return {
      ledger: { ...this.store.ledger },
      limits,
      remaining: limits ? remaining(limits, this.store.ledger) : null,
      openReservations: this.store.openReservations(),
      periods: periods.map((p, i) => ({ ...p, remaining: periodLeft[i] as Remaining })),
      tokenWindows,
    };
  }

  /** The pending alarm as this instance set it: kept in memory so admissions never race on getAlarm. */
  private alarmAt: number | null = null;

  private armAlarm(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const next = this.store.expire(this.clock(), (row) => this.renewing.expired(row));
    if (next !== null) this.armAlarm(next);
  }
}
