import { DurableObject } from "cloudflare:workers";
import { hasBudget, type Ledger, type Remaining, remaining, tighter } from "../limits/budget";
import { LedgerStore } from "../limits/ledger-store";
import { WindowLog } from "../limits/window-log";
import { logCapacity, type WindowState, windowStates } from "../limits/windows";
import type { ProjectAdmission, ProjectLiveState } from "../projects/durable";
import { getDb } from "../storage/db";
import {
  type Admission,
  type AdmitInput,
  type Allowance,
  admittedFrom,
  countsRequests,
  decide,
  holdOf,
  type Refused,
  type Settlement,
  TOKEN_NOT_FOUND,
  type TokenConfig,
  tokenLimits,
} from "./admission";
import { loadTokenConfig, mirrorTokenCounters } from "./repo";

/** How long after a request the counters are mirrored to D1 (batched, off the request path). */
const MIRROR_DELAY_MS = 5_000;
/** Default life of a budget reservation whose settle never arrives (see docs/limits.md). */
const DEFAULT_RESERVATION_TTL_SECONDS = 900;

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
};

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

/**
 * One per token, named by the token's hash. Single-threaded, so checking a limit and counting the request
 * happen in one synchronous step (no await between `decide` and the counting): no overshoot whatever the
 * concurrency. The token's configuration is read from D1 once and cached in memory; the management API
 * calls `reload()` after every change, so revocation and new limits apply to the very next request.
 * Counters, rate-window log and reservations live in the object's SQLite storage and survive eviction
 * and reloads.
 */
