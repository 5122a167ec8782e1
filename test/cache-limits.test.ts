import { describe, expect, it, vi } from "vitest";
import { createToken, json, manage } from "./helpers";
import { eventually, mockProjectToken, newTag, proxy, upstreamSaw } from "./support/proxy";

// Cache hits and the token's limits: a hit is admitted like any request (revocation, origin, models,
// max_requests, rate windows) but holds and costs nothing against token or cost budgets.

vi.setConfig({ testTimeout: 30_000 });

type ErrorJson = { error: { code: string } };
type Live = {
  request_count: number;
  allowance: {
    requests: { used: number };
    tokens: { used: number; reserved: number };
    cost_usd: { used: number; reserved: number };
    open_reservations: number;
  };
};

const body = (content = "cached question", extra: Record<string, unknown> = {}) => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content }],
  max_tokens: 50,
  ...extra,
});

async function send(token: string, json: unknown, headers: Record<string, string> = {}) {
  const res = await proxy("/chat/completions", { token, json, headers });
  const text = await res.text();
  return { status: res.status, cache: res.headers.get("x-llm-proxy-cache"), text, headers: res.headers };
}

const live = async (id: string) => json<Live>(await manage(`/tokens/${id}`));

/** Waits until the token's reservations are all settled, then returns its live state. */
async function settled(id: string): Promise<Live> {
  await eventually(async () => (await live(id)).allowance.open_reservations === 0, 10_000);
  return live(id);
}

describe("cache hits and limits", () => {
  it("hits leave token and cost budgets untouched, and count as requests", async () => {
    const { project, token } = await mockProjectToken(
      { max_tokens: 100_000, max_cost_usd: 1 },
      { cache: { ttl_seconds: 600 } },
    );
    expect((await send(token.token, body())).cache).toBe("miss");
    const before = await settled(token.id);
    expect(before.allowance.tokens.used).toBeGreaterThan(0);
    expect(before.allowance.cost_usd.used).toBeGreaterThan(0);

    for (let i = 0; i < 5; i++) expect((await send(token.token, body())).cache).toBe("hit");
    const after = await settled(token.id);
    expect(after.allowance.tokens).toEqual(before.allowance.tokens);
    expect(after.allowance.cost_usd).toEqual(before.allowance.cost_usd);
    expect(after.allowance.requests.used).toBe(6);

    // Another token of the project, new to this isolate: admitted (and reserved for) before the cache is
    // consulted, then answered from it; its reservation settles at zero.
    const other = await createToken(project.id, { max_tokens: 100_000, max_cost_usd: 1 });
    const hit = await send(other.token, body());
    expect(hit.cache).toBe("hit");
    const otherLive = await settled(other.id);
    expect(otherLive.allowance.tokens).toMatchObject({ used: 0, reserved: 0 });
    expect(otherLive.allowance.cost_usd).toMatchObject({ used: 0, reserved: 0 });
    expect(otherLive.allowance.requests.used).toBe(1);
  });

  it("hits count against max_requests", async () => {
    const { token } = await mockProjectToken({ max_requests: 3 }, { cache: { ttl_seconds: 600 } });
    const tag = newTag();
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await send(token.token, body(), { "x-mock-tag": tag }));
    expect(statuses.map((s) => s.cache ?? s.status)).toEqual(["miss", "hit", "hit", 429]);
    expect((JSON.parse(statuses[3]!.text) as ErrorJson).error.code).toBe("quota_exceeded");
    expect(statuses[2]!.headers.get("x-llm-proxy-requests-remaining")).toBe("0");
    expect(await upstreamSaw(tag)).toHaveLength(1);
  });

  it("hits take a rate-window slot, unless the project exempts them", async () => {
    const window = { rate_limit: { requests: 2, window_seconds: 60 } };
    const counted = await mockProjectToken(window, { cache: { ttl_seconds: 600 } });
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await send(counted.token.token, body()));
    expect(results.map((s) => s.cache ?? s.status)).toEqual(["miss", "hit", 429]);

    const exempt = await mockProjectToken(window, {
      cache: { ttl_seconds: 600, hits_skip_rate_limits: true },
    });
    const seen = [];
    for (let i = 0; i < 5; i++) seen.push(await send(exempt.token.token, body()));
    seen.push(await send(exempt.token.token, body("another question")));
    seen.push(await send(exempt.token.token, body("a third question")));
    expect(seen.map((s) => s.cache ?? s.status)).toEqual(["miss", "hit", "hit", "hit", "hit", "miss", 429]);
    // A hit shows the window as the next request will find it.
    expect(seen[4]!.headers.get("x-llm-proxy-ratelimit-remaining")).toBe("1");
  });

  it("a used-up budget refuses a hit too", async () => {
    const { token } = await mockProjectToken({ max_tokens: 100_000 }, { cache: { ttl_seconds: 600 } });
    expect((await send(token.token, body())).cache).toBe("miss");
    const used = (await settled(token.id)).allowance.tokens.used;
    await manage(`/tokens/${token.id}`, { method: "PATCH", body: { max_tokens: used } });
    const refused = await send(token.token, body());
    expect(refused.status).toBe(429);
    expect((JSON.parse(refused.text) as ErrorJson).error.code).toBe("quota_exceeded");
  });
});

