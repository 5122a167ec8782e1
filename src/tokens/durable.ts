import { DurableObject } from "cloudflare:workers";
import { type EscrowAmount, EscrowStore } from "../issuing/escrow-store";
import { userCredential } from "../issuing/identity/user-admission";
import {
  ensureEndUser,
  loadUserConfig,
  loadUserToken,
  mirrorUserCounters,
  type UserConfig,
  type UserToken,
  userObjectKey,
} from "../issuing/identity/user-config";
import { type MintRequest, type MintResult, mintRefusal } from "../issuing/mint";
import { hasBudget, type Ledger, type Remaining, remaining, tighter } from "../limits/budget";
import { LedgerStore } from "../limits/ledger-store";
import { periodRemaining } from "../limits/period-budgets";
import type { PeriodUse } from "../limits/period-store";
import { RenewingCounters, renewingNeedsHold } from "../limits/renewing";
import type { TokenWindowState } from "../limits/token-windows";
import { WindowLog } from "../limits/window-log";
import { logCapacity, type WindowState, windowStates } from "../limits/windows";
import type { ProjectAdmission, ProjectLiveState } from "../projects/durable";
import { getDb } from "../storage/db";
import {
  type Admission,
  type AdmitInput,
  type Allowance,
  admittedFrom,
  type Refused,
  type Settlement,
  TOKEN_NOT_FOUND,
} from "./admission";
import { cacheHitValid, decide, holdOf, routedInput } from "./decide";
import { loadTokenConfig, mirrorTokenCounters, tokenEnded } from "./repo";
import { countsRequests, type ProjectConfig, type TokenConfig, tokenLimits } from "./token-config";

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
/** A child whose requests are still open when its escrow is due is asked again this much later. */
const ESCROW_RETRY_MS = 60_000;

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

/**
 * One per token, named by the hash of the token's first secret — or one per end user of an identity
 * provider, counting for all of that user's tokens and JWTs (src/issuing/identity). Single-threaded, so
 * checking a limit and counting the request happen in one synchronous step (no await between `decide` and
 * the counting): no overshoot whatever the concurrency. The configuration is read from D1 once and cached
 * in memory; the management API calls `reload()` after every change, so revocation and new limits apply to
 * the very next request. Counters, windows, per-period ledgers, reservations and child escrows live in the
 * object's SQLite storage and survive eviction and reloads.
 */
export class TokenState extends DurableObject<Env> {
  /** undefined: not loaded yet; null: no such token or user. For a user's object: the user's limits. */
  private config: TokenConfig | null | undefined;
  /** When `config` was read from D1 (the object's clock): past CONFIG_MAX_AGE_SECONDS it is read again. */
  private loadedAt = 0;
  /** Set when this object counts for an end user rather than a single token. */
  private user: UserConfig | null = null;
  /** The user's tokens seen so far, by secret hash (null: no such token of this user). */
  private readonly userTokens = new Map<string, UserToken | null>();
  private ledgerStore: LedgerStore | undefined;
  private windowLog: WindowLog | undefined;
  private renewingCounters: RenewingCounters | undefined;
  private escrowStore: EscrowStore | undefined;
  private alarmAt: number | null = null;
  /** The object's clock; tests replace it to walk rate windows and periods through time. */
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

  private get renewing(): RenewingCounters {
    this.renewingCounters ??= new RenewingCounters(this.ctx.storage);
    return this.renewingCounters;
  }

  private get escrow(): EscrowStore {
    this.escrowStore ??= new EscrowStore(this.ctx.storage.sql);
    return this.escrowStore;
  }

  private get name(): string {
    return this.ctx.id.name ?? "";
  }

  private async load(): Promise<void> {
    const db = getDb(this.env);
    const token = await loadTokenConfig(db, this.name);
    this.user = token ? null : await loadUserConfig(db, this.name);
    this.config = token ?? this.user?.subject ?? null;
    this.loadedAt = this.clock();
    this.userTokens.clear();
    // Windows removed or made smaller: drop what no window can look at any more.
    if (this.config) this.log.trim(logCapacity(this.config.rateLimits));
  }

