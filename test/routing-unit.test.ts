import { describe, expect, it } from "vitest";
import { type JsonBody, readJsonBody, withModel } from "../src/proxy/body";
import { type Attempt, type AttemptResult, runAttempts } from "../src/routing/attempts";
import { CircuitBreaker } from "../src/routing/breaker";
import { routingFrom } from "../src/routing/config";
import { Health, KEY_OUT_MS } from "../src/routing/health";
import { modelListMatches } from "../src/routing/model-match";
import { resolveRoute, routeModels, weightedOrder } from "../src/routing/resolve";
import { backoffMs, classify, DEFAULT_RETRY, type RetryPolicy, retryAfterMs } from "../src/routing/retry";
import type { Routing, UpstreamConfig } from "../src/routing/types";
import type { Upstream, UpstreamKey } from "../src/storage/schema";

function seeded(seed = 7): () => number {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

const up = (name: string, extra: Partial<UpstreamConfig> = {}): UpstreamConfig => ({
  id: `id-${name}`,
  name,
  provider: "openai",
  baseUrl: `https://${name}.example/v1`,
  models: null,
  settings: null,
  firstByteTimeoutMs: null,
  retryOn: null,
  keys: [{ id: `${name}-k1`, keyEncrypted: "v1:x:y", weight: 1 }],
  ...extra,
});

const routing = (upstreams: UpstreamConfig[], aliases: Routing["aliases"] = []): Routing => ({
  version: 1,
  upstreams,
  aliases,
});

describe("model lists", () => {
  it("match exact ids, their dated snapshots and prefixes, never a longer name", () => {
    expect(modelListMatches(null, "anything")).toBe(true);
    expect(modelListMatches(["gpt-4o"], "gpt-4o")).toBe(true);
    expect(modelListMatches(["gpt-4o"], "gpt-4o-2024-08-06")).toBe(true);
    expect(modelListMatches(["gpt-4o"], "gpt-4o-mini")).toBe(false);
    expect(modelListMatches(["llama-*"], "llama-3.1-8b")).toBe(true);
    expect(modelListMatches(["llama-*"], "mistral")).toBe(false);
    expect(modelListMatches([], "gpt-4o")).toBe(false);
  });
});

describe("route resolution", () => {
  const openai = up("openai", { models: ["gpt-4o*"] });
  const groq = up("groq", { models: ["llama-*", "gpt-4o-mini"] });
  const table = routing(
    [openai, groq],
    [
      {
        name: "smart",
        strategy: "ordered",
        targets: [
          { upstream: "groq", model: "llama-3.3-70b" },
          { upstream: "openai", model: "gpt-4o" },
        ],
      },
      { name: "ghost", strategy: "ordered", targets: [{ upstream: "gone", model: "x" }] },
    ],
  );

  it("an alias goes to its targets in order, with the body's model rewritten per target", () => {
    expect(resolveRoute(table, "smart").map((t) => [t.upstream.name, t.model])).toEqual([
      ["groq", "llama-3.3-70b"],
      ["openai", "gpt-4o"],
    ]);
  });

  it("a model goes to every upstream that serves it, by position", () => {
    expect(resolveRoute(table, "gpt-4o-mini").map((t) => t.upstream.name)).toEqual(["openai", "groq"]);
    expect(resolveRoute(table, "llama-3.1-8b").map((t) => [t.upstream.name, t.model])).toEqual([
      ["groq", "llama-3.1-8b"],
    ]);
    expect(resolveRoute(table, "claude-3")).toEqual([]);
    expect(routeModels(table, "claude-3")).toBeNull();
    expect(routeModels(table, "smart")).toEqual(["llama-3.3-70b", "gpt-4o"]);
    expect(routeModels(table, "gpt-4o")).toEqual(["gpt-4o"]);
  });

  it("targets on missing or inactive upstreams and providers that cannot serve are left out", () => {
    expect(resolveRoute(table, "ghost")).toEqual([]);
    expect(routeModels(table, "ghost")).toBeNull();
    const noGroq = resolveRoute(table, "smart", (u) => u.name !== "groq");
    expect(noGroq.map((t) => t.upstream.name)).toEqual(["openai"]);
  });

  it("a request without a model goes to the first upstream only (what it names lives there)", () => {
    expect(resolveRoute(table, null).map((t) => t.upstream.name)).toEqual(["openai"]);
    expect(resolveRoute(routing([]), null)).toEqual([]);
  });

  it("a weighted alias picks its first target in proportion to the weights, the rest as fallbacks", () => {
    const weighted = routing(
      [up("a"), up("b"), up("c")],
      [
        {
          name: "mix",
          strategy: "weighted",
          targets: [
            { upstream: "a", model: "m", weight: 6 },
            { upstream: "b", model: "m", weight: 3 },
            { upstream: "c", model: "m", weight: 1 },
          ],
        },
      ],
    );
    const random = seeded(11);
    const firsts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 20_000; i++) {
      const order = resolveRoute(weighted, "mix", undefined, random);
      expect(order).toHaveLength(3);
      firsts[order[0]!.upstream.name]!++;
    }
    expect(firsts.a! / 20_000).toBeCloseTo(0.6, 1);
    expect(firsts.b! / 20_000).toBeCloseTo(0.3, 1);
    expect(firsts.c! / 20_000).toBeCloseTo(0.1, 1);
  });

  it("weight 0 only ever comes last", () => {
    const random = seeded(3);
    for (let i = 0; i < 200; i++) {
      const order = weightedOrder(["x", "y", "z"], (s) => (s === "y" ? 0 : 1), random);
      expect(order[2]).toBe("y");
    }
  });
});

