import { DurableObject } from "cloudflare:workers";
import {
  type Amount,
  type Ledger,
  type Limits,
  limitRefusal,
  type Remaining,
  remaining,
} from "../limits/budget";
import { type Charge, LedgerStore } from "../limits/ledger-store";

/** Fields of the project row the object needs: its limits travel with each call from the token's object. */
export type ProjectAdmitInput = {
  limits: Limits;
  /** The token object's reservation id: the project holds the same amount under the same id. */
  reservationId?: string;
  hold?: Amount;
  expiresAt?: number;
};

export type ProjectAdmission =
  | { ok: true; remaining: Remaining }
  | { ok: false; code: "quota_exceeded"; message: string };

export type ProjectLiveState = {
  ledger: Ledger;
  limits: Limits | null;
  remaining: Remaining | null;
  openReservations: number;
};

const LIMITS_KEY = "limits";

/**
 * One per project that has project-wide caps, named by the project id, consulted by a token's object only
 * when its project has caps (unlimited projects never reach it). It keeps the project's ledger: requests,
 * settled usage, open reservations. Single-threaded like the token's object, so check-and-count is exact
 * across all tokens of the project. It reads nothing from D1: the limits come with each call, from the
 * token object's copy of the project row (reloaded on every project change).
 */
export class ProjectState extends DurableObject<Env> {
  private readonly store: LedgerStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new LedgerStore(ctx.storage);
  }

  async admit(input: ProjectAdmitInput): Promise<ProjectAdmission> {
    const now = Date.now();
    const refusal = limitRefusal(input.limits, this.store.ledger, input.hold ?? null, "project");
    if (refusal) return { ok: false, ...refusal };
    const hold =
      input.reservationId && input.hold && input.expiresAt
        ? { id: input.reservationId, amount: input.hold, expiresAt: input.expiresAt, project: null }
        : undefined;
    this.store.admit(now, hold);
    this.ctx.storage.kv.put(LIMITS_KEY, input.limits);
    if (hold) this.armAlarm(hold.expiresAt);
    return { ok: true, remaining: remaining(input.limits, this.store.ledger) };
  }

  async settle(reservationId: string, actual: Charge): Promise<void> {
    this.store.settle(reservationId, actual);
  }

  async state(): Promise<ProjectLiveState> {
    const limits = this.ctx.storage.kv.get<Limits>(LIMITS_KEY) ?? null;
    return {
      ledger: { ...this.store.ledger },
      limits,
      remaining: limits ? remaining(limits, this.store.ledger) : null,
      openReservations: this.store.openReservations(),
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
    const next = this.store.expire(Date.now());
    if (next !== null) this.armAlarm(next);
  }
}
