import type { CacheSettingsJson } from "../storage/schema";

/**
 * The endpoints whose answers the cache may keep (paths below /v1, as the proxy's canonical path spells
 * them): OpenAI-dialect inference whose answer is a function of the request body. Anything else (models,
 * files, audio, images, batches, other dialects) is never looked up or stored; another dialect joins by
 * adding its endpoints here and its rules to request.ts.
 */
export const CACHEABLE_ENDPOINTS = [
  "/chat/completions",
  "/completions",
  "/responses",
  "/embeddings",
  "/moderations",
] as const;
export type CacheableEndpoint = (typeof CACHEABLE_ENDPOINTS)[number];

const cacheable: ReadonlySet<string> = new Set(CACHEABLE_ENDPOINTS);
export const isCacheableEndpoint = (path: string): path is CacheableEndpoint => cacheable.has(path);

/** Bounds of a project's TTL: one second (tests, bursts) to thirty days. */
export const MIN_TTL_SECONDS = 1;
export const MAX_TTL_SECONDS = 30 * 86_400;

/**
 * A project's cache as admission and the proxy use it: what the token's Durable Object holds (loaded with
 * the project row, reloaded on every change) and what an isolate remembers per token.
 */
export type CacheSettings = {
  ttlSeconds: number;
  /** Cacheable endpoints the project keeps out of the cache. */
  exclude: string[];
  /** Hits take no slot in the token's rate windows (they still count against max_requests). */
  hitsSkipRateLimits: boolean;
  /** Bumped by every purge; part of every key, so older entries are unreachable at once. */
  generation: number;
};

export function cacheSettingsOf(json: CacheSettingsJson | null, generation: number): CacheSettings | null {
  if (!json) return null;
  return {
    ttlSeconds: json.ttl_seconds,
    exclude: json.exclude ?? [],
    hitsSkipRateLimits: json.hits_skip_rate_limits === true,
    generation,
  };
}

/** What a worker found in the cache, for admission to confirm (see `cacheHitValid` in tokens/decide.ts). */
export type CacheHitClaim = {
  /** The generation the entry was stored under. */
  generation: number;
  /** The endpoint asked (canonical path below /v1). */
  endpoint: string;
  /** When the entry was stored (epoch ms): older than the project's TTL is no hit. */
  storedAt: number;
  /**
   * The version of the project's routing table the entry's key was made with (the isolate's hint): a key
   * holds the upstream route, so after the project's upstreams change an old route's entry is no hit.
   */
  routingVersion?: number;
};

/** Whether a claimed hit holds under these settings at `now`. */
export function hitHolds(settings: CacheSettings | null, claim: CacheHitClaim, now: number): boolean {
  return (
    settings !== null &&
    claim.generation === settings.generation &&
    isCacheableEndpoint(claim.endpoint) &&
    !settings.exclude.includes(claim.endpoint) &&
    now - claim.storedAt < settings.ttlSeconds * 1000 &&
    claim.storedAt <= now + 60_000
  );
}
