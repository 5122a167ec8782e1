import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type CachedAnswer, decodeEntry, encodeEntry } from "../src/cache/entry";
import { cacheKey, type KeyParts } from "../src/cache/key";
import { cacheMode, canonicalBody, uncacheableReason } from "../src/cache/request";
import { type CacheSettings, hitHolds } from "../src/cache/settings";
import { lookup, maxEntryBytes, store } from "../src/cache/tiers";
import { EMPTY_LEDGER } from "../src/limits/budget";
import type { AdmitInput } from "../src/tokens/admission";
import { decide } from "../src/tokens/decide";
import type { TokenConfig } from "../src/tokens/token-config";

const h = (init: Record<string, string>) => new Headers(init);

describe("what the client asks of the cache", () => {
  it("reads cache-control and the gateway's header", () => {
    expect(cacheMode(h({}))).toBe("use");
    expect(cacheMode(h({ "cache-control": "no-cache" }))).toBe("bypass");
    expect(cacheMode(h({ "cache-control": "max-age=0, No-Store" }))).toBe("bypass");
    expect(cacheMode(h({ "cache-control": 'no-cache="x"' }))).toBe("bypass");
    expect(cacheMode(h({ "cache-control": "max-age=60" }))).toBe("use");
    expect(cacheMode(h({ "cache-control": "x-no-cache" }))).toBe("use");
    expect(cacheMode(h({ "x-llm-proxy-cache": " Refresh " }))).toBe("refresh");
    expect(cacheMode(h({ "x-llm-proxy-cache": "bypass" }))).toBe("bypass");
    expect(cacheMode(h({ "x-llm-proxy-cache": "no-store" }))).toBe("bypass");
    // An unknown value changes nothing; cache-control still counts.
    expect(cacheMode(h({ "x-llm-proxy-cache": "please" }))).toBe("use");
    expect(cacheMode(h({ "x-llm-proxy-cache": "please", "cache-control": "no-store" }))).toBe("bypass");
  });
});

describe("which bodies can be cached", () => {
  it("keeps out stored answers and server-side state", () => {
    expect(uncacheableReason("/chat/completions", { model: "m" })).toBeNull();
    expect(uncacheableReason("/chat/completions", { store: false })).toBeNull();
    expect(uncacheableReason("/chat/completions", { store: true })).toBe("store");
    expect(uncacheableReason("/responses", { input: "x" })).toBeNull();
    expect(uncacheableReason("/responses", { store: true })).toBe("store");
    expect(uncacheableReason("/responses", { background: true })).toBe("background");
    expect(uncacheableReason("/responses", { conversation: "conv_1" })).toBe("conversation");
    expect(uncacheableReason("/responses", { prompt: { id: "pmpt_1" } })).toBe("prompt");
    expect(uncacheableReason("/responses", { prompt: { id: "pmpt_1", version: "2" } })).toBeNull();
    expect(uncacheableReason("/responses", { previous_response_id: "resp_1" })).toBeNull();
  });
});