describe("circuit breaker", () => {
  it("one failure never opens it; threshold consecutive failures do", () => {
    const b = new CircuitBreaker({
      threshold: 3,
      windowMs: 30_000,
      coolDownMs: 10_000,
      maxCoolDownMs: 60_000,
    });
    expect(b.failure(0)).toBe(false);
    expect(b.failure(10)).toBe(false);
    b.success(15);
    expect(b.failure(20)).toBe(false);
    expect(b.failure(30)).toBe(false);
    expect(b.admit(30)).toBe("closed");
    expect(b.failure(40)).toBe(true);
    expect(b.admit(41)).toBe("open");
    expect(b.openUntil).toBe(10_040);
  });

  it("failures further apart than the window start a new count", () => {
    const b = new CircuitBreaker({
      threshold: 3,
      windowMs: 1_000,
      coolDownMs: 10_000,
      maxCoolDownMs: 60_000,
    });
    b.failure(0);
    b.failure(500);
    expect(b.failure(2_000)).toBe(false);
    expect(b.isOpen).toBe(false);
  });

  it("after the cool-down one probe goes; its failure doubles the cool-down, its success closes", () => {
    const b = new CircuitBreaker({ threshold: 2, windowMs: 30_000, coolDownMs: 1_000, maxCoolDownMs: 3_000 });
    b.failure(0);
    b.failure(0);
    expect(b.admit(999)).toBe("open");
    expect(b.admit(1_000)).toBe("probe");
    expect(b.admit(1_001)).toBe("open");
    expect(b.failure(1_100)).toBe(true);
    expect(b.openUntil).toBe(3_100);
    expect(b.admit(3_100)).toBe("probe");
    b.failure(3_200);
    expect(b.openUntil).toBe(6_200); // capped at 3 s
    expect(b.admit(6_200)).toBe("probe");
    b.success(6_250);
    expect(b.admit(6_300)).toBe("closed");
  });

  it("a request already on its way when it opened does not close it; the probe's answer does", () => {
    const b = new CircuitBreaker({ threshold: 1, windowMs: 30_000, coolDownMs: 1_000, maxCoolDownMs: 3_000 });
    b.failure(0);
    b.success(500);
    expect(b.admit(600)).toBe("open");
    expect(b.admit(1_000)).toBe("probe");
    b.success(1_100);
    expect(b.admit(1_200)).toBe("closed");
  });
});

