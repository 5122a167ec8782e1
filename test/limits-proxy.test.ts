import { describe, expect, it, vi } from "vitest";
import { json, manage } from "./helpers";
import { eventually, mockProjectToken, newTag, proxy, upstreamSaw } from "./support/proxy";

// Bursts of hundreds of requests through the worker and the mock upstream.
vi.setConfig({ testTimeout: 60_000 });

type ErrorJson = { error: { code: string; message: string } };

const chat = (extra: Record<string, unknown> = {}) => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "hello" }],
  ...extra,
});

describe("limits through the proxy", () => {
  it("forwards exactly 100 of 500 concurrent requests against max_requests = 100", async () => {
    const { token } = await mockProjectToken({ max_requests: 100 });
    const tag = newTag();
    const responses = await Promise.all(
      Array.from({ length: 500 }, () =>
        proxy("/chat/completions", { token: token.token, headers: { "x-mock-tag": tag }, json: chat() }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    const refused = responses.filter((r) => r.status === 429);
    expect(refused).toHaveLength(400);
    for (const r of refused) expect(r.headers.get("x-should-retry")).toBe("false");
    expect(((await refused[0]!.json()) as ErrorJson).error.code).toBe("quota_exceeded");
    await Promise.all(responses.filter((r) => r.status === 200).map((r) => r.arrayBuffer()));
    expect(await upstreamSaw(tag)).toHaveLength(100);
  });

  it("forwards 10 of 50 concurrent requests against 10 per 10 s, the rest with Retry-After", async () => {
    const { token } = await mockProjectToken({ rate_limit: { requests: 10, window_seconds: 10 } });
    const tag = newTag();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        proxy("/chat/completions", { token: token.token, headers: { "x-mock-tag": tag }, json: chat() }),
      ),
    );
    const limited = responses.filter((r) => r.status === 429);
    expect(limited).toHaveLength(40);
    for (const r of limited) {
      const seconds = Number(r.headers.get("retry-after"));
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeLessThanOrEqual(10);
      expect(r.headers.get("x-should-retry")).not.toBe("false");
    }
    expect(((await limited[0]!.json()) as ErrorJson).error.code).toBe("rate_limit_exceeded");
    await Promise.all(responses.filter((r) => r.status === 200).map((r) => r.arrayBuffer()));
    expect(await upstreamSaw(tag)).toHaveLength(10);
  });

  it("tells the client its allowance in our own headers, next to the upstream's x-ratelimit-*", async () => {
    const { token } = await mockProjectToken({
      max_requests: 5,
      max_tokens: 100_000,
      rate_limit: { requests: 3, window_seconds: 60 },
    });
    const res = await proxy("/chat/completions", { token: token.token, json: chat({ max_tokens: 100 }) });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-ratelimit-remaining-requests")).toBe("9999");
    expect(res.headers.get("x-llm-proxy-requests-remaining")).toBe("4");
    expect(res.headers.get("x-llm-proxy-ratelimit-limit")).toBe("3;w=60");
    expect(res.headers.get("x-llm-proxy-ratelimit-remaining")).toBe("2");
    expect(Number(res.headers.get("x-llm-proxy-tokens-remaining"))).toBeLessThan(100_000 - 100);
    expect(res.headers.get("x-llm-proxy-token-expires")).toBe(token.expires_at);
    await res.arrayBuffer();
  });

  it("settles the reservation with the real usage after a streamed request", async () => {
    const { token } = await mockProjectToken({ max_tokens: 100_000 });
    const res = await proxy("/chat/completions", {
      token: token.token,
      json: chat({ max_tokens: 500, stream: true }),
    });
    expect(res.status).toBe(200);
    await res.text();
    type Live = { allowance: { tokens: { used: number; reserved: number }; open_reservations: number } };
    await eventually(async () => {
      const t = await json<Live>(await manage(`/tokens/${token.id}`));
      return t.allowance.open_reservations === 0 && t.allowance.tokens.used > 0;
    });
    const t = await json<Live>(await manage(`/tokens/${token.id}`));
    expect(t.allowance.tokens.reserved).toBe(0);
    expect(t.allowance.tokens.used).toBeLessThan(500);
  });

  it("applies revocation and a lowered limit to the very next request", async () => {
    const { token } = await mockProjectToken({ max_requests: 100 });
    for (let i = 0; i < 3; i++) {
      const r = await proxy("/chat/completions", { token: token.token, json: chat() });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    await manage(`/tokens/${token.id}`, { method: "PATCH", body: { max_requests: 3 } });
    const quota = await proxy("/chat/completions", { token: token.token, json: chat() });
    expect(quota.status).toBe(429);
    await manage(`/tokens/${token.id}`, { method: "PATCH", body: { max_requests: 10 } });
    const again = await proxy("/chat/completions", { token: token.token, json: chat() });
    expect(again.status).toBe(200);
    await again.arrayBuffer();
    await manage(`/tokens/${token.id}`, { method: "DELETE" });
    const revoked = await proxy("/chat/completions", { token: token.token, json: chat() });
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as ErrorJson).error.code).toBe("token_inactive");
  });

  it("caps a project across its tokens", async () => {
    const { project, token } = await mockProjectToken({}, { max_requests: 6 });
    const other = await json<{ token: string }>(
      await manage("/tokens", { method: "POST", body: { project_id: project.id } }),
    );
    const tag = newTag();
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        proxy("/chat/completions", {
          token: i % 2 ? token.token : other.token,
          headers: { "x-mock-tag": tag },
          json: chat(),
        }),
      ),
    );
    expect(responses.filter((r) => r.status === 200)).toHaveLength(6);
    await Promise.all(responses.map((r) => r.arrayBuffer()));
    expect(await upstreamSaw(tag)).toHaveLength(6);
  });

  it("holds a token budget with declared maximums and refuses an undeclared request that cannot fit", async () => {
    const { token } = await mockProjectToken({ max_tokens: 2_000 });
    const tag = newTag();
    const responses = await Promise.all(
      Array.from({ length: 10 }, () =>
        proxy("/chat/completions", {
          token: token.token,
          headers: { "x-mock-tag": tag },
          json: chat({ max_tokens: 500 }),
        }),
      ),
    );
    const ok = responses.filter((r) => r.status === 200);
    // Each holds its body's bytes + 500: at most three fit in 2000 at once.
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.length).toBeLessThanOrEqual(3);
    for (const r of responses.filter((r) => r.status !== 200)) {
      expect(r.status).toBe(429);
      expect(r.headers.get("x-should-retry")).toBe("false");
    }
    await Promise.all(responses.map((r) => r.arrayBuffer()));
    // Without a declared maximum the default reservation (4096) cannot fit a 2000-token budget.
    const undeclared = await proxy("/chat/completions", { token: token.token, json: chat() });
    expect(undeclared.status).toBe(429);
    const error = ((await undeclared.json()) as ErrorJson).error;
    expect(error.code).toBe("quota_exceeded");
    expect(error.message).toContain("max_tokens");
    type Live = { allowance: { tokens: { used: number; reserved: number } } };
    await eventually(async () => {
      const t = await json<Live>(await manage(`/tokens/${token.id}`));
      return t.allowance.tokens.reserved === 0;
    });
    const t = await json<Live>(await manage(`/tokens/${token.id}`));
    expect(t.allowance.tokens.used).toBeGreaterThan(0);
    expect(t.allowance.tokens.used).toBeLessThanOrEqual(2_000);
  });

  it("refuses a model with no known price for a token with a cost budget, naming the model", async () => {
    const { token } = await mockProjectToken({ max_cost_usd: 1 });
    const res = await proxy("/chat/completions", {
      token: token.token,
      json: chat({ model: "unpriced-model" }),
    });
    expect(res.status).toBe(403);
    const error = ((await res.json()) as ErrorJson).error;
    expect(error.code).toBe("model_not_allowed");
    expect(error.message).toContain("'unpriced-model'");
  });
});