describe("the canonical body", () => {
  it("sorts members at every level, keeps arrays in order", () => {
    const a = canonicalBody("/chat/completions", {
      model: "m",
      messages: [
        { role: "user", content: "a" },
        { content: "b", role: "assistant" },
      ],
      logit_bias: { "50": 1, "7": -1 },
    });
    const b = canonicalBody("/chat/completions", {
      logit_bias: { "7": -1, "50": 1 },
      messages: [
        { content: "a", role: "user" },
        { role: "assistant", content: "b" },
      ],
      model: "m",
    });
    expect(a).toBe(b);
    const swapped = canonicalBody("/chat/completions", {
      model: "m",
      messages: [
        { role: "assistant", content: "b" },
        { role: "user", content: "a" },
      ],
    });
    expect(swapped).not.toBe(a);
  });

  it("keeps the order of a JSON Schema's properties, and sorts the schemas inside them", () => {
    const schema = (properties: Record<string, unknown>) =>
      canonicalBody("/responses", {
        text: { format: { type: "json_schema", schema: { properties, type: "object" } } },
      });
    expect(schema({ x: { type: "string" }, y: { type: "number" } })).not.toBe(
      schema({ y: { type: "number" }, x: { type: "string" } }),
    );
    expect(schema({ x: { type: "string", description: "d" } })).toBe(
      schema({ x: { description: "d", type: "string" } }),
    );
  });

  it("leaves out safety_identifier on chat completions only; keeps user everywhere", () => {
    const base = { model: "m", messages: [] };
    expect(canonicalBody("/chat/completions", { ...base, safety_identifier: "u1" })).toBe(
      canonicalBody("/chat/completions", base),
    );
    expect(canonicalBody("/responses", { ...base, safety_identifier: "u1" })).not.toBe(
      canonicalBody("/responses", base),
    );
    expect(canonicalBody("/chat/completions", { ...base, user: "u1" })).not.toBe(
      canonicalBody("/chat/completions", base),
    );
    expect(canonicalBody("/embeddings", { input: "x", user: "u1" })).not.toBe(
      canonicalBody("/embeddings", { input: "x" }),
    );
  });

  it("tells null from absent, numbers and strings apart", () => {
    const c = (v: unknown) => canonicalBody("/chat/completions", { temperature: v });
    const forms = [c(1), c("1"), c(null), canonicalBody("/chat/completions", {}), c(1.5), c(true)];
    expect(new Set(forms).size).toBe(forms.length);
  });

  it("refuses bodies nested deeper than any real request (never throws)", () => {
    let deep: unknown = "x";
    for (let i = 0; i < 200; i++) deep = [deep];
    expect(canonicalBody("/chat/completions", { messages: deep })).toBeNull();
    let object: unknown = {};
    for (let i = 0; i < 200; i++) object = { a: object };
    expect(canonicalBody("/chat/completions", { metadata: object })).toBeNull();
  });
});

describe("cache keys", () => {
  const parts: KeyParts = {
    projectId: "p1",
    generation: 0,
    route: "openai https://api.openai.com/v1",
    method: "POST",
    path: "/chat/completions",
    search: "",
    headers: new Headers(),
    body: "{}",
  };

  it("change with every part, and start with the project", async () => {
    const base = await cacheKey(parts);
    expect(base).toMatch(/^p1\/[0-9a-f]{64}$/);
    const variants: Partial<KeyParts>[] = [
      { projectId: "p2" },
      { generation: 1 },
      { route: "openai https://other.example/v1" },
      { path: "/completions" },
      { search: "?x=1" },
      { body: '{"a":1}' },
      { headers: h({ "openai-organization": "org-1" }) },
      { headers: h({ "openai-project": "proj-1" }) },
      { headers: h({ "openai-beta": "x" }) },
    ];
    const keys = await Promise.all(variants.map((v) => cacheKey({ ...parts, ...v })));
    expect(new Set([base, ...keys]).size).toBe(variants.length + 1);
    // Headers that cannot change the answer do not split entries.
    expect(await cacheKey({ ...parts, headers: h({ "x-stainless-os": "Linux", "user-agent": "x" }) })).toBe(
      base,
    );
  });

  it("cannot be confused by parts that contain separators", async () => {
    const a = await cacheKey({ ...parts, route: "a", path: "/b" });
    const b = await cacheKey({ ...parts, route: "a/", path: "b" });
    expect(a).not.toBe(b);
  });
});

describe("entries", () => {
  const entry: CachedAnswer = {
    storedAt: 1_700_000_000_000,
    contentType: "application/json",
    stream: false,
    model: "gpt-4o-mini",
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    body: new TextEncoder().encode('{"ok":true}'),
  };

  it("round-trip through their binary form; anything else decodes to null", () => {
    const bytes = encodeEntry(entry);
    const back = decodeEntry(bytes.buffer as ArrayBuffer);
    expect(back).toEqual(entry);
    expect(decodeEntry(new ArrayBuffer(2))).toBeNull();
    expect(
      decodeEntry(new TextEncoder().encode("garbage that is not an entry").buffer as ArrayBuffer),
    ).toBeNull();
    const truncated = bytes.slice(0, 10);
    expect(decodeEntry(truncated.buffer as ArrayBuffer)).toBeNull();
  });

  it("hold a claim only for the same generation, a cacheable endpoint not excluded, within the TTL", () => {
    const settings: CacheSettings = {
      ttlSeconds: 60,
      exclude: ["/embeddings"],
      hitsSkipRateLimits: false,
      generation: 3,
    };
    const now = Date.now();
    const claim = { generation: 3, endpoint: "/chat/completions", storedAt: now - 1000 };
    expect(hitHolds(settings, claim, now)).toBe(true);
    expect(hitHolds(null, claim, now)).toBe(false);
    expect(hitHolds(settings, { ...claim, generation: 2 }, now)).toBe(false);
    expect(hitHolds(settings, { ...claim, endpoint: "/embeddings" }, now)).toBe(false);
    expect(hitHolds(settings, { ...claim, endpoint: "/files" }, now)).toBe(false);
    expect(hitHolds(settings, { ...claim, storedAt: now - 60_000 }, now)).toBe(false);
  });
});