describe("retry policy", () => {
  it("never retries a 400; 401/403 take the key out; 429 rests it; retryable 5xx count on the upstream", () => {
    const s = (status: number) => ({ kind: "status" as const, status, retryAfterMs: null });
    expect(classify(s(400), null)).toBe("done");
    expect(classify(s(400), [400, 500])).toBe("done");
    expect(classify(s(401), null)).toBe("key-out");
    expect(classify(s(403), null)).toBe("key-out");
    expect(classify(s(429), null)).toBe("key-rest");
    // 529: Anthropic's "overloaded".
    for (const status of [500, 502, 503, 504, 529]) expect(classify(s(status), null)).toBe("upstream");
    expect(classify(s(501), null)).toBe("done");
    expect(classify(s(404), null)).toBe("done");
    expect(classify(s(422), null)).toBe("done");
    expect(classify(s(500), [503])).toBe("done");
    expect(classify(s(429), [500])).toBe("done");
    expect(classify({ kind: "network" }, null)).toBe("upstream");
    expect(classify({ kind: "timeout" }, [])).toBe("upstream");
  });

  it("backs off exponentially with jitter, within bounds", () => {
    const policy: RetryPolicy = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(backoffMs(1, policy, () => 0)).toBe(50);
    expect(backoffMs(1, policy, () => 1)).toBe(100);
    expect(backoffMs(3, policy, () => 0.5)).toBe(300);
    expect(backoffMs(10, policy, () => 1)).toBe(1_000);
  });

  it("reads retry-after-ms, retry-after seconds and dates", () => {
    expect(retryAfterMs(new Headers({ "retry-after-ms": "1500" }))).toBe(1_500);
    expect(retryAfterMs(new Headers({ "retry-after": "2" }))).toBe(2_000);
    expect(retryAfterMs(new Headers({ "retry-after": "0.5" }))).toBe(500);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:03 GMT" }), now)).toBe(3_000);
    expect(retryAfterMs(new Headers({ "retry-after": "soon" }))).toBeNull();
    expect(retryAfterMs(new Headers())).toBeNull();
  });
});

describe("keys", () => {
  const two = up("u", {
    keys: [
      { id: "k1", keyEncrypted: "a", weight: 3 },
      { id: "k2", keyEncrypted: "b", weight: 1 },
    ],
  });

  it("are used by weight", () => {
    const h = new Health();
    const random = seeded(5);
    let k1 = 0;
    for (let i = 0; i < 10_000; i++) if (h.chooseKey(two, 0, null, random)?.id === "k1") k1++;
    expect(k1 / 10_000).toBeCloseTo(0.75, 1);
  });

  it("a rate-limited key rests for retry-after (or a doubling backoff) while the other serves", () => {
    const h = new Health();
    h.rest("k1", 1_000, 5_000);
    for (let i = 0; i < 50; i++) expect(h.chooseKey(two, 5_999, null)?.id).toBe("k2");
    expect(h.keyAvailableAt("k1")).toBe(6_000);
    h.rest("k2", 1_000, null);
    expect(h.keyAvailableAt("k2")).toBe(2_000);
    h.rest("k2", 2_000, null);
    expect(h.keyAvailableAt("k2")).toBe(4_000);
    expect(h.chooseKey(two, 3_000, null)).toBeUndefined();
    expect(h.nextKeyAt(two)).toBe(4_000);
  });

  it("a refused key stays out, and a request never retries a key it already tried", () => {
    const h = new Health();
    h.out("k2", 0);
    expect(h.isKeyOut("k2", KEY_OUT_MS - 1)).toBe(true);
    expect(h.chooseKey(two, 10, new Set(["k1"]))).toBeUndefined();
    expect(h.chooseKey(up("local", { keys: [] }), 0, null)).toBeNull();
  });
});

type Fake = { status?: number; fail?: "network" | "timeout"; retryAfterMs?: number };

/** Runs the attempt loop against scripted answers per upstream name, on a fake clock. */
async function run(
  targets: ReturnType<typeof resolveRoute>,
  script: Record<string, Fake[]>,
  opts: { health?: Health; policy?: Partial<RetryPolicy>; replayable?: boolean; clock?: { t: number } } = {},
) {
  const clock = opts.clock ?? { t: 1_000 };
  const sent: Attempt[] = [];
  const discarded: string[] = [];
  const result = await runAttempts<string>({
    targets,
    health: opts.health ?? new Health(),
    policy: { ...DEFAULT_RETRY, ...opts.policy },
    started: clock.t,
    replayable: opts.replayable ?? true,
    now: () => clock.t,
    random: seeded(1),
    sleep: async (ms) => {
      clock.t += ms;
      return true;
    },
    discard: (v) => discarded.push(v),
    attempt: async (a): Promise<AttemptResult<string>> => {
      sent.push(a);
      clock.t += 10;
      const next = script[a.target.upstream.name]?.shift() ?? { status: 200 };
      if (next.fail) return { kind: next.fail };
      const status = next.status ?? 200;
      return {
        kind: "answer",
        value: `${a.target.upstream.name}:${a.key?.id}:${status}`,
        status,
        retryAfterMs: next.retryAfterMs ?? null,
      };
    },
  });
  return { result, sent, discarded, clock };
}

