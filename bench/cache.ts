// The response cache's phase of the bench: a cache hit against a miss, against today's path (a project
// without the cache) and against the direct upstream; CPU per hit. The default tiers answer a hot entry
// from the isolate's memory; two hosts have one tier each (CACHE_TIERS "local": the Cache API; "global":
// KV), so each tier's hit is measured too.
import type { Host } from "./hosts.ts";
import type { LoadOptions, RequestSpec } from "./lib/index.ts";
import { MODEL, type PhaseResult, type Target } from "./scenarios.ts";

const JSON_HEADERS = { "content-type": "application/json" };

async function manage(
  host: Host,
  path: string,
  body: unknown,
  secret: string,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${host.url}/manage${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, ...JSON_HEADERS },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`POST /manage${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

export type CacheTokens = { unlimited: string; limited: string };

/** A project with the cache on (one day), an unlimited token and a limited one (as the main phases have). */
export async function createCacheTokens(
  host: Host,
  upstreamUrl: string,
  managementToken: string,
): Promise<CacheTokens> {
  const project = await manage(
    host,
    "/projects",
    {
      name: `bench-cache-${Date.now()}`,
      api_key: "sk-bench-upstream-key-000000000000",
      base_url: `${upstreamUrl}/v1`,
      cache: { ttl_seconds: 86_400 },
    },
    managementToken,
  );
  const token = (extra: Record<string, unknown>) =>
    manage(host, "/tokens", { project_id: project.id, duration_minutes: 120, ...extra }, managementToken);
  const unlimited = await token({ name: "bench-cache-unlimited" });
  const limited = await token({
    name: "bench-cache-limited",
    max_requests: 1_000_000_000,
    rate_limit: { requests: 100_000, window_seconds: 60 },
  });
  return { unlimited: String(unlimited.token), limited: String(limited.token) };
}

const question = (content: string) => JSON.stringify({ model: MODEL, messages: [{ role: "user", content }] });

let missCounter = 0;

/**
 * The cache phase's request: the same small chat completion every time (a hit once stored), or for the
 * `cache-miss` target a new question each time (runLoad's `vary` rides along in the spec: the interleaved
 * runner spreads the spec into runLoad's options).
 */
export function cacheSpec(t: Target): RequestSpec {
  const spec: RequestSpec & Pick<LoadOptions, "vary"> = {
    url: `${t.origin}/v1/chat/completions`,
    headers: { ...JSON_HEADERS, ...t.headers },
    body: question("Say hello."),
  };
  if (t.id === "cache-miss") spec.vary = () => ({ body: question(`Say hello, ${++missCounter}.`) });
  return spec;
}

/** An llm-proxy host with a project that has the cache on, and its tokens. */
export type CacheHost = { host: Host; tokens: CacheTokens };

/**
 * The cache phase's targets, one llm-proxy process each (so each process's CPU is its target's: a miss's
 * stores finish in the background and would otherwise be counted against the next target's round). The
 * default tiers serve the miss, the hit and the limited token's hit; `local` and `global` are hosts whose
 * CACHE_TIERS is only that tier.
 */
export function cacheTargets(hosts: {
  miss: CacheHost;
  hit: CacheHost;
  limited: CacheHost;
  local: CacheHost;
  global: CacheHost;
}): Target[] {
  const target = (id: string, label: string, { host }: CacheHost, token: string): Target => ({
    id,
    label,
    origin: host.url,
    headers: { authorization: `Bearer ${token}` },
    cpuMs: host.cpuMs,
  });
  return [
    target("cache-miss", "llm-proxy, cache on, miss", hosts.miss, hosts.miss.tokens.unlimited),
    target("cache-hit", "llm-proxy, cache hit (isolate memory)", hosts.hit, hosts.hit.tokens.unlimited),
    target(
      "cache-hit-limited",
      "llm-proxy, cache hit, limited token",
      hosts.limited,
      hosts.limited.tokens.limited,
    ),
    target(
      "cache-hit-local",
      "llm-proxy, cache hit from the location's Cache API only",
      hosts.local,
      hosts.local.tokens.unlimited,
    ),
    target(
      "cache-hit-global",
      "llm-proxy, cache hit from KV only",
      hosts.global,
      hosts.global.tokens.unlimited,
    ),
  ];
}

type Cell = string | number | null | undefined;

/** The phase as a table: p50/p99, the paired differences to the hit, CPU per request. */
export function cacheTable(
  phase: Record<string, PhaseResult>,
  targets: Target[],
  paired: (target: string, baseline: string) => number | undefined,
): { title: string; header: string[]; rows: Cell[][] } {
  const r3 = (v: number | undefined | null) =>
    v === undefined || v === null ? null : Math.round(v * 1000) / 1000;
  return {
    title: "Response cache, concurrency 1 (ms): a hit against a miss, today's path and the upstream",
    header: [
      "target",
      "n",
      "p50",
      "p90",
      "p99",
      "+p50 vs direct",
      "p50 vs hit (paired)",
      "CPU/req",
      "failed",
    ],
    rows: targets.map((t) => {
      const r = phase[t.id]?.merged;
      if (!r) return [t.label, null, null, null, null, null, null, null, null];
      const s = r.latencyMs;
      return [
        t.label,
        r.requests,
        r3(s.p50),
        r3(s.p90),
        r3(s.p99),
        r3(paired(t.id, "direct")),
        r3(paired(t.id, "cache-hit")),
        r3(phase[t.id]?.cpuMsPerRequest),
        r.failed,
      ];
    }),
  };
}