describe("cache tiers (the local Cache API and KV, as wrangler dev runs them)", () => {
  const answer = (text: string, storedAt = Date.now()): CachedAnswer => ({
    storedAt,
    contentType: "application/json",
    stream: false,
    model: null,
    usage: null,
    body: new TextEncoder().encode(text),
  });
  const key = () => `unit/${crypto.randomUUID()}`;

  async function stored(tiers: string, k: string, entry: CachedAnswer, ttl = 60) {
    const ctx = createExecutionContext();
    store({ ...env, CACHE_TIERS: tiers }, ctx, k, entry, ttl);
    await waitOnExecutionContext(ctx);
  }

  async function found(tiers: string, k: string, ttl = 60) {
    const ctx = createExecutionContext();
    const result = await lookup({ ...env, CACHE_TIERS: tiers }, ctx, k, ttl);
    await waitOnExecutionContext(ctx);
    return result;
  }

  it("each tier alone keeps and returns the entry", async () => {
    for (const tiers of ["local", "global"]) {
      const k = key();
      await stored(tiers, k, answer(`{"t":"${tiers}"}`));
      const hit = await found(tiers, k);
      expect(hit?.tier).toBe(tiers);
      expect(new TextDecoder().decode(hit?.entry.body)).toBe(`{"t":"${tiers}"}`);
      expect(await found(tiers === "local" ? "global" : "local", k)).toBeNull();
    }
    expect(await env.CACHE_KV.get(`unit/none`)).toBeNull();
  });

  it("a global hit is copied into the location's cache", async () => {
    const k = key();
    await stored("global", k, answer("{}"));
    expect((await found("local,global", k))?.tier).toBe("global");
    expect((await found("local", k))?.tier).toBe("local");
  });

  it("entries past the TTL asked for are misses, in every tier", async () => {
    const k = key();
    await stored("local,global", k, answer("{}", Date.now() - 30_000));
    expect(await found("local,global", k, 10)).toBeNull();
    expect((await found("local,global", k, 60))?.entry.storedAt).toBeLessThan(Date.now() - 29_000);
  });

  it("an entry being written is found at once in the isolate that writes it", async () => {
    const k = key();
    const ctx = createExecutionContext();
    store({ ...env, CACHE_TIERS: "local,global" }, ctx, k, answer("{}"), 60);
    const hit = await lookup({ ...env, CACHE_TIERS: "local,global" }, createExecutionContext(), k, 60);
    expect(hit).not.toBeNull();
    await waitOnExecutionContext(ctx);
  });

  it("the isolate's memory tier keeps recent entries within its budget, and answers before the others", async () => {
    const k = key();
    await stored("memory,local", k, answer('{"m":1}'));
    expect((await found("memory,local", k))?.tier).toBe("memory");
    expect((await found("local", k))?.tier).toBe("local");
    expect(await found("memory,local", k, 0)).toBeNull();
    // Over 256 KiB: never kept in memory (still in the other tiers).
    const big = key();
    await stored("memory,local", big, answer("x".repeat(300 * 1024)));
    expect((await found("memory,local", big))?.tier).toBe("local");
    // 8 MiB in all: the least recently used goes first.
    const first = key();
    await stored("memory", first, answer("a".repeat(200 * 1024)));
    for (let i = 0; i < 45; i++) await stored("memory", key(), answer("b".repeat(200 * 1024)));
    expect(await found("memory", first)).toBeNull();
  });

  it("garbage in a tier is a miss, not an error", async () => {
    const k = key();
    await env.CACHE_KV.put(k, "not an entry");
    expect(await found("global", k)).toBeNull();
  });

  it("CACHE_MAX_ENTRY_BYTES: default 1 MiB, at most KV's value size", () => {
    expect(maxEntryBytes({ ...env, CACHE_MAX_ENTRY_BYTES: "" })).toBe(1024 * 1024);
    expect(maxEntryBytes({ ...env, CACHE_MAX_ENTRY_BYTES: "1000" })).toBe(1000);
    expect(maxEntryBytes({ ...env, CACHE_MAX_ENTRY_BYTES: String(1e12) })).toBeLessThanOrEqual(
      25 * 1024 * 1024,
    );
  });
});