describe("attempts", () => {
  const a = up("a");
  const b = up("b");
  const table = routing(
    [a, b],
    [
      {
        name: "alias",
        strategy: "ordered",
        targets: [
          { upstream: "a", model: "m1" },
          { upstream: "b", model: "m2" },
        ],
      },
    ],
  );
  const targets = resolveRoute(table, "alias");

  for (const failure of [
    { status: 429, retryAfterMs: 2_000 },
    { status: 500 },
    { status: 502 },
    { status: 503 },
    { status: 504 },
    { fail: "network" as const },
    { fail: "timeout" as const },
  ]) {
    it(`falls back to the second target when the first fails with ${JSON.stringify(failure)}`, async () => {
      const { result, sent, discarded } = await run(targets, { a: [failure] });
      expect(result.kind).toBe("answer");
      if (result.kind !== "answer") return;
      expect(result.value).toBe("b:b-k1:200");
      expect(result.attempts).toBe(2);
      expect(sent.map((s) => s.target.model)).toEqual(["m1", "m2"]);
      expect(result.errors).toEqual([
        expect.objectContaining({
          upstream: "a",
          key_id: "a-k1",
          status: failure.status ?? null,
          error: failure.status
            ? `upstream_${failure.status}`
            : failure.fail === "timeout"
              ? "upstream_timeout"
              : "upstream_error",
        }),
      ]);
      expect(discarded).toEqual(failure.status ? [`a:a-k1:${failure.status}`] : []);
    });
  }

  it("never retries a 400, nor a 404", async () => {
    for (const status of [400, 404]) {
      const { result, sent } = await run(targets, { a: [{ status }] });
      expect(sent).toHaveLength(1);
      expect(result.kind === "answer" && result.value).toBe(`a:a-k1:${status}`);
      expect(result.errors).toEqual([]);
    }
  });

  it("a rate-limited key rests while the upstream's other key serves the same request", async () => {
    const twoKeys = up("a", {
      keys: [
        { id: "k1", keyEncrypted: "x", weight: 1 },
        { id: "k2", keyEncrypted: "y", weight: 1 },
      ],
    });
    const health = new Health();
    const { result, sent } = await run(
      [{ upstream: twoKeys, model: "m" }],
      { a: [{ status: 429 }] },
      { health },
    );
    expect(result.kind).toBe("answer");
    expect(sent.map((s) => s.key?.id).sort()).toEqual(["k1", "k2"]);
    const rested = sent[0]!.key!.id;
    expect(health.keyAvailableAt(rested)).toBeGreaterThan(1_000);
  });

  it("when nothing more can be tried, the client gets the upstream's last answer unchanged", async () => {
    const { result, sent } = await run([targets[0]!], { a: [{ status: 429, retryAfterMs: 30_000 }] });
    expect(sent).toHaveLength(1);
    expect(result.kind === "answer" && result.value).toBe("a:a-k1:429");
    expect(result.errors).toEqual([]);
  });

  it("retries the last target after a backoff, bounded by the attempts", async () => {
    const { result, sent, clock } = await run([targets[0]!], {
      a: [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }],
    });
    expect(sent).toHaveLength(3);
    expect(result.kind === "answer" && result.value).toBe("a:a-k1:503");
    expect(result.errors).toHaveLength(2);
    expect(clock.t - 1_000).toBeGreaterThanOrEqual(30 + 100 + 200);
  });

  it("is bounded in time: no attempt starts after the budget", async () => {
    const { sent, result } = await run(
      [targets[0]!],
      { a: [{ fail: "timeout" }, { fail: "timeout" }, { fail: "timeout" }] },
      { policy: { budgetMs: 5 } },
    );
    expect(sent).toHaveLength(1);
    expect(result.kind).toBe("failed");
  });

  it("a body that cannot be sent twice gets one attempt", async () => {
    const { sent, result } = await run(targets, { a: [{ status: 503 }] }, { replayable: false });
    expect(sent).toHaveLength(1);
    expect(result.kind === "answer" && result.value).toBe("a:a-k1:503");
  });

  it("an open breaker is skipped without a request; every target open → unavailable with retry-after", async () => {
    const health = new Health();
    const clock = { t: 1_000 };
    for (let i = 0; i < 3; i++) health.breaker(a.id).failure(1_000);
    const first = await run(targets, {}, { health, clock });
    expect(first.sent.map((s) => s.target.upstream.name)).toEqual(["b"]);
    for (let i = 0; i < 3; i++) health.breaker(b.id).failure(clock.t);
    const none = await run(targets, {}, { health, clock });
    expect(none.sent).toHaveLength(0);
    expect(none.result.kind).toBe("unavailable");
    expect(none.result.kind === "unavailable" && none.result.retryAfterMs).toBe(11_000 - clock.t);
  });

  it("a key refused with 401 is reported and not used again; the next key serves", async () => {
    const twoKeys = up("a", {
      keys: [
        { id: "bad", keyEncrypted: "x", weight: 1000 },
        { id: "good", keyEncrypted: "y", weight: 1 },
      ],
    });
    const health = new Health();
    const rejected: string[] = [];
    const answers: Record<string, Fake[]> = { a: [{ status: 401 }] };
    const clock = { t: 0 };
    const result = await runAttempts<string>({
      targets: [{ upstream: twoKeys, model: "m" }],
      health,
      policy: DEFAULT_RETRY,
      started: 0,
      replayable: true,
      now: () => clock.t,
      random: () => 0,
      sleep: async () => true,
      discard: () => {},
      onKeyRejected: (_u, key, status) => rejected.push(`${key.id}:${status}`),
      attempt: async (at) => {
        const next = answers.a!.shift() ?? { status: 200 };
        return { kind: "answer", value: at.key!.id, status: next.status!, retryAfterMs: null };
      },
    });
    expect(result.kind === "answer" && result.value).toBe("good");
    expect(rejected).toEqual(["bad:401"]);
    expect(health.chooseKey(twoKeys, 1, null, () => 0)?.id).toBe("good");
  });
});

