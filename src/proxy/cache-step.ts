import type { CachedAnswer } from "../cache/entry";
import { cacheKey } from "../cache/key";
import { CACHE_HEADER, type CacheMode, cacheMode, canonicalBody, uncacheableReason } from "../cache/request";
import {
  type CacheableEndpoint,
  type CacheHitClaim,
  type CacheSettings,
  isCacheableEndpoint,
} from "../cache/settings";
import { type Found, lookup, maxEntryBytes } from "../cache/tiers";
import { BoundedMap } from "../lib/bounded-map";
import { NO_ROUTES } from "../routing/config";
import type { Routing } from "../routing/types";
import type { Admitted } from "../tokens/admission";
import type { CacheStatus } from "../usage/event";
import type { JsonBody } from "./body";
import type { ProxyRoute } from "./dialect";

// The response cache on the proxy's path (the cache itself is src/cache/). A project without the cache pays
// a Set lookup and a Map lookup per request here, nothing else.
//
// Order of events for a request to a cacheable endpoint of a project with the cache on:
// 1. If this isolate already knows the token's project (a hint from an earlier admission), the entry is
//    looked up *before* admission, and a found entry is claimed in the admission call: the token's object
//    (or the isolate's reuse of its answer) checks the claim against the project's current settings and
//    generation and admits the request as a hit — counted, no budget held, no rate-window slot where the
//    project exempts hits. One Durable Object call at most, no D1, no upstream.
// 2. Otherwise the request is admitted as any other, then looked up: a hit found now is still served (its
//    reservation is settled at zero afterwards, like every settle: off the hot path).
// 3. A miss goes upstream with the body the key was computed from, and its answer is stored when it is
//    cacheable (200, complete, no error, not too large).

/**
 * What this isolate learnt of a token's project at its last admission, to look up before the next one. It
 * may be stale (a purge, a settings change): admission checks every claim made with it against the
 * project's current settings, so a stale hint costs a wasted lookup, never a wrong hit.
 */
type Hint = { projectId: string; settings: CacheSettings; route: string };
const hints = new BoundedMap<string, Hint>(10_000);

const routes = new WeakMap<Routing, string>();

/**
 * Where a request may go, as far as the cache is concerned: the project's routing table without its keys —
 * each upstream's provider, base URL, models and settings (Azure's deployments and API version, Anthropic's
 * version… change the answer) and the aliases. Any change to them changes every key; a key rotated does not.
 * Computed once per table object (an isolate keeps one per project and version).
 */
export function upstreamRouteOf(admitted: Admitted): string {
  const routing = admitted.routing ?? NO_ROUTES;
  let route = routes.get(routing);
  if (route === undefined) {
    route = JSON.stringify([
      routing.upstreams.map((u) => [u.name, u.provider, u.baseUrl, u.models, u.settings ?? null]),
      routing.aliases,
    ]);
    routes.set(routing, route);
  }
  return route;
}

/** What, besides the request itself, a key is made of. */
const scopeOf = (projectId: string, settings: CacheSettings, route: string) =>
  `${projectId}\n${settings.generation}\n${route}`;

/** Where the upstream's answer is to be stored, once it is known to be cacheable. */
export type StoreTarget = { key: string; ttlSeconds: number; maxBytes: number };

/** A POSTed JSON request to a cacheable endpoint, as it goes through the proxy's steps. */
export class CacheCandidate {
  status: CacheStatus | null = null;
  /** Set on a miss or refresh: the answer goes there if cacheable. */
  target: StoreTarget | null = null;
  private modeCache: CacheMode | undefined;
  private canonical: string | null | undefined;
  /** The lookup made so far: its key, the scope the key was made in (project, generation, route), what it found. */
  private looked: { key: string; scope: string; found: Found | null } | undefined;

  constructor(
    private readonly request: Request,
    private readonly endpoint: CacheableEndpoint,
    private readonly search: string,
    private readonly json: Record<string, unknown>,
    private readonly tokenHash: string,
    private readonly hint: Hint | undefined,
  ) {}

  private get mode(): CacheMode {
    this.modeCache ??= cacheMode(this.request.headers);
    return this.modeCache;
  }

  /** Whether the body cannot be cached (`store: true`, background, too deep…); computes its canonical form. */
  private uncacheable(): boolean {
    if (this.canonical === undefined) {
      this.canonical =
        uncacheableReason(this.endpoint, this.json) === null ? canonicalBody(this.endpoint, this.json) : null;
    }
    return this.canonical === null;
  }

  private key(projectId: string, settings: CacheSettings, route: string): Promise<string> {
    // The same scope as the lookup before admission: the same key (no second hash).
    const looked = this.looked;
    if (looked && looked.scope === scopeOf(projectId, settings, route)) return Promise.resolve(looked.key);
    return cacheKey({
      projectId,
      generation: settings.generation,
      route,
      method: this.request.method,
      path: this.endpoint,
      search: this.search,
      headers: this.request.headers,
      body: this.canonical!,
    });
  }

