import { DurableObject } from "cloudflare:workers";
import { getDb } from "../storage/db";
import {
  type Admission,
  type AdmitInput,
  decide,
  type Settlement,
  type TokenConfig,
  type TokenCounters,
} from "./admission";
import { loadTokenConfig, mirrorTokenCounters } from "./repo";

const COUNTERS_KEY = "counters";
/** How long after a request the counters are mirrored to D1 (batched, off the request path). */
const MIRROR_DELAY_MS = 5_000;

export type TokenLiveState = TokenCounters & { loaded: boolean };

/**
 * One per token, named by the token's hash. Single-threaded, so checking a limit and counting the request
 * happen in one synchronous step: no overshoot whatever the concurrency. The token's configuration is read
 * from D1 once and cached in memory; the management API calls `reload()` after every change, so
 * revocation and new limits apply to the very next request.
 */
export class TokenState extends DurableObject<Env> {
  /** undefined: not loaded yet; null: no such token. */
  private config: TokenConfig | null | undefined;
  private counters: TokenCounters;
  private mirrorPending = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.counters = ctx.storage.kv.get<TokenCounters>(COUNTERS_KEY) ?? { requests: 0, lastUsedAt: null };
  }

  private async load(): Promise<void> {
    this.config = await loadTokenConfig(getDb(this.env), this.ctx.id.name ?? "");
  }

  /** Atomically decides whether one more request may pass, and counts it if so. */
  async admit(input: AdmitInput): Promise<Admission> {
    if (this.config === undefined) await this.ctx.blockConcurrencyWhile(() => this.load());
    const config = this.config ?? null;
    const now = Date.now();
    const refusal = decide(config, this.counters, input, now);
    if (refusal || !config)
      return refusal ?? { ok: false, status: 401, code: "token_not_found", message: "" };

    this.counters = { requests: this.counters.requests + 1, lastUsedAt: now };
    this.ctx.storage.kv.put(COUNTERS_KEY, this.counters);
    this.scheduleMirror(now);
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
      remainingRequests: config.maxRequests === null ? null : config.maxRequests - this.counters.requests,
    };
  }

  /** Settles a budget reservation against the request's real usage (limits work: budgets). */
  async settle(_reservationId: string, _actual: Settlement): Promise<void> {}

  /** Re-reads the token and its project from D1; called by the management API after every change. */
  async reload(): Promise<void> {
    await this.ctx.blockConcurrencyWhile(() => this.load());
  }

  /** Live counters for the management API. */
  async state(): Promise<TokenLiveState> {
    return { ...this.counters, loaded: this.config !== undefined };
  }

  private scheduleMirror(now: number): void {
    if (this.mirrorPending) return;
    this.mirrorPending = true;
    void this.ctx.storage.setAlarm(now + MIRROR_DELAY_MS);
  }

  override async alarm(): Promise<void> {
    this.mirrorPending = false;
    if (this.config === undefined) await this.load();
    if (!this.config) {
      // The token was deleted: nothing left to count for.
      await this.ctx.storage.deleteAll();
      return;
    }
    await mirrorTokenCounters(getDb(this.env), this.config.tokenId, this.counters);
  }
}