describe("attempts and the breaker", () => {
  it("one request retried on the same upstream counts as one failure, never opening the breaker alone", async () => {
    const only = up("solo");
    const health = new Health();
    for (let i = 0; i < 2; i++) {
      const { sent } = await run(
        [{ upstream: only, model: "m" }],
        { solo: [{ status: 503 }, { status: 503 }, { status: 503 }] },
        { health },
      );
      expect(sent).toHaveLength(3);
      expect(health.peekBreaker(only.id)?.isOpen).toBe(false);
    }
    await run(
      [{ upstream: only, model: "m" }],
      { solo: [{ status: 503 }, { status: 503 }, { status: 503 }] },
      { health },
    );
    expect(health.peekBreaker(only.id)?.isOpen).toBe(true);
  });
});

describe("keys: refusal and rotation", () => {
  it("a refused key is usable again at once when rotated (its ciphertext changed)", () => {
    const h = new Health();
    const old = { id: "k", keyEncrypted: "v1:a:old", weight: 1 };
    h.out("k", 0, old.keyEncrypted);
    expect(h.chooseKey(up("u", { keys: [old] }), 1, null)).toBeUndefined();
    const rotated = { ...old, keyEncrypted: "v1:b:new" };
    expect(h.chooseKey(up("u", { keys: [rotated] }), 1, null)?.id).toBe("k");
  });
});

