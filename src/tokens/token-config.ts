import type { CacheSettings } from "../cache/settings";
import type { Limits } from "../limits/budget";
import { hasRenewing, type RenewingLimits } from "../limits/renewing";
import type { Capability, ObjectScope } from "../ownership/capabilities";
import type { Routing } from "../routing/types";
import type { RateWindow } from "../storage/schema";

// What a token's Durable Object knows about its token and project (loaded from D1 by tokens/config-repo.ts,
// pushed by tokens/notify.ts), and what that configuration implies whatever the request: which limits it
// has, whether the object must count each request. Plain data and pure predicates: admission (admission.ts,
// decide.ts), the object and the isolate's admission cache all read it.

/** What a token's Durable Object knows about the token's project (the same for all its tokens). */
export type ProjectConfig = {
  /** The project row's `updated_at`, which only grows: a pushed copy older than the one held is ignored. */
  version: number;
  isActive: boolean;
  allowedOrigins: string[] | null;
  allowedModels: string[] | null;
  /** The project's caps across all its tokens; null when it has none (no project object is consulted). */
  limits: Limits | null;
  /** The project's renewing caps (budgets per period, token windows); null when it has none. */
  renewing: RenewingLimits | null;
  /** The project's response cache; null or absent when off. */
  cache?: CacheSettings | null;
  /** Account-wide capabilities the project enabled (files, batches, …); none = inference only. */
  capabilities: Capability[];
  /** Who reaches an object a token of the project created (src/ownership/). */
  objectScope: ObjectScope;
  /** Where the project's requests go: upstreams, keys (ciphertexts), aliases. */
  routing: Routing;
};

/** What the token's Durable Object knows about its token and project, loaded from D1. */
export type TokenConfig = {
  tokenId: string;
  projectId: string;
  expiresAt: number;
  isActive: boolean;
  revokedAt: number | null;
  maxRequests: number | null;
  rateLimits: RateWindow[] | null;
  maxTotalTokens: number | null;
  maxCostUsd: number | null;
  allowedModels: string[] | null;
  /** Budgets per calendar period and token windows (src/limits/renewing.ts). */
  renewing: RenewingLimits;
  /**
   * Hashes of the secrets this object accepts for the token: its current secret (no end) and, after a
   * rotation, the previous one until its grace period ends.
   */
  secrets: AcceptedSecret[];
  /** The token may mint child tokens out of its allowance (held in escrow by this object). */
  canMint: boolean;
  /** false: the token was denied its project's response cache (absent: allowed). */
  cacheAllowed?: boolean;
  project: ProjectConfig;
};

export type AcceptedSecret = { hash: string; until: number | null };

/** Whether a token (or its project) restricts models or has a token or cost budget. */
export function isRestricted(c: TokenConfig): boolean {
  return c.allowedModels !== null || c.project.allowedModels !== null || isBudgeted(c);
}

/** Whether renewing limits count tokens (a token budget per period, or a token window) or cost. */
const renewingCounts = (r: RenewingLimits | null | undefined, unit: "tokens" | "cost"): boolean => {
  if (!r) return false;
  if (unit === "tokens" && (r.tokenWindows?.length ?? 0) > 0) return true;
  const field = unit === "tokens" ? "max_tokens" : "max_cost_usd";
  return (r.periodBudgets ?? []).some((b) => b[field] != null);
};

/**
 * Whether a token budget applies (lifetime or per period, the token's own or its project's, or a token
 * window: each must count a request's tokens).
 */
export const hasTokenBudget = (c: TokenConfig): boolean =>
  c.maxTotalTokens !== null ||
  c.project.limits?.maxTotalTokens != null ||
  renewingCounts(c.renewing, "tokens") ||
  renewingCounts(c.project.renewing, "tokens");

/** Whether a cost budget applies (lifetime or per period, the token's own or its project's). */
export const hasCostBudget = (c: TokenConfig): boolean =>
  c.maxCostUsd !== null ||
  c.project.limits?.maxCostUsd != null ||
  renewingCounts(c.renewing, "cost") ||
  renewingCounts(c.project.renewing, "cost");

/** Whether a token or cost budget applies (the token's own or its project's, lifetime or renewing). */
export const isBudgeted = (c: TokenConfig): boolean => hasTokenBudget(c) || hasCostBudget(c);

export const tokenLimits = (c: TokenConfig): Limits => ({
  maxRequests: c.maxRequests,
  maxTotalTokens: c.maxTotalTokens,
  maxCostUsd: c.maxCostUsd,
});

/** Whether admission must count each request in the object (a limit that counts, or project caps). */
export const countsRequests = (c: TokenConfig): boolean =>
  c.maxRequests !== null ||
  c.maxTotalTokens !== null ||
  c.maxCostUsd !== null ||
  (c.rateLimits?.length ?? 0) > 0 ||
  hasRenewing(c.renewing) ||
  c.canMint ||
  c.project.limits !== null ||
  c.project.renewing !== null;

/** The project's cache as the token may use it (null: off, or the token was denied it). */
export const tokenCache = (c: TokenConfig): CacheSettings | null =>
  c.cacheAllowed === false ? null : (c.project.cache ?? null);
