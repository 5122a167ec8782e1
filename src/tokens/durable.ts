import { DurableObject } from "cloudflare:workers";
import type { EscrowAmount } from "../issuing/escrow-store";
import { mirrorUserCounters } from "../issuing/identity/user-config";
import { type MintRequest, type MintResult, mintRefusal } from "../issuing/mint";
import { hasBudget, type Remaining } from "../limits/budget";
import type { Settlement } from "../limits/charge";
import { renewingNeedsHold } from "../limits/renewing";
import { logCapacity } from "../limits/windows";
import type { ProjectAdmission } from "../projects/durable";
import { getDb } from "../storage/db";
import { type Admission, type AdmitInput, admittedFrom, type Refused, TOKEN_NOT_FOUND } from "./admission";
import { cacheHitValid, decide, holdOf, routedInput } from "./decide";
import { type ConfigChange, ConfigCopy } from "./durable-config";
import { TokenCounters, type TokenLiveState } from "./durable-counters";
import { mirrorTokenCounters, tokenEnded } from "./object-repo";
import { countsRequests, type TokenConfig, tokenLimits } from "./token-config";

/** How long after a request the counters are mirrored to D1 (batched, off the request path). */
const MIRROR_DELAY_MS = 5_000;
/** Default life of a budget reservation whose settle never arrives (see docs/limits.md). */
const DEFAULT_RESERVATION_TTL_SECONDS = 900;
/** A child whose requests are still open when its escrow is due is asked again this much later. */
const ESCROW_RETRY_MS = 60_000;

/**
 * One per token, named by the hash of the token's first secret — or one per end user of an identity
 * provider, counting for all of that user's tokens and JWTs (src/issuing/identity). Single-threaded, so
 * checking a limit and counting the request happen in one synchronous step (no await between `decide` and
 * the counting): no overshoot whatever the concurrency. The configuration is read from D1 once and cached
 * in memory (durable-config.ts); the management API calls `reload()` after every change, so revocation and
 * new limits apply to the very next request. Counters, windows, per-period ledgers, reservations and child
 * escrows live in the object's SQLite storage (durable-counters.ts) and survive eviction and reloads. This
 * class is the object's RPC surface and its round trips: D1, the project's object, children's objects.
 */
export class TokenState extends DurableObject<Env> {
  /** The object's clock; tests replace it to walk rate windows and periods through time. */
  clock: () => number = Date.now;
  /** What the object counted, in its SQLite storage (read and written synchronously). */
  private readonly counters = new TokenCounters(this.ctx.storage);
  /** The token's (or user's) configuration as last read from D1 or pushed; every reload trims the windows. */
  private readonly held = new ConfigCopy(this.ctx, this.env, this, (config) =>
    this.counters.trimWindows(config),
  );
  private alarmAt: number | null = null;

