import { iso } from "../lib/schemas";
import { isolateHealth } from "../routing/health";
import { getDb } from "../storage/db";
import { type HealthCounts, sumCounts, upstreamHealthCounts } from "../usage/upstream-rollups";
import type { UpstreamHealth } from "./health-schema";
import { keysOfUpstream } from "./repo";
import { requireUpstream } from "./service";

const NONE: HealthCounts = {
  requests: 0,
  errors: 0,
  rate_limited: 0,
  failed_attempts: 0,
  avg_ttfb_ms: null,
  avg_duration_ms: null,
};

/** When the location's shared cache says the upstream's breaker is open until (0: it says nothing). */
async function sharedOpenUntil(upstreamId: string): Promise<number> {
  try {
    const res = await caches.default.match(`https://breaker.llm-proxy.internal/${upstreamId}`);
    const until = res ? Number(await res.text()) : 0;
    return Number.isFinite(until) ? until : 0;
  } catch {
    return 0;
  }
}

/**
 * An upstream's recent health: its and each key's counts over the last `hours` (from the hourly rollups,
 * so as fresh as the usage queue), the keys' failing marks, and its breaker as this location sees it.
 */
export async function upstreamHealth(env: Env, id: string, q: { hours: number }): Promise<UpstreamHealth> {
  const upstream = await requireUpstream(env, id);
  const now = Date.now();
  const from = now - q.hours * 3_600_000;
  const [keys, counts, shared] = await Promise.all([
    keysOfUpstream(getDb(env), id),
    upstreamHealthCounts(getDb(env), id, from),
    sharedOpenUntil(id),
  ]);
  const local = isolateHealth.peekBreaker(id)?.openUntil ?? 0;
  const openUntil = Math.max(local, shared);
  return {
    upstream_id: upstream.id,
    name: upstream.name,
    provider: upstream.provider,
    is_active: upstream.isActive,
    from: iso(Math.floor(from / 3_600_000) * 3_600_000)!,
    to: iso(now)!,
    breaker: { open: openUntil > now, open_until: openUntil > now ? iso(openUntil) : null },
    ...sumCounts(counts.values()),
    keys: keys.map((k) => ({
      id: k.id,
      hint: k.keyHint,
      weight: k.weight,
      is_active: k.isActive,
      failing: k.failingAt !== null,
      failing_at: iso(k.failingAt),
      failing_reason: k.failingReason,
      ...(counts.get(k.id) ?? NONE),
    })),
  };
}
