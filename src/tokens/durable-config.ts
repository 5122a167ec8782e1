import { userCredential } from "../issuing/identity/user-admission";
import {
  ensureEndUserFor,
  loadUserConfig,
  loadUserToken,
  type UserConfig,
  type UserToken,
} from "../issuing/identity/user-config";
import { getDb } from "../storage/db";
import type { AdmitInput, Refused } from "./admission";
import { loadTokenConfig } from "./config-repo";
import type { ProjectConfig, TokenConfig } from "./token-config";

// The token object's copy of its configuration: read from D1 on first use, kept in memory, refreshed by
// the management API's pushes (notify.ts) and, as a safety net, by age. Apart from the object's counting
// (durable-counters.ts) because it changes for other reasons: D1 reads, pushes, end users' credentials.

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

/**
 * One per token object. Every read of D1 runs under the object's `blockConcurrencyWhile`, so a reload (a
 * revocation) arriving meanwhile runs after it, never before: an older read never overwrites a newer one.
 */
export class ConfigCopy {
  /** undefined: not loaded yet; null: no such token or user. For a user's object: the user's limits. */
  config: TokenConfig | null | undefined;
  /** When `config` was read from D1 (the object's clock): past CONFIG_MAX_AGE_SECONDS it is read again. */
  private loadedAt = 0;
  /** Set when this object counts for an end user rather than a single token. */
  user: UserConfig | null = null;
  /** The user's tokens seen so far, by secret hash (null: no such token of this user). */
  private readonly userTokens = new Map<string, UserToken | null>();

  /**
   * `owner.clock` is read at each use, not captured: tests replace the object's clock to walk windows and
   * periods through time. `loaded` runs after every read of a configuration that exists.
   */
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly owner: { readonly clock: () => number },
    private readonly loaded: (config: TokenConfig) => void,
  ) {}

  private get name(): string {
    return this.ctx.id.name ?? "";
  }

  private async load(): Promise<void> {
    const db = getDb(this.env);
    const token = await loadTokenConfig(db, this.name);
    this.user = token ? null : await loadUserConfig(db, this.name);
    this.config = token ?? this.user?.subject ?? null;
    this.loadedAt = this.owner.clock();
    this.userTokens.clear();
    if (this.config) this.loaded(this.config);
  }

  /**
   * The configuration to decide with: loaded on first use, and read again once older than
   * CONFIG_MAX_AGE_SECONDS. Every management change is pushed to the object at once (notify.ts); the age
   * bound is the safety net for a push that never arrived, so no object admits from a stale copy for longer.
   * A JWT used directly, the first time its user is seen anywhere, records the user first (`input`).
   */
  async current(input?: AdmitInput): Promise<TokenConfig | null> {
    const stale = this.config !== undefined && this.owner.clock() - this.loadedAt > configMaxAgeMs(this.env);
    if (this.config === undefined || stale) {
      await this.ctx.blockConcurrencyWhile(async () => {
        await this.load();
        const c = input?.credential;
        if (this.config === null && c?.kind === "jwt") {
          const created = await ensureEndUserFor(getDb(this.env), this.name, c.providerId, c.subject);
          if (created) await this.load();
        }
      });
    }
    return this.config ?? null;
  }

  /** The configuration a request is decided under: the token's, or the user's with the credential's expiry. */
  async subjectFor(input: AdmitInput, now: number): Promise<TokenConfig | Refused | null> {
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

  /** Re-reads the token (or user) and its project from D1. */
  async reload(): Promise<void> {
    await this.ctx.blockConcurrencyWhile(() => this.load());
  }

  /**
   * Applies a change the management API pushes to many tokens at once (notify.ts), without reading D1:
   * revoking every token of a project, or a new version of the project (deactivated, deleted, other
   * limits, key or models). A copy not loaded yet ignores it (its first load reads D1, which already holds
   * the change); a project version older than the one held is ignored (pushes may arrive out of order;
   * versions only grow, see projects/repo.ts).
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
    } else if (change.project.version > config.project.version) {
      config.project = change.project;
    }
  }
}
