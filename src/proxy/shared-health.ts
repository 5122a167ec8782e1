import { BoundedMap } from "../lib/bounded-map";
import { isolateHealth } from "../routing/health";
import type { Target } from "../routing/types";

// The circuit breakers are per isolate (routing/health.ts): no extra round trip on the request path. To
// spare each isolate of a location from finding a dead upstream on its own, an isolate that opens a breaker
// puts "open until T" in the location's Cache API, and every isolate looks there — off the request path, in
// `waitUntil`, at most once a second per upstream — adopting an open breaker it did not know. See
// docs/routing.md for what this costs and what it does not promise (the Cache API is per location, best
// effort, and does nothing on workers.dev).

const SYNC_EVERY_MS = 1_000;
const lastLook = new BoundedMap<string, number>(10_000);

const keyOf = (upstreamId: string) => `https://breaker.llm-proxy.internal/${upstreamId}`;

function sharedCache(): Cache | undefined {
  return typeof caches === "undefined" ? undefined : caches.default;
}

/** This isolate opened an upstream's breaker until `until`: tell the other isolates of the location. */
export function shareBreakerOpen(ctx: ExecutionContext, upstreamId: string, until: number): void {
  const cache = sharedCache();
  if (!cache) return;
  const seconds = Math.max(1, Math.ceil((until - Date.now()) / 1000));
  const response = new Response(String(until), { headers: { "cache-control": `max-age=${seconds}` } });
  ctx.waitUntil(cache.put(keyOf(upstreamId), response).catch(() => {}));
}

/** Looks (in the background, at most once a second per upstream) for breakers other isolates opened. */
export function adoptSharedBreakers(ctx: ExecutionContext, targets: readonly Target[], now: number): void {
  for (const { upstream } of targets) {
    const last = lastLook.get(upstream.id);
    if (last !== undefined && now - last < SYNC_EVERY_MS) continue;
    lastLook.set(upstream.id, now);
    const cache = sharedCache();
    if (cache) ctx.waitUntil(adopt(cache, upstream.id));
  }
}

async function adopt(cache: Cache, upstreamId: string): Promise<void> {
  try {
    const res = await cache.match(keyOf(upstreamId));
    if (!res) return;
    const until = Number(await res.text());
    if (Number.isFinite(until) && until > Date.now())
      isolateHealth.breaker(upstreamId).openUntilAtLeast(until);
  } catch {
    // Best effort: a location without a working cache just has per-isolate breakers.
  }
}