describe("the routing table a token's object loads", () => {
  const row = (id: string, extra: Partial<Upstream> = {}): Upstream => ({
    id,
    projectId: "p",
    name: id,
    provider: "openai",
    baseUrl: `https://${id}.example/v1`,
    models: null,
    settings: null,
    firstByteTimeoutMs: null,
    retryOn: null,
    position: 0,
    isActive: true,
    createdAt: 0,
    updatedAt: 0,
    ...extra,
  });
  const key = (id: string, upstreamId: string, extra: Partial<UpstreamKey> = {}): UpstreamKey => ({
    id,
    upstreamId,
    keyEncrypted: `v1:${id}`,
    keyHint: "sk-…",
    weight: 1,
    isActive: true,
    failingAt: null,
    failingReason: null,
    createdAt: 0,
    updatedAt: 0,
    ...extra,
  });

  it("leaves out inactive upstreams and keys, and failing keys unless all of an upstream's active keys fail", async () => {
    const table = await routingFrom(
      [row("a"), row("b"), row("off", { isActive: false })],
      [
        key("a1", "a", { failingAt: 1, failingReason: "the upstream answered 401" }),
        key("a2", "a"),
        key("a3", "a", { isActive: false }),
        key("b1", "b", { failingAt: 1 }),
        key("b2", "b", { failingAt: 2 }),
        key("b3", "b", { isActive: false }),
        key("off1", "off"),
      ],
      [],
    );
    expect(table.upstreams.map((u) => [u.name, u.keys.map((k) => k.id)])).toEqual([
      ["a", ["a2"]],
      ["b", ["b1", "b2"]],
    ]);
  });

  it("its version changes with any change that matters and only then", async () => {
    const base = await routingFrom([row("a")], [key("a1", "a")], []);
    expect((await routingFrom([row("a")], [key("a1", "a")], [])).version).toBe(base.version);
    const rotated = await routingFrom([row("a")], [key("a1", "a", { keyEncrypted: "v1:new" })], []);
    const weighted = await routingFrom([row("a")], [key("a1", "a", { weight: 2 })], []);
    const aliased = await routingFrom(
      [row("a")],
      [key("a1", "a")],
      [
        {
          id: "x",
          projectId: "p",
          name: "smart",
          strategy: "ordered",
          targets: [{ upstream: "a", model: "m" }],
          createdAt: 0,
          updatedAt: 0,
        },
      ],
    );
    const versions = new Set([base.version, rotated.version, weighted.version, aliased.version]);
    expect(versions.size).toBe(4);
    // A key's hint or timestamps are not in the table: they change nothing the proxy uses.
    expect(
      (await routingFrom([row("a")], [key("a1", "a", { keyHint: "x", updatedAt: 9 })], [])).version,
    ).toBe(base.version);
  });
});

describe("rewriting the body's model for a target", () => {
  const read = (text: string): Promise<JsonBody> =>
    readJsonBody(
      new Request("https://gw.example/v1/chat/completions", { method: "POST", body: text }),
      1 << 20,
    );
  const dec = new TextDecoder();

  it("replaces the value in place: every other byte stays as the client sent it", async () => {
    for (const [text, model, expected] of [
      ['{"model":"smart","messages":[]}', "gpt-4o", '{"model":"gpt-4o","messages":[]}'],
      ['{ "model" :\n "smart" , "n": 1 }', "gpt-4o", '{ "model" :\n "gpt-4o" , "n": 1 }'],
      ['{"messages":[{"content":"é ✓"}],"model":"smart"}', "m", null],
      [
        '{"temperature":0.5,"model":"sm\\"art\\\\","x":"y"}',
        'a"b',
        '{"temperature":0.5,"model":"a\\"b","x":"y"}',
      ],
      ['{"model":"smart","user":"ü ✓ 日本"}', "gpt-4o-mini", '{"model":"gpt-4o-mini","user":"ü ✓ 日本"}'],
    ] as const) {
      const body = await read(text);
      const out = withModel(body, model);
      if (expected === null) {
        expect(out, text).toBeNull();
        continue;
      }
      expect(dec.decode(out!), text).toBe(expected);
      expect(JSON.parse(dec.decode(out!))).toEqual({ ...body.json, model });
    }
  });

  it("falls back (null) whenever the key's place is not certain", async () => {
    for (const text of [
      // `"model"` elsewhere too: a nested key, or a value (Gemini's role)
      '{"model":"smart","tools":[{"model":"x"}]}',
      '{"contents":[{"role":"model"}],"model":"smart"}',
      // the key spelled with escapes, twice (JSON.parse keeps the last)
      '{"mod\\u0065l":"smart"}',
      '{"model":"a","model":"smart"}',
      // not a string
      '{"model":7}',
      '{"messages":[]}',
    ]) {
      const body = await read(text);
      expect(withModel(body, "gpt-4o"), text).toBeNull();
    }
  });
});