  /**
   * The configuration to decide with: loaded on first use, and read again once older than
   * CONFIG_MAX_AGE_SECONDS. Every management change is pushed to the object at once (notify.ts); the age
   * bound is the safety net for a push that never arrived, so no object admits from a stale copy for longer.
   * A JWT used directly, the first time its user is seen anywhere, records the user first (`input`).
   */
  private async current(input?: AdmitInput): Promise<TokenConfig | null> {
    const stale = this.config !== undefined && this.clock() - this.loadedAt > configMaxAgeMs(this.env);
    if (this.config === undefined || stale) {
      await this.ctx.blockConcurrencyWhile(async () => {
        await this.load();
        const c = input?.credential;
        if (this.config === null && c?.kind === "jwt") {
          const created = await ensureEndUserFor(this.env, this.name, c.providerId, c.subject);
          if (created) await this.load();
        }
      });
    }
    return this.config ?? null;
  }

  private get reservationTtlMs(): number {
    const seconds = Number(this.env.RESERVATION_TTL_SECONDS);
    return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_RESERVATION_TTL_SECONDS) * 1000;
  }

  private projectObject(projectId: string) {
    return this.env.PROJECT_DO.get(this.env.PROJECT_DO.idFromName(projectId));
  }

  /** The configuration a request is decided under: the token's, or the user's with the credential's expiry. */
  private async subjectFor(input: AdmitInput, now: number): Promise<TokenConfig | Refused | null> {
    const user = this.user;
    if (!user) return this.config ?? null;
    const credential = input.credential;
    let token: UserToken | null = null;
    if (credential?.kind === "secret") {
      const known = this.userTokens.get(credential.hash);
      if (known !== undefined) token = known;
      else {
        // Serialised with reload(): a revocation landing meanwhile cannot leave a stale copy behind.
        await this.ctx.blockConcurrencyWhile(async () => {
          const again = this.userTokens.get(credential.hash);
          token =
            again !== undefined ? again : await loadUserToken(getDb(this.env), this.name, credential.hash);
          if (this.userTokens.size > 1_000) this.userTokens.clear();
          this.userTokens.set(credential.hash, token);
        });
      }
    }
    return userCredential(this.user ?? user, credential, token, input.model, now);
  }

  /** Atomically decides whether one more request may pass, and counts it (and holds its budget) if so. */
  async admit(asked: AdmitInput): Promise<Admission> {
    const loaded = await this.current(asked);
    const subject = loaded && (await this.subjectFor(asked, this.clock()));
    if (subject && "ok" in subject) return subject;
    if (!subject) return TOKEN_NOT_FOUND;
    const config = subject;
    const now = this.clock();
    if (asked.alsoCounted) this.addServed(asked.alsoCounted, config, now);
    const input = routedInput(config, asked);
    // A user's credential was checked above; a token's is checked by decide().
    const decided = this.user ? { ...input, credential: undefined } : input;
    const renewing = this.renewing.usage(config.renewing, now);
    const ledger = withEscrow(this.store.ledger, this.escrow.totals, this.escrow.count);
    const refusal = decide(config, { ledger, windowLog: this.log.times, renewing }, decided, now);
    if (refusal) return refusal;
    const hit = cacheHitValid(config, input, now);
    const { routing } = config.project;
    // The isolate already holds this version of the routing table: spare serialising it again.
    const routingCopy = asked.routingVersion === routing.version ? undefined : routing;
    if (!countsRequests(config)) {
      // Nothing to check against a count: count in memory (saved by the alarm) and let the isolate reuse it.
      this.store.admit(now, undefined, false);
      this.armAlarm(now + MIRROR_DELAY_MS);
      const admitted = admittedFrom(config, undefined, hit);
      return this.user ? { ...admitted, reusable: undefined, userId: this.user.userId } : admitted;
    }

    // Counted synchronously right after the decision: nothing else runs in between.
    const projectLimits = config.project.limits;
    const projectRenewing = config.project.renewing;
    const projectCapped = projectLimits !== null || projectRenewing !== null;
    // Budget holds (and the settle call they need) only where a token or cost budget or a token window
    // applies; a cache hit costs nothing and holds nothing.
    const budgeted =
      hasBudget(tokenLimits(config)) ||
      renewingNeedsHold(config.renewing) ||
      (projectLimits !== null && hasBudget(projectLimits)) ||
      (projectRenewing !== null && renewingNeedsHold(projectRenewing));
    const hold = budgeted && !hit ? holdOf(input.reserve) : null;
    const reservationId = hold ? crypto.randomUUID() : undefined;
    const expiresAt = now + this.reservationTtlMs;
    const skipWindows = hit && config.project.cache?.hitsSkipRateLimits === true;
    const capacity = skipWindows ? 0 : logCapacity(config.rateLimits);
    this.store.admit(
      now,
      hold && reservationId
        ? { id: reservationId, amount: hold, expiresAt, project: projectCapped ? config.projectId : null }
        : undefined,
    );
    this.renewing.admit(config.renewing, now, reservationId, hold);
    const logged = capacity > 0 ? this.log.add(now, capacity) : undefined;
    this.armAlarm(now + MIRROR_DELAY_MS);
    const undo = () => {
      this.store.unadmit(reservationId);
      this.renewing.unadmit(now, reservationId, hold);
      if (logged !== undefined) this.log.remove(logged);
    };

    let projectRemaining: Remaining | null = null;
    if (projectCapped) {
      // The one extra round trip of a project-limited token. Other requests may run while it is out: they
      // see this request already counted here, so the token's own limits stay exact (conservative).
      let verdict: ProjectAdmission;
      try {
        verdict = await this.projectObject(config.projectId).admit({
          limits: projectLimits ?? { maxRequests: null, maxTotalTokens: null, maxCostUsd: null },
          renewing: projectRenewing ?? undefined,
          reservationId,
          hold: hold ?? undefined,
          expiresAt,
        });
      } catch (err) {
        undo();
        throw err;
      }
      if (!verdict.ok) {
        undo();
        const { ok: _ok, ...why } = verdict;
        const refused: Refused = {
          ok: false,
          status: 429,
          ...why,
          tokenId: config.tokenId,
          projectId: config.projectId,
          allowedOrigins: config.project.allowedOrigins,
        };
        return refused;
      }
      projectRemaining = verdict.remaining;
    }

    let left = remaining(tokenLimits(config), ledger);
    for (const r of periodRemaining(config.renewing.periodBudgets, renewing?.periods ?? []))
      left = tighter(left, r);
    left = tighter(left, projectRemaining);
    const allowance: Allowance = {
      ...left,
      window: tightest(windowStates(this.log.times, config.rateLimits, now)),
      expiresAt: config.expiresAt,
    };
    const admitted = {
      ...admittedFrom(config, { remainingRequests: left.requests, reservationId, allowance }, hit),
      // The isolate already holds this version of the routing table: spare serialising it again.
      routing: routingCopy,
    };
    return this.user ? { ...admitted, userId: this.user.userId } : admitted;
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
    const row = this.store.row(reservationId);
    this.store.settle(reservationId, amount);
    this.renewing.settled(row, amount);
    this.armAlarm(this.clock() + MIRROR_DELAY_MS);
  }

  /**
   * Carves child tokens out of this token's allowance: checks the parent may (active, allowed to mint, the
   * children's budgets fit what is left) and holds their budgets in escrow, in one synchronous step.
   */
  async mint(request: MintRequest): Promise<MintResult> {
    const loaded = await this.current();
    const now = this.clock();
    const config = this.user ? null : loaded;
    const ledger = withEscrow(this.store.ledger, this.escrow.totals, this.escrow.count);
    const refusal = mintRefusal(config, ledger, request, now);
    if (refusal || !config) return refusal ?? TOKEN_NOT_FOUND;
    const ttl = this.reservationTtlMs;
    this.escrow.add(request.children.map((c) => ({ ...c, releaseAt: c.expiresAt + ttl })));
    const next = this.escrow.nextAt();
    if (next !== null) this.armAlarm(next);
    return { ok: true, tokenId: config.tokenId, projectId: config.projectId };
  }

  /** A child ended early (revoked): its escrow is settled once its last requests can have settled. */
  async childEnded(childId: string): Promise<void> {
    const at = this.clock() + this.reservationTtlMs;
    const e = this.escrow.get(childId);
    if (!e || e.releaseAt <= at) return;
    this.escrow.reschedule(childId, at);
    this.armAlarm(at);
  }

  /** Drops escrows of children that were never created (their D1 insert failed). */
  async cancelEscrow(childIds: string[]): Promise<void> {
    for (const id of childIds) this.escrow.remove(id);
  }

  /**
   * Settles escrows that are due: the child's real use (read from its object, which holds the final
   * count) is charged to this token and the rest of its allowance returns. A child never used returns all;
   * a child whose record is gone is charged in full (what it might have spent, never less).
   */
  private async releaseEscrows(now: number): Promise<void> {
    for (const e of this.escrow.due(now)) {
      const child = await tokenEnded(getDb(this.env), e.childId);
      let used: EscrowAmount;
      if (!child) used = e;
      else if (child.firstUsedAt === null) used = { requests: 0, tokens: 0, costNanos: 0 };
      else {
        const live = await this.env.TOKEN_DO.get(this.env.TOKEN_DO.idFromName(child.objectKey)).state();
        if (live.openReservations > 0) {
          this.escrow.reschedule(e.childId, now + ESCROW_RETRY_MS);
          continue;
        }
        used = {
          requests: live.ledger.requests,
          tokens: live.ledger.tokensUsed,
          costNanos: live.ledger.costUsedNanos,
        };
      }
      if (this.escrow.remove(e.childId)) this.store.charge(used);
    }
  }

  /** Re-reads the token (or user) and its project from D1; called by the management API after a change to one token. */
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
    if (change.kind === "revoke" && this.user) {
      // One of the user's tokens was revoked, not the user: the object reads which from D1.
      await this.ctx.blockConcurrencyWhile(() => this.load());
    } else if (change.kind === "revoke") {
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
    const projectCapped = config && (config.project.limits !== null || config.project.renewing !== null);
    const project = config && projectCapped ? await this.projectObject(config.projectId).state() : null;
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
      // The token (or user) was deleted: nothing left to count for.
      await this.ctx.storage.deleteAll();
      this.ledgerStore = undefined;
      this.windowLog = undefined;
      this.renewingCounters = undefined;
      this.escrowStore = undefined;
      return;
    }
    this.store.flush();
    const now = this.clock();
    const next = this.store.expire(now, (row) => this.renewing.expired(row));
    await this.releaseEscrows(now);
    const counters = { ...this.store.ledger, lastUsedAt: this.store.lastUsedAt };
    if (this.user) await mirrorUserCounters(getDb(this.env), this.user.userId, counters);
    else await mirrorTokenCounters(getDb(this.env), config.tokenId, counters);
    const escrowAt = this.escrow.nextAt();
    const at = [next, escrowAt].filter((t): t is number => t !== null);
    if (at.length > 0) this.armAlarm(Math.min(...at));
  }
}

/** Records the user a verified JWT names, if its provider still exists; whether a row now exists. */
async function ensureEndUserFor(
  env: Env,
  objectKey: string,
  providerId: string,
  subject: string,
): Promise<boolean> {
  const db = getDb(env);
  const provider = await db.query.identityProviders.findFirst({ where: (p, { eq }) => eq(p.id, providerId) });
  if (!provider) return false;
  // The name must be the one this user's JWTs lead to: a caller cannot bind a user to another object.
  if ((await userObjectKey(provider.projectId, provider.issuer, subject)) !== objectKey) return false;
  await ensureEndUser(db, { projectId: provider.projectId, providerId, subject, objectKey });
  return true;
}