export class TokenState extends DurableObject<Env> {
  /** undefined: not loaded yet; null: no such token. */
  private config: TokenConfig | null | undefined;
  private readonly store: LedgerStore;
  private readonly log: WindowLog;
  private alarmAt: number | null = null;
  /** The object's clock; tests replace it to walk rate windows through time. */
  clock: () => number = Date.now;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new LedgerStore(ctx.storage);
    this.log = new WindowLog(ctx.storage.sql);
  }

  private async load(): Promise<void> {
    this.config = await loadTokenConfig(getDb(this.env), this.ctx.id.name ?? "");
    // Windows removed or made smaller: drop what no window can look at any more.
    this.log.trim(logCapacity(this.config?.rateLimits ?? null));
  }

  private get reservationTtlMs(): number {
    const seconds = Number(this.env.RESERVATION_TTL_SECONDS);
    return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_RESERVATION_TTL_SECONDS) * 1000;
  }

  private projectObject(projectId: string) {
    return this.env.PROJECT_DO.get(this.env.PROJECT_DO.idFromName(projectId));
  }

  /** Atomically decides whether one more request may pass, and counts it (and holds its budget) if so. */
  async admit(input: AdmitInput): Promise<Admission> {
    if (this.config === undefined) await this.ctx.blockConcurrencyWhile(() => this.load());
    const config = this.config ?? null;
    const now = this.clock();
    if (input.alsoCounted && config) this.addServed(input.alsoCounted, config, now);
    const refusal = decide(config, { ledger: this.store.ledger, windowLog: this.log.times }, input, now);
    if (refusal || !config) return refusal ?? TOKEN_NOT_FOUND;
    if (!countsRequests(config)) {
      // Nothing to check against a count: count in memory (saved by the alarm) and let the isolate reuse it.
      this.store.admit(now, undefined, false);
      this.armAlarm(now + MIRROR_DELAY_MS);
      return admittedFrom(config);
    }

    // Counted synchronously right after the decision: nothing else runs in between.
    const projectLimits = config.project.limits;
    // Budget holds (and the settle call they need) only where a token or cost budget applies.
    const budgeted = hasBudget(tokenLimits(config)) || (projectLimits !== null && hasBudget(projectLimits));
    const hold = budgeted ? holdOf(input.reserve) : null;
    const reservationId = hold ? crypto.randomUUID() : undefined;
    const expiresAt = now + this.reservationTtlMs;
    const capacity = logCapacity(config.rateLimits);
    this.store.admit(
      now,
      hold && reservationId
        ? { id: reservationId, amount: hold, expiresAt, project: projectLimits ? config.projectId : null }
        : undefined,
    );
    const logged = capacity > 0 ? this.log.add(now, capacity) : undefined;
    this.armAlarm(now + MIRROR_DELAY_MS);

    let projectRemaining: Remaining | null = null;
    if (projectLimits) {
      // The one extra round trip of a project-limited token. Other requests may run while it is out: they
      // see this request already counted here, so the token's own limits stay exact (conservative).
      let verdict: ProjectAdmission;
      try {
        verdict = await this.projectObject(config.projectId).admit({
          limits: projectLimits,
          reservationId,
          hold: hold ?? undefined,
          expiresAt,
        });
      } catch (err) {
        this.undo(reservationId, logged);
        throw err;
      }
      if (!verdict.ok) {
        this.undo(reservationId, logged);
        const refused: Refused = {
          ok: false,
          status: 429,
          code: verdict.code,
          message: verdict.message,
          tokenId: config.tokenId,
          projectId: config.projectId,
          allowedOrigins: config.project.allowedOrigins,
        };
        return refused;
      }
      projectRemaining = verdict.remaining;
    }

    const left = tighter(remaining(tokenLimits(config), this.store.ledger), projectRemaining);
    const allowance: Allowance = {
      ...left,
      window: tightest(windowStates(this.log.times, config.rateLimits, now)),
      expiresAt: config.expiresAt,
    };
    return {
      ok: true,
      tokenId: config.tokenId,
      projectId: config.projectId,
      upstream: {
        provider: config.project.provider,
        baseUrl: config.project.baseUrl,
        apiKeyEncrypted: config.project.apiKeyEncrypted,
      },
      allowedOrigins: config.project.allowedOrigins,
      remainingRequests: left.requests,
      reservationId,
      allowance,
    };
  }

  private addServed(n: number, config: TokenConfig, now: number): void {
    this.store.addServed(n, now, countsRequests(config));
    this.armAlarm(now + MIRROR_DELAY_MS);
  }

  /** Counts requests an isolate admitted from its cache when no admission call followed (admission-cache.ts). */
  async countServed(n: number): Promise<void> {
    if (this.config === undefined) await this.ctx.blockConcurrencyWhile(() => this.load());
    if (this.config && n > 0) this.addServed(n, this.config, this.clock());
  }

  private undo(reservationId: string | undefined, logged: number | undefined): void {
    this.store.unadmit(reservationId);
    if (logged !== undefined) this.log.remove(logged);
  }

  /**
   * Settles a budget reservation against the request's real usage (called once per request, on every
   * path, by the usage module). The project's share is settled in the same call.
   */
  async settle(reservationId: string, actual: Settlement): Promise<void> {
    const amount = {
      tokens: actual.totalTokens,
      costUsd: actual.costUsd,
      reported: actual.reported !== false,
    };
    // The project's share first (idempotent there too): if that call fails, the token's hold stays open,
    // so a retried settle still reaches the project.
    const project = this.store.openHoldProject(reservationId);
    if (project) await this.projectObject(project).settle(reservationId, amount);
    this.store.settle(reservationId, amount);
    this.armAlarm(this.clock() + MIRROR_DELAY_MS);
  }

  /** Re-reads the token and its project from D1; called by the management API after every change. */
  async reload(): Promise<void> {
    await this.ctx.blockConcurrencyWhile(() => this.load());
  }

  /** Live counters and remaining allowance, for the management API. */
  async state(): Promise<TokenLiveState> {
    if (this.config === undefined) await this.ctx.blockConcurrencyWhile(() => this.load());
    const config = this.config ?? null;
    const now = this.clock();
    const ledger = { ...this.store.ledger };
    const projectLimits = config?.project.limits ?? null;
    const project = config && projectLimits ? await this.projectObject(config.projectId).state() : null;
    const own = config
      ? remaining(tokenLimits(config), ledger)
      : { requests: null, tokens: null, costUsd: null };
    return {
      requests: ledger.requests,
      lastUsedAt: this.store.lastUsedAt,
      loaded: config !== null,
      ledger,
      windows: windowStates(this.log.times, config?.rateLimits ?? null, now),
      remaining: tighter(own, project?.remaining ?? null),
      ownRemaining: own,
      openReservations: this.store.openReservations(),
      project,
    };
  }

  private armAlarm(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    this.store.flush();
    const next = this.store.expire(this.clock());
    // Under blockConcurrencyWhile like every other load: a reload() (a revocation) arriving meanwhile then
    // runs after this read, never before it, so an older read cannot overwrite a newer one.
    if (this.config === undefined) await this.ctx.blockConcurrencyWhile(() => this.load());
    if (!this.config) {
      // The token was deleted: nothing left to count for.
      await this.ctx.storage.deleteAll();
      return;
    }
    await mirrorTokenCounters(getDb(this.env), this.config.tokenId, {
      ...this.store.ledger,
      lastUsedAt: this.store.lastUsedAt,
    });
    if (next !== null) this.armAlarm(next);
  }
}