describe("cache hits and admission", () => {
  it("a revoked token gets no hit (limited or not)", async () => {
    for (const extra of [{}, { max_requests: 100 }]) {
      const { token } = await mockProjectToken(extra, { cache: { ttl_seconds: 600 } });
      expect((await send(token.token, body())).cache).toBe("miss");
      expect((await send(token.token, body())).cache).toBe("hit");
      await manage(`/tokens/${token.id}`, { method: "DELETE" });
      const revoked = await send(token.token, body());
      expect(revoked.status).toBe(401);
      expect(revoked.cache).toBeNull();
      expect((JSON.parse(revoked.text) as ErrorJson).error.code).toBe("token_inactive");
    }
  });

  it("a deactivated project, a refused origin or a model the token may not use get no hit", async () => {
    const { project, token } = await mockProjectToken(
      {},
      { cache: { ttl_seconds: 600 }, allowed_origins: ["https://app.example"] },
    );
    const question = body("admission", { model: "gpt-4o" });
    expect((await send(token.token, question)).cache).toBe("miss");
    expect((await send(token.token, question)).cache).toBe("hit");

    const origin = await send(token.token, question, { origin: "https://evil.example" });
    expect(origin.status).toBe(403);
    expect((JSON.parse(origin.text) as ErrorJson).error.code).toBe("origin_not_allowed");

    const narrow = await createToken(project.id, { allowed_models: ["gpt-4o-mini"] });
    const model = await send(narrow.token, question);
    expect(model.status).toBe(403);
    expect((JSON.parse(model.text) as ErrorJson).error.code).toBe("model_not_allowed");

    await manage(`/projects/${project.id}`, { method: "PATCH", body: { is_active: false } });
    const inactive = await send(token.token, question);
    expect(inactive.status).toBe(403);
    expect((JSON.parse(inactive.text) as ErrorJson).error.code).toBe("project_inactive");
  });

  it("purge applies to the next request of limited and unlimited tokens alike", async () => {
    const { project, token } = await mockProjectToken({}, { cache: { ttl_seconds: 600 } });
    const limited = await createToken(project.id, { max_requests: 100 });
    const tag = newTag();
    expect((await send(token.token, body(), { "x-mock-tag": tag })).cache).toBe("miss");
    expect((await send(limited.token, body(), { "x-mock-tag": tag })).cache).toBe("hit");
    expect((await send(token.token, body(), { "x-mock-tag": tag })).cache).toBe("hit");
    await manage(`/projects/${project.id}/cache`, { method: "DELETE" });
    expect((await send(limited.token, body(), { "x-mock-tag": tag })).cache).toBe("miss");
    expect((await send(token.token, body(), { "x-mock-tag": tag })).cache).toBe("hit");
    expect(await upstreamSaw(tag)).toHaveLength(2);
  });

  it("entries older than the project's TTL are not served (a lowered TTL applies at once)", async () => {
    const { project, token } = await mockProjectToken({}, { cache: { ttl_seconds: 600 } });
    const tag = newTag();
    expect((await send(token.token, body(), { "x-mock-tag": tag })).cache).toBe("miss");
    await new Promise((r) => setTimeout(r, 1100));
    expect((await send(token.token, body(), { "x-mock-tag": tag })).headers.get("age")).toBe("1");
    await manage(`/projects/${project.id}`, { method: "PATCH", body: { cache: { ttl_seconds: 1 } } });
    expect((await send(token.token, body(), { "x-mock-tag": tag })).cache).toBe("miss");
    expect((await send(token.token, body(), { "x-mock-tag": tag })).cache).toBe("hit");
    expect(await upstreamSaw(tag)).toHaveLength(2);
  });
});
