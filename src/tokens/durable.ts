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
  cacheHitValid,
  countsRequests,
  decide,
  holdOf,
  type ProjectConfig,
  type Refused,
  routedInput,
  type Settlement,
  TOKEN_NOT_FOUND,
  type TokenConfig,
  tokenLimits,
} from "./admission";
import { loadTokenConfig, mirrorTokenCounters } from "./repo";

/** A change the management API pushes to token objects (see `apply`). */
export type ConfigChange =
  | { kind: "revoke"; at: number }
  | { kind: "deleted" }
  /** Read the configuration from D1 again (a change not expressed as data, e.g. a re-encrypted key). */
  | { kind: "reload" }
  | { kind: "project"; project: ProjectConfig };

const DEFAULT_CONFIG_MAX_AGE_SECONDS = 60;

/** CONFIG_MAX_AGE_SECONDS in ms (default 60 s, at least 1 s). */
export function configMaxAgeMs(env: Env): number {
  const seconds = Number(env.CONFIG_MAX_AGE_SECONDS);
  return (Number.isFinite(seconds) && seconds >= 1 ? seconds : DEFAULT_CONFIG_MAX_AGE_SECONDS) * 1000;
}

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
  /** When `config` was read from D1 (the object's clock): past CONFIG_MAX_AGE_SECONDS it is read again. */
  private loadedAt = 0;
  private ledgerStore: LedgerStore | undefined;
  private windowLog: WindowLog | undefined;
  private alarmAt: number | null = null;
  /** The object's clock; tests replace it to walk rate windows through time. */
  clock: () => number = Date.now;

  /**
   * The object's tables, created on first use by a token that exists: an unknown token's object (a
   * deleted token's, or one named by a hash that never was a token) writes nothing to storage.
   */
  private get store(): LedgerStore {
    this.ledgerStore ??= new LedgerStore(this.ctx.storage);
    return this.ledgerStore;
  }

  private get log(): WindowLog {
    this.windowLog ??= new WindowLog(this.ctx.storage.sql);
    return this.windowLog;
  }

  private async load(): Promise<void> {
    this.config = await loadTokenConfig(getDb(this.env), this.ctx.id.name ?? "");
    this.loadedAt = this.clock();
    // Windows removed or made smaller: drop what no window can look at any more.
    if (this.config) this.log.trim(logCapacity(this.config.rateLimits));
  }

  /**
   * The configuration to decide with: loaded on first use, and read again once older than
   * CONFIG_MAX_AGE_SECONDS. Every management change is pushed to the object at once (notify.ts); the age
   * bound is the safety net for a push that never arrived, so no object admits from a stale copy for longer.
   */
  private async current(): Promise<TokenConfig | null> {
    const stale = this.config !== undefined && this.clock() - this.loadedAt > configMaxAgeMs(this.env);
    if (this.config === undefined || stale) await this.ctx.blockConcurrencyWhile(() => this.load());
    return this.config ?? null;
  }

  private get reservationTtlMs(): number {
    const seconds = Number(this.env.RESERVATION_TTL_SECONDS);
    return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_RESERVATION_TTL_SECONDS) * 1000;
  }

  private projectObject(projectId: string) {
    return this.env.PROJECT_DO.get(this.env.PROJECT_DO.idFromName(projectId));
  }

  /** Atomically decides whether one more request may pass, and counts it (and holds its budget) if so. */
  async admit(asked: AdmitInput): Promise<Admission> {
    const config = await this.current();
    if (!config) return TOKEN_NOT_FOUND;
    const now = this.clock();
    if (asked.alsoCounted) this.addServed(asked.alsoCounted, config, now);
    const input = routedInput(config, asked);
    const refusal = decide(config, { ledger: this.store.ledger, windowLog: this.log.times }, input, now);
    if (refusal) return refusal;
    const hit = cacheHitValid(config, input, now);
    const { routing } = config.project;
    // The isolate already holds this version of the routing table: spare serialising it again.
    const routingCopy = asked.routingVersion === routing.version ? undefined : routing;
    if (!countsRequests(config)) {
      // Nothing to check against a count: count in memory (saved by the alarm) and let the isolate reuse it.
      this.store.admit(now, undefined, false);
      this.armAlarm(now + MIRROR_DELAY_MS);
      return admittedFrom(config, undefined, hit);
    }

    // Counted synchronously right after the decision: nothing else runs in between.
    const projectLimits = config.project.limits;
    // Budget holds (and the settle call they need) only where a token or cost budget applies; a cache hit
    // costs nothing and holds nothing.
    const budgeted = hasBudget(tokenLimits(config)) || (projectLimits !== null && hasBudget(projectLimits));
    const hold = budgeted && !hit ? holdOf(input.reserve) : null;
    const reservationId = hold ? crypto.randomUUID() : undefined;
    const expiresAt = now + this.reservationTtlMs;
    const skipWindows = hit && config.project.cache?.hitsSkipRateLimits === true;
    const capacity = skipWindows ? 0 : logCapacity(config.rateLimits);
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
      ...admittedFrom(config, { remainingRequests: left.requests, reservationId, allowance }, hit),
      // The isolate already holds this version of the routing table: spare serialising it again.
      routing: routingCopy,
    };
  }

  private addServed(n: number, config: TokenConfig, now: number): void {
    this.store.addServed(n, now, countsRequests(config));
    this.armAlarm(now + MIRROR_DELAY_MS);
  }

  /** Counts requests an isolate admitted from its cache when no admission call followed (admission-cache.ts). */
  async countServed(n: number): Promise<void> {
    const config = await this.current();
    if (config && n > 0) this.addServed(n, config, this.clock());
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

  /** Re-reads the token and its project from D1; called by the management API after a change to one token. */
  async reload(): Promise<void> {
    await this.ctx.blockConcurrencyWhile(() => this.load());
  }

  /**
   * Applies a change the management API pushes to many tokens at once (notify.ts), without reading D1:
   * revoking every token of a project, or a new version of the project (deactivated, deleted, other
   * limits, key or models). An object that has not loaded its configuration yet ignores it (its first
   * load reads D1, which already holds the change); a project version older than the one held is ignored
   * (pushes may arrive out of order; versions only grow, see projects/repo.ts).
   */
  async apply(change: ConfigChange): Promise<void> {
    const config = this.config;
    if (!config) return;
    if (change.kind === "revoke") {
      config.isActive = false;
      config.revokedAt ??= change.at;
    } else if (change.kind === "reload") {
      await this.ctx.blockConcurrencyWhile(() => this.load());
    } else if (change.kind === "deleted") {
      this.config = null;
      // Nothing left to count for: the alarm clears the object's storage.
      if (this.ledgerStore) this.armAlarm(this.clock());
    } else if (change.project.version > config.project.version) {
      config.project = change.project;
    }
  }

  /** Live counters and remaining allowance, for the management API. */
  async state(): Promise<TokenLiveState> {
    const config = await this.current();
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
    // Under blockConcurrencyWhile like every other load: a reload() (a revocation) arriving meanwhile then
    // runs after this read, never before it, so an older read cannot overwrite a newer one.
    const config = await this.current();
    if (!config) {
      // The token was deleted: nothing left to count for.
      await this.ctx.storage.deleteAll();
      this.ledgerStore = undefined;
      this.windowLog = undefined;
      return;
    }
    this.store.flush();
    const next = this.store.expire(this.clock());
    await mirrorTokenCounters(getDb(this.env), config.tokenId, {
      ...this.store.ledger,
      lastUsedAt: this.store.lastUsedAt,
    });
    if (next !== null) this.armAlarm(next);
  }
}