describe("admission of a claimed hit (the decision, pure)", () => {
  const settings: CacheSettings = { ttlSeconds: 60, exclude: [], hitsSkipRateLimits: false, generation: 0 };
  const config = (over: Partial<TokenConfig> = {}, cache: CacheSettings | null = settings): TokenConfig => ({
    tokenId: "t",
    projectId: "p",
    expiresAt: Date.now() + 60_000,
    isActive: true,
    revokedAt: null,
    maxRequests: null,
    rateLimits: null,
    maxTotalTokens: 1000,
    maxCostUsd: null,
    allowedModels: null,
    renewing: { periodBudgets: null, timeZone: null, tokenWindows: null },
    secrets: [],
    canMint: false,
    project: {
      version: 1,
      isActive: true,
      allowedOrigins: null,
      allowedModels: null,
      limits: null,
      renewing: null,
      capabilities: [],
      objectScope: "token",
      cache,
      routing: {
        version: 1,
        upstreams: [
          {
            id: "u",
            name: "default",
            provider: "openai",
            baseUrl: "https://api.openai.com/v1",
            models: null,
            settings: null,
            firstByteTimeoutMs: null,
            retryOn: null,
            keys: [{ id: "k", keyEncrypted: "v1:x:y", weight: 1 }],
          },
        ],
        aliases: [],
      },
    },
    ...over,
  });
  const now = Date.now();
  const claim = { generation: 0, endpoint: "/chat/completions", storedAt: now - 10 };
  const big: AdmitInput = { model: "gpt-4o-mini", reserve: { tokens: 5000, costUsd: 0.01 } };
  const usage = { ledger: EMPTY_LEDGER, windowLog: [] as number[] };

  it("needs no budget room for the reservation a miss would hold", () => {
    expect(decide(config(), usage, big, now)?.code).toBe("quota_exceeded");
    expect(decide(config(), usage, { ...big, cacheHit: claim }, now)).toBeNull();
    // A stale claim (purged since) is judged as a miss.
    expect(decide(config(), usage, { ...big, cacheHit: { ...claim, generation: 1 } }, now)?.code).toBe(
      "quota_exceeded",
    );
    // Denied to the token, or off for the project: judged as a miss.
    expect(decide(config({ cacheAllowed: false }), usage, { ...big, cacheHit: claim }, now)?.code).toBe(
      "quota_exceeded",
    );
    expect(decide(config({}, null), usage, { ...big, cacheHit: claim }, now)?.code).toBe("quota_exceeded");
  });

  it("still refuses what a miss would be refused for, before counting", () => {
    const input = { ...big, reserve: undefined, cacheHit: claim };
    expect(decide(config({ revokedAt: now }), usage, input, now)?.code).toBe("token_inactive");
    expect(decide(config({ expiresAt: now - 1 }), usage, input, now)?.code).toBe("token_expired");
    expect(decide(config({ allowedModels: ["gpt-4o"] }), usage, input, now)?.code).toBe("model_not_allowed");
    const spent = { ...usage, ledger: { ...EMPTY_LEDGER, tokensUsed: 1000 } };
    expect(decide(config(), spent, input, now)?.code).toBe("quota_exceeded");
    const windows = { rateLimits: [{ requests: 1, window_seconds: 60 }] };
    const full = { ...usage, windowLog: [now - 5] };
    expect(decide(config(windows), full, input, now)?.code).toBe("rate_limit_exceeded");
    const exempt = config(windows, { ...settings, hitsSkipRateLimits: true });
    expect(decide(exempt, full, input, now)).toBeNull();
    expect(decide(exempt, full, { ...input, cacheHit: undefined }, now)?.code).toBe("rate_limit_exceeded");
  });
});