  /**
   * Step 1: with a hint, the lookup before admission. Resolves to the claim for `AdmitInput.cacheHit`, or
   * undefined (nothing found); undefined at once (no promise, no await) when there is nothing to look up:
   * no hint, an excluded endpoint, a bypass, a body that cannot be cached.
   */
  claimBeforeAdmission(env: Env, ctx: ExecutionContext): Promise<CacheHitClaim | undefined> | undefined {
    const hint = this.hint;
    if (!hint || hint.settings.exclude.includes(this.endpoint)) return undefined;
    if (this.mode !== "use" || this.uncacheable()) return undefined;
    return this.claim(env, ctx, hint);
  }

  private async claim(env: Env, ctx: ExecutionContext, hint: Hint): Promise<CacheHitClaim | undefined> {
    const key = await this.key(hint.projectId, hint.settings, hint.route);
    const found = await lookup(env, ctx, key, hint.settings.ttlSeconds);
    this.looked = { key, scope: scopeOf(hint.projectId, hint.settings, hint.route), found };
    if (!found) return undefined;
    return { generation: hint.settings.generation, endpoint: this.endpoint, storedAt: found.entry.storedAt };
  }

  /**
   * Step 2, once admitted: the cached answer to serve (a hit admitted as such, or one found now), or null —
   * then `status` and `target` say what to do with the upstream's answer. Synchronous (no await) when the
   * project has no cache, and for a hit admitted as such.
   */
  afterAdmission(env: Env, ctx: ExecutionContext, admitted: Admitted): Found | null | Promise<Found | null> {
    const settings = admitted.cache ?? null;
    if (!settings) {
      // Off for the project or the token: as if there were no cache.
      if (this.hint) hints.delete(this.tokenHash);
      return null;
    }
    const route = upstreamRouteOf(admitted);
    hints.set(this.tokenHash, { projectId: admitted.projectId, settings, route });
    if (admitted.cacheHit && this.looked?.found) {
      this.status = "hit";
      return this.looked.found;
    }
    // Not for this endpoint: as if there were no cache.
    if (settings.exclude.includes(this.endpoint)) return null;
    if (this.mode === "bypass" || this.uncacheable()) {
      this.status = "bypass";
      return null;
    }
    return this.lookupAdmitted(env, ctx, admitted.projectId, settings, route);
  }

  private async lookupAdmitted(
    env: Env,
    ctx: ExecutionContext,
    projectId: string,
    settings: CacheSettings,
    route: string,
  ): Promise<Found | null> {
    const key = await this.key(projectId, settings, route);
    // Looked up already under the same key: admission turned the claim down (the entry is too old now).
    if (this.mode === "use" && this.looked?.key !== key) {
      const found = await lookup(env, ctx, key, settings.ttlSeconds);
      this.looked = { key, scope: scopeOf(projectId, settings, route), found };
      if (found) {
        this.status = "hit";
        return found;
      }
    }
    this.status = this.mode === "refresh" ? "refresh" : "miss";
    this.target = { key, ttlSeconds: settings.ttlSeconds, maxBytes: maxEntryBytes(env) };
    return null;
  }

  /**
   * The body to send upstream: on a miss that may be stored, `JSON.stringify` of the parsed body the key was
   * computed from (see `canonicalBody`), so the stored answer answers exactly what the key says.
   */
  upstreamBody(body: JsonBody): JsonBody {
    if (!this.target) return body;
    return { bytes: new TextEncoder().encode(JSON.stringify(this.json)), json: this.json };
  }
}

/**
 * The cache's view of a request, or null: only POSTed JSON objects to the cacheable endpoints of the OpenAI
 * dialect, of a token whose project has the cache on as far as this isolate knows — before admission, from
 * what it learnt at the token's last admission; after it (`admitted`), from the admission itself. For a
 * project without the cache this is a method check, a Set lookup and a Map lookup: nothing is allocated.
 */
export function cacheCandidate(
  request: Request,
  route: ProxyRoute,
  body: JsonBody | null,
  tokenHash: string,
  admitted?: Admitted,
): CacheCandidate | null {
  const json = body?.json;
  const endpoint = route.endpoint;
  if (!json || request.method !== "POST" || route.dialect !== "openai" || !isCacheableEndpoint(endpoint))
    return null;
  const hint = hints.get(tokenHash);
  if (!hint && !admitted?.cache) return null;
  return new CacheCandidate(request, endpoint, route.search, json, tokenHash, hint);
}

/** Response headers saying what the cache did: `x-llm-proxy-cache`, and `age` (seconds) on a hit. */
export function cacheHeaders(headers: Headers, status: CacheStatus, entry?: CachedAnswer): void {
  headers.set(CACHE_HEADER, status);
  if (entry) headers.set("age", String(Math.max(0, Math.floor((Date.now() - entry.storedAt) / 1000))));
}