  private get reservationTtlMs(): number {
    const seconds = Number(this.env.RESERVATION_TTL_SECONDS);
    return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_RESERVATION_TTL_SECONDS) * 1000;
  }

  private projectObject(projectId: string) {
    return this.env.PROJECT_DO.get(this.env.PROJECT_DO.idFromName(projectId));
  }

  /** Atomically decides whether one more request may pass, and counts it (and holds its budget) if so. */
  async admit(asked: AdmitInput): Promise<Admission> {
    const loaded = await this.held.current(asked);
    const subject = loaded && (await this.held.subjectFor(asked, this.clock()));
    if (subject && "ok" in subject) return subject;
    if (!subject) return TOKEN_NOT_FOUND;
    const config = subject;
    const now = this.clock();
    if (asked.alsoCounted) this.addServed(asked.alsoCounted, config, now);
    const input = routedInput(config, asked);
    // A user's credential was checked above; a token's is checked by decide().
    const decided = this.held.user ? { ...input, credential: undefined } : input;
    const usage = this.counters.usage(config.renewing, now);
    const refusal = decide(config, usage, decided, now);
    if (refusal) return refusal;
    const hit = cacheHitValid(config, input, now);
    const { routing } = config.project;
    // The isolate already holds this version of the routing table: spare serialising it again.
    const routingCopy = asked.routingVersion === routing.version ? undefined : routing;
    if (!countsRequests(config)) {
      // Nothing to check against a count: count in memory (saved by the alarm) and let the isolate reuse it.
      this.counters.store.admit(now, undefined, false);
      this.armAlarm(now + MIRROR_DELAY_MS);
      const admitted = admittedFrom(config, undefined, hit);
      const user = this.held.user;
      return user ? { ...admitted, reusable: undefined, userId: user.userId } : admitted;
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
    const undo = this.counters.count(
      config.renewing,
      now,
      hold,
      hold && reservationId
        ? { id: reservationId, amount: hold, expiresAt, project: projectCapped ? config.projectId : null }
        : undefined,
      capacity,
    );
    this.armAlarm(now + MIRROR_DELAY_MS);

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

    const allowance = this.counters.allowance(config, usage, projectRemaining, now);
    const admitted = {
      ...admittedFrom(config, { remainingRequests: allowance.requests, reservationId, allowance }, hit),
      // The isolate already holds this version of the routing table: spare serialising it again.
      routing: routingCopy,
    };
    const user = this.held.user;
    return user ? { ...admitted, userId: user.userId } : admitted;
  }

  private addServed(n: number, config: TokenConfig, now: number): void {
    this.counters.store.addServed(n, now, countsRequests(config));
    this.armAlarm(now + MIRROR_DELAY_MS);
  }

  /** Counts requests an isolate admitted from its cache when no admission call followed (admission-cache.ts). */
  async countServed(n: number): Promise<void> {
    const config = await this.held.current();
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
    const project = this.counters.store.openHoldProject(reservationId);
    if (project) await this.projectObject(project).settle(reservationId, amount);
    this.counters.settle(reservationId, amount);
    this.armAlarm(this.clock() + MIRROR_DELAY_MS);
  }

  /**
   * Carves child tokens out of this token's allowance: checks the parent may (active, allowed to mint, the
   * children's budgets fit what is left) and holds their budgets in escrow, in one synchronous step.
   */
  async mint(request: MintRequest): Promise<MintResult> {
    const loaded = await this.held.current();
    const now = this.clock();
    const config = this.held.user ? null : loaded;
    const refusal = mintRefusal(config, this.counters.decidingLedger(), request, now);
    if (refusal || !config) return refusal ?? TOKEN_NOT_FOUND;
    const ttl = this.reservationTtlMs;
    const escrow = this.counters.escrow;
    escrow.add(request.children.map((c) => ({ ...c, releaseAt: c.expiresAt + ttl })));
    const next = escrow.nextAt();
    if (next !== null) this.armAlarm(next);
    return { ok: true, tokenId: config.tokenId, projectId: config.projectId };
  }

  /** A child ended early (revoked): its escrow is settled once its last requests can have settled. */
  async childEnded(childId: string): Promise<void> {
    const at = this.clock() + this.reservationTtlMs;
    const e = this.counters.escrow.get(childId);
    if (!e || e.releaseAt <= at) return;
    this.counters.escrow.reschedule(childId, at);
    this.armAlarm(at);
  }

  /** Drops escrows of children that were never created (their D1 insert failed). */
  async cancelEscrow(childIds: string[]): Promise<void> {
    for (const id of childIds) this.counters.escrow.remove(id);
  }

  /**
   * Settles escrows that are due: the child's real use (read from its object, which holds the final
   * count) is charged to this token and the rest of its allowance returns. A child never used returns all;
   * a child whose record is gone is charged in full (what it might have spent, never less).
   */
  private async releaseEscrows(now: number): Promise<void> {
    for (const e of this.counters.escrow.due(now)) {
      const child = await tokenEnded(getDb(this.env), e.childId);
      let used: EscrowAmount;
      if (!child) used = e;
      else if (child.firstUsedAt === null) used = { requests: 0, tokens: 0, costNanos: 0 };
      else {
        const live = await this.env.TOKEN_DO.get(this.env.TOKEN_DO.idFromName(child.objectKey)).state();
        if (live.openReservations > 0) {
          this.counters.escrow.reschedule(e.childId, now + ESCROW_RETRY_MS);
          continue;
        }
        used = {
          requests: live.ledger.requests,
          tokens: live.ledger.tokensUsed,
          costNanos: live.ledger.costUsedNanos,
        };
      }
      if (this.counters.escrow.remove(e.childId)) this.counters.store.charge(used);
    }
  }

  /** Re-reads the token (or user) and its project from D1; called by the management API after a change to one token. */
  async reload(): Promise<void> {
    await this.held.reload();
  }

  /** Applies a change the management API pushes to many tokens at once (notify.ts; see ConfigCopy.apply). */
  async apply(change: ConfigChange): Promise<void> {
    // A deleted token (or user) leaves nothing to count for: the alarm clears the object's storage.
    if (change.kind === "deleted" && this.held.config && this.counters.opened) this.armAlarm(this.clock());
    await this.held.apply(change);
  }

  /** Live counters and remaining allowance, for the management API. */
  async state(): Promise<TokenLiveState> {
    const config = await this.held.current();
    const now = this.clock();
    const ledger = { ...this.counters.store.ledger };
    const projectCapped = config && (config.project.limits !== null || config.project.renewing !== null);
    const project = config && projectCapped ? await this.projectObject(config.projectId).state() : null;
    return this.counters.live(config, ledger, project, now);
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
    const config = await this.held.current();
    if (!config) {
      // The token (or user) was deleted: nothing left to count for.
      await this.ctx.storage.deleteAll();
      this.counters.reset();
      return;
    }
    this.counters.store.flush();
    const now = this.clock();
    const next = this.counters.expire(now);
    await this.releaseEscrows(now);
    const { ledger, lastUsedAt } = this.counters.store;
    const counters = { ...ledger, lastUsedAt };
    const user = this.held.user;
    if (user) await mirrorUserCounters(getDb(this.env), user.userId, counters);
    else await mirrorTokenCounters(getDb(this.env), config.tokenId, counters);
    const escrowAt = this.counters.escrow.nextAt();
    const at = [next, escrowAt].filter((t): t is number => t !== null);
    if (at.length > 0) this.armAlarm(Math.min(...at));
  }
}
