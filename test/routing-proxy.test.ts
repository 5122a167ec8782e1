import { env } from "cloudflare:workers";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { BASE, json, manage } from "./helpers";
import { eventsOf } from "./support/events";
import { eventually, proxy, sleep, workerFetch } from "./support/proxy";
import { mockName, mockSaw, routedProject } from "./support/routing";

const messages = [{ role: "user" as const, content: "Say something" }];
/** Events come through the usage queue, which batches for a few seconds. */
const SLOW = { timeout: 30_000 };

/** The official SDK, retries off: whatever retrying happens is the gateway's. */
const sdkFor = (apiKey: string) =>
  new OpenAI({
    apiKey,
    baseURL: `${BASE}/v1`,
    maxRetries: 0,
    fetch: (input, init) => workerFetch(input as RequestInfo, init as RequestInit),
  });

describe("routes: an alias whose first target fails falls back to the second", SLOW, () => {
  const failures: [
    string,
    Record<string, string | number>,
    number | null,
    string,
    Record<string, unknown>?,
  ][] = [
    ["refused connection", {}, null, "upstream_error", { base_url: `${env.DEAD_UPSTREAM_URL}/v1` }],
    ["connection reset", { reset: "before" }, null, "upstream_error"],
    ["429 with retry-after", { status: 429, "retry-after": 7 }, 429, "upstream_429"],
    ["500", { status: 500 }, 500, "upstream_500"],
    ["503", { status: 503 }, 503, "upstream_503"],
    [
      "a hang (no first byte in time)",
      { "hang-ms": 5_000 },
      null,
      "upstream_timeout",
      { first_byte_timeout_ms: 300 },
    ],
  ];
  for (const [label, behaviour, status, error, extra] of failures) {
    it(label, async () => {
      const a = mockName("a");
      const b = mockName("b");
      const { token, upstreams } = await routedProject([
        { name: "a", mock: { name: a, ...behaviour }, ...extra },
        { name: "b", mock: { name: b } },
      ]);
      const sdk = sdkFor(token.token);
      const { data, response } = await sdk.chat.completions
        .create({ model: "smart", messages })
        .withResponse();
      expect(data.model).toBe("gpt-4o");
      expect(data.choices[0]?.message.content).toBe("tok0 tok1 tok2 ");
      expect(response.headers.get("x-mock-upstream-name")).toBe(b);
      expect(await mockSaw(b)).toBe(1);
      const [event] = (await eventsOf([response.headers.get("x-request-id")!])).values();
      expect(event).toMatchObject({
        status: 200,
        upstream: "b",
        upstream_id: upstreams[1]!.id,
        key_id: upstreams[1]!.keys[0]!.id,
        provider: "openai-compatible",
        model_requested: "smart",
        model: "gpt-4o",
        attempts: 2,
        attempt_errors: [
          { upstream: "a", upstream_id: upstreams[0]!.id, key_id: upstreams[0]!.keys[0]!.id, status, error },
        ],
      });
      // Priced as the model that served.
      expect(event!.cost_usd).toBeGreaterThan(0);
    });

    it(`${label}, streamed`, async () => {
      const a = mockName("a");
      const b = mockName("b");
      const { token, upstreams } = await routedProject([
        { name: "a", mock: { name: a, ...behaviour }, ...extra },
        { name: "b", mock: { name: b } },
      ]);
      const { data: stream, response } = await sdkFor(token.token)
        .chat.completions.create({
          model: "smart",
          messages,
          stream: true,
          stream_options: { include_usage: true },
        })
        .withResponse();
      let text = "";
      let completion = 0;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? "";
        completion = chunk.usage?.completion_tokens ?? completion;
      }
      expect(text).toBe("tok0 tok1 tok2 ");
      expect(completion).toBe(3);
      expect(response.headers.get("x-mock-upstream-name")).toBe(b);
      expect(await mockSaw(b)).toBe(1);
      const [event] = (await eventsOf([response.headers.get("x-request-id")!])).values();
      expect(event).toMatchObject({
        status: 200,
        upstream: "b",
        model_requested: "smart",
        model: "gpt-4o",
        usage: { completion_tokens: 3 },
        attempts: 2,
        attempt_errors: [{ upstream: "a", upstream_id: upstreams[0]!.id, status, error }],
      });
    });
  }

  it("a stream falls back when its upstream breaks after the head, before the first byte", async () => {
    const b = mockName("b");
    const { token } = await routedProject([
      { name: "a", mock: { name: mockName("a"), reset: "head" } },
      { name: "b", mock: { name: b } },
    ]);
    const stream = await sdkFor(token.token).chat.completions.create({
      model: "smart",
      messages,
      stream: true,
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("tok0 tok1 tok2 ");
    expect(await mockSaw(b)).toBe(1);
  });
});

describe("routes: the body each target gets", SLOW, () => {
  it("only `model` is rewritten, everything else is sent as it was, with a content-length that holds", async () => {
    const a = mockName("a");
    const b = mockName("b");
    const { token } = await routedProject([
      { name: "a", mock: { name: a, status: 503 } },
      { name: "b", mock: { name: b } },
    ]);
    const body = { model: "smart", messages, temperature: 0.25, user: "ü-unicode ✓", metadata: { k: "v" } };
    const res = await proxy("/chat/completions", { token: token.token, json: body });
    expect(res.status).toBe(200);
    const seen = (await (await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests?upstream=${a}`)).json()) as {
      bodyText: string;
      bodyBytes: number;
      headers: Record<string, string>;
    }[];
    const seenB = (await (
      await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests?upstream=${b}`)
    ).json()) as typeof seen;
    for (const [r, model] of [
      [seen[0]!, "gpt-4o-mini"],
      [seenB[0]!, "gpt-4o"],
    ] as const) {
      expect(JSON.parse(r.bodyText)).toEqual({ ...body, model });
      // Byte for byte: the model's value is replaced in place, nothing else is serialised again.
      expect(r.bodyText).toBe(JSON.stringify(body).replace('"model":"smart"', `"model":"${model}"`));
      if (r.headers["content-length"] !== undefined)
        expect(Number(r.headers["content-length"])).toBe(r.bodyBytes);
    }
  });
});

describe("routes: what is never retried", SLOW, () => {
  it("a 400 goes to the client as it is, and nothing else is tried", async () => {
    const a = mockName("a");
    const b = mockName("b");
    const { token } = await routedProject([
      { name: "a", mock: { name: a, status: 400 } },
      { name: "b", mock: { name: b } },
    ]);
    const res = await proxy("/chat/completions", { token: token.token, json: { model: "smart", messages } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("mock_error");
    expect(await mockSaw(a)).toBe(1);
    expect(await mockSaw(b)).toBe(0);
    const [event] = (await eventsOf([res.headers.get("x-request-id")!])).values();
    expect(event).toMatchObject({ status: 400, upstream: "a", attempts: 1, attempt_errors: [] });
  });

  it("a stream that fails after its first byte is not silently completed by another upstream", async () => {
    const a = mockName("a");
    const b = mockName("b");
    const { token } = await routedProject([
      { name: "a", mock: { name: a, reset: "after", chunks: 5 } },
      { name: "b", mock: { name: b } },
    ]);
    const res = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "smart", messages, stream: true },
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let broke = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
    } catch {
      broke = true;
    }
    expect(text).toContain("tok0");
    expect(text).not.toContain("tok1");
    expect(text).not.toContain("[DONE]");
    expect(broke || !text.includes('finish_reason":"stop')).toBe(true);
    expect(await mockSaw(b)).toBe(0);
  });
});

describe("routes: keys", SLOW, () => {
  it("two keys, one rate-limited: it rests while the other serves every request", async () => {
    const name = mockName("keys");
    const { token, upstreams } = await routedProject([
      {
        name: "a",
        mock: { name },
        keys: [
          { api_key: "sk-limited-key-0001;status=429;retry-after=30", weight: 1 },
          { api_key: "sk-healthy-key-0002", weight: 1 },
        ],
      },
    ]);
    const sdk = sdkFor(token.token);
    for (let i = 0; i < 12; i++) {
      const done = await sdk.chat.completions.create({ model: "smart", messages });
      expect(done.model).toBe("gpt-4o-mini");
    }
    const seen = (await (
      await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests?upstream=${name}`)
    ).json()) as { headers: Record<string, string> }[];
    const limited = seen.filter((r) => r.headers.authorization?.includes("limited")).length;
    // The limited key was tried at most once: it then rests for its retry-after (30 s).
    expect(limited).toBeLessThanOrEqual(1);
    expect(seen.length - limited).toBe(12);
    expect(upstreams[0]!.keys).toHaveLength(2);
  });

  it("a key the upstream refuses (401) is taken out and shown as failing; the other key serves", async () => {
    const name = mockName("auth");
    const { token, upstreams } = await routedProject([
      {
        name: "a",
        mock: { name },
        keys: [
          { api_key: "sk-revoked-key-0001;status=401", weight: 1000 },
          { api_key: "sk-working-key-0002", weight: 1 },
        ],
      },
    ]);
    const sdk = sdkFor(token.token);
    for (let i = 0; i < 5; i++) await sdk.chat.completions.create({ model: "smart", messages });
    const upstreamId = upstreams[0]!.id;
    await eventually(async () => {
      const u = await json<{ keys: { hint: string; failing: boolean; failing_reason: string | null }[] }>(
        await manage(`/upstreams/${upstreamId}`),
      );
      return u.keys.some((k) => k.failing && k.failing_reason === "the upstream answered 401");
    });
    const u = await json<{ keys: { failing: boolean }[] }>(await manage(`/upstreams/${upstreamId}`));
    expect(u.keys.filter((k) => k.failing)).toHaveLength(1);
  });
});

describe("routes: keys by weight", SLOW, () => {
  it("an upstream's keys share its requests in proportion to their weights", async () => {
    const name = mockName("weights");
    const { token } = await routedProject([
      {
        name: "a",
        mock: { name },
        keys: [
          { api_key: "sk-heavy-key-0001", weight: 3 },
          { api_key: "sk-light-key-0002", weight: 1 },
        ],
      },
    ]);
    for (let i = 0; i < 40; i++) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: { model: "smart", messages },
      });
      expect(res.status).toBe(200);
      await res.text();
    }
    const seen = (await (
      await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests?upstream=${name}`)
    ).json()) as { headers: Record<string, string> }[];
    expect(seen).toHaveLength(40);
    const heavy = seen.filter((r) => r.headers.authorization === "Bearer sk-heavy-key-0001").length;
    // Binomial(40, 3/4): mean 30, sd 2.7; these bounds fail about once in 5000 runs.
    expect(heavy).toBeGreaterThanOrEqual(20);
    expect(heavy).toBeLessThanOrEqual(38);
    expect(seen.length - heavy).toBeGreaterThanOrEqual(2);
  });
});

describe("routes: a dead upstream under sustained load", SLOW, () => {
  it("stops receiving traffic once its breaker opens", async () => {
    const dead = mockName("dead");
    const good = mockName("good");
    const { token } = await routedProject([
      { name: "a", mock: { name: dead, status: 503 } },
      { name: "b", mock: { name: good } },
    ]);
    const total = 200;
    const concurrency = 10;
    let next = 0;
    let ok = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next++;
          const res = await proxy("/chat/completions", {
            token: token.token,
            json: { model: "smart", messages },
          });
          if (res.status === 200) ok++;
          await res.text();
        }
      }),
    );
    expect(ok).toBe(total);
    const reached = await mockSaw(dead);
    // 3 consecutive failures open it; the requests already on their way when it opened still went there.
    expect(reached).toBeLessThanOrEqual(3 + concurrency);
    console.log(`dead upstream under load: ${reached} of ${total} requests reached it`);
  });

  it("after its cool-down (10 s) it gets one probe; a healed upstream's probe closes it and traffic returns", async () => {
    const flaky = mockName("flaky");
    const good = mockName("good");
    // The mock fails the first three requests addressed to `flaky`, then answers.
    const { token } = await routedProject([
      { name: "a", mock: { name: flaky, status: 503, "fail-first": 3 } },
      { name: "b", mock: { name: good } },
    ]);
    const ask = async () => {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: { model: "smart", messages },
      });
      expect(res.status).toBe(200);
      await res.text();
      return res.headers.get("x-mock-upstream-name");
    };
    for (let i = 0; i < 3; i++) expect(await ask()).toBe(good);
    // Open: the healed upstream is not asked during the cool-down.
    expect(await ask()).toBe(good);
    expect(await mockSaw(flaky)).toBe(3);
    await sleep(10_300);
    expect(await ask()).toBe(flaky); // the probe
    expect(await ask()).toBe(flaky); // closed again
    expect(await mockSaw(flaky)).toBe(5);
  }, 30_000);

  it("a route whose only key rests: its 429 passes on unchanged, then 503 upstream_unavailable until the rest ends", async () => {
    const a = mockName("a");
    const { token } = await routedProject([{ name: "a", mock: { name: a, status: 429, "retry-after": 7 } }], {
      max_requests: 10,
    });
    const first = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "smart", messages },
    });
    expect(first.status).toBe(429);
    expect(first.headers.get("retry-after")).toBe("7");
    expect(((await first.json()) as { error: { code: string } }).error.code).toBe("mock_error");
    const second = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "smart", messages },
    });
    expect(second.status).toBe(503);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe("upstream_unavailable");
    const wait = Number(second.headers.get("retry-after"));
    expect(wait).toBeGreaterThanOrEqual(6);
    expect(wait).toBeLessThanOrEqual(7);
    expect(Number(second.headers.get("retry-after-ms"))).toBeLessThanOrEqual(7_000);
    expect(await mockSaw(a)).toBe(1);
    const live = await json<{ request_count: number; allowance: { requests: { used: number } } }>(
      await manage(`/tokens/${token.id}`),
    );
    console.log("requests counted after a 429 and a 503 upstream_unavailable:", live.request_count);
  });

  it("when every target is open: 503 upstream_unavailable with retry-after, nothing sent", async () => {
    const a = mockName("a");
    const b = mockName("b");
    const { token } = await routedProject([
      { name: "a", mock: { name: a, status: 503 } },
      { name: "b", mock: { name: b, status: 502 } },
    ]);
    for (let i = 0; i < 3; i++) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: { model: "smart", messages },
      });
      await res.text();
    }
    const before = (await mockSaw(a)) + (await mockSaw(b));
    const res = await proxy("/chat/completions", { token: token.token, json: { model: "smart", messages } });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).toBe("upstream_unavailable");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await mockSaw(a)) + (await mockSaw(b))).toBe(before);
  });
});

describe("routes: breakers shared per location", SLOW, () => {
  it("an isolate adopts a breaker another isolate of the location opened (Cache API), off the request path", async () => {
    const a = mockName("a");
    const b = mockName("b");
    const { token, upstreams } = await routedProject([
      { name: "a", mock: { name: a } },
      { name: "b", mock: { name: b } },
    ]);
    // What an isolate that opened a's breaker writes (src/proxy/shared-health.ts).
    await caches.default.put(
      `https://breaker.llm-proxy.internal/${upstreams[0]!.id}`,
      new Response(String(Date.now() + 60_000), { headers: { "cache-control": "max-age=60" } }),
    );
    const first = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "smart", messages },
    });
    // The first request is not held up by the look: it still went to a (a healthy upstream).
    expect(first.headers.get("x-mock-upstream-name")).toBe(a);
    await first.text();
    await sleep(200);
    const second = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "smart", messages },
    });
    expect(second.headers.get("x-mock-upstream-name")).toBe(b);
    await second.text();
    expect(await mockSaw(a)).toBe(1);
  });
});

describe("routes: limits hold across retries", SLOW, () => {
  it("max_requests counts a request once, however many attempts it took", async () => {
    const { token } = await routedProject(
      [
        { name: "a", mock: { name: mockName("a"), status: 500 } },
        { name: "b", mock: { name: mockName("b") } },
      ],
      { max_requests: 4 },
    );
    for (let i = 0; i < 4; i++) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: { model: "smart", messages },
      });
      expect(res.status).toBe(200);
      await res.text();
    }
    const refused = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "smart", messages },
    });
    expect(refused.status).toBe(429);
    const live = await json<{ request_count: number }>(await manage(`/tokens/${token.id}`));
    expect(live.request_count).toBe(4);
  });

  it("max_requests is exact under concurrency while every request falls over", async () => {
    const b = mockName("b");
    const { token } = await routedProject(
      [
        { name: "a", mock: { name: mockName("a"), status: 502 } },
        { name: "b", mock: { name: b } },
      ],
      { max_requests: 5 },
    );
    const statuses = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const res = await proxy("/chat/completions", {
          token: token.token,
          json: { model: "smart", messages },
        });
        await res.text();
        return res.status;
      }),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    // Refused requests never reach an upstream; admitted ones reach the healthy one once each.
    expect(await mockSaw(b)).toBe(5);
    const live = await json<{ request_count: number }>(await manage(`/tokens/${token.id}`));
    expect(live.request_count).toBe(5);
  });

  it("a token budget is charged once, for the attempt that served (a stream that broke before its first byte costs nothing)", async () => {
    const { token } = await routedProject(
      [
        { name: "a", mock: { name: mockName("a"), reset: "head" } },
        { name: "b", mock: { name: mockName("b") } },
      ],
      { max_tokens: 10_000 },
    );
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: {
          model: "smart",
          messages,
          max_tokens: 50,
          stream: true,
          stream_options: { include_usage: true },
        },
      });
      expect(res.status).toBe(200);
      ids.push(res.headers.get("x-request-id")!);
      await res.text();
    }
    const events = await eventsOf(ids);
    let total = 0;
    for (const e of events.values()) {
      expect(e).toMatchObject({ upstream: "b", model: "gpt-4o", attempts: 2 });
      total += e.usage!.total_tokens;
    }
    await eventually(async () => {
      const t = await json<{ allowance: { tokens: { used: number; reserved: number } } }>(
        await manage(`/tokens/${token.id}`),
      );
      return t.allowance.tokens.reserved === 0 && t.allowance.tokens.used === total;
    });
  });

  it("a request whose every attempt failed costs nothing: its hold is released, its last answer passed on", async () => {
    const { token } = await routedProject(
      [
        { name: "a", mock: { name: mockName("a"), status: 500 } },
        { name: "b", mock: { name: mockName("b"), status: 503 } },
      ],
      { max_cost_usd: 1, max_tokens: 10_000 },
    );
    const res = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "smart", messages, max_tokens: 50 },
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("mock_error");
    const [event] = (await eventsOf([res.headers.get("x-request-id")!])).values();
    expect(event).toMatchObject({ status: 503, upstream: "b", attempts: 3, usage: null, cost_usd: null });
    await eventually(async () => {
      const t = await json<{
        allowance: {
          cost_usd: { used: number; reserved: number };
          tokens: { used: number; reserved: number };
        };
      }>(await manage(`/tokens/${token.id}`));
      const { cost_usd, tokens } = t.allowance;
      return cost_usd.used === 0 && cost_usd.reserved === 0 && tokens.used === 0 && tokens.reserved === 0;
    });
  });

  it("a cost budget reserves for the priciest target and is charged what the serving model cost", async () => {
    const { token } = await routedProject(
      [
        { name: "a", mock: { name: mockName("a"), status: 503 } },
        { name: "b", mock: { name: mockName("b") } },
      ],
      { max_cost_usd: 1 },
    );
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: { model: "smart", messages, max_tokens: 50 },
      });
      expect(res.status).toBe(200);
      ids.push(res.headers.get("x-request-id")!);
      await res.text();
    }
    const events = await eventsOf(ids);
    const charged = [...events.values()].reduce((sum, e) => sum + (e.cost_usd ?? 0), 0);
    for (const e of events.values()) expect(e.model).toBe("gpt-4o");
    await eventually(async () => {
      const t = await json<{ allowance: { cost_usd: { used: number; reserved: number } } }>(
        await manage(`/tokens/${token.id}`),
      );
      return t.allowance.cost_usd.reserved === 0 && Math.abs(t.allowance.cost_usd.used - charged) < 1e-9;
    });
  });

  it("the hold is for the priciest target: an alias that may end on gpt-4o does not fit where gpt-4o-mini does", async () => {
    // ~100 bytes of prompt and 50 output tokens: about $0.00005 at gpt-4o-mini's price, $0.0008 at gpt-4o's.
    const { token } = await routedProject(
      [
        { name: "a", mock: { name: mockName("a") } },
        { name: "b", mock: { name: mockName("b") } },
      ],
      { max_cost_usd: 0.0002 },
    );
    const body = { messages, max_tokens: 50 };
    const alias = await proxy("/chat/completions", { token: token.token, json: { model: "smart", ...body } });
    expect(alias.status).toBe(429);
    expect(((await alias.json()) as { error: { code: string } }).error.code).toBe("quota_exceeded");
    const direct = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "gpt-4o-mini", ...body },
    });
    expect(direct.status).toBe(200);
  });

  it("an alias with an unpriced target is refused for a cost-budgeted token", async () => {
    const { token } = await routedProject(
      [
        { name: "a", mock: { name: mockName("a") } },
        { name: "b", mock: { name: mockName("b") } },
      ],
      { max_cost_usd: 1 },
      { name: "smart", models: ["gpt-4o-mini", "some-unpriced-model"] },
    );
    const res = await proxy("/chat/completions", { token: token.token, json: { model: "smart", messages } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("model_not_allowed");
  });
});

describe("routes: models", SLOW, () => {
  it("a model no upstream serves and no alias names is refused before counting", async () => {
    const { token } = await routedProject(
      [{ name: "a", mock: { name: mockName("a") }, models: ["gpt-4o*"] }],
      { max_requests: 1 },
    );
    const res = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "claude-3", messages },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get("x-should-retry")).toBe("false");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("model_not_found");
    const ok = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "gpt-4o-mini", messages },
    });
    expect(ok.status).toBe(200);
  });

  it("a project without an active upstream is 503 upstream_unavailable, not retryable, nothing counted", async () => {
    const a = mockName("a");
    const { token, upstreams } = await routedProject([{ name: "a", mock: { name: a } }], { max_requests: 1 });
    const patch = (is_active: boolean) =>
      manage(`/upstreams/${upstreams[0]!.id}`, { method: "PATCH", body: { is_active } });
    expect((await patch(false)).status).toBe(200);
    const res = await proxy("/chat/completions", { token: token.token, json: { model: "smart", messages } });
    expect(res.status).toBe(503);
    expect(res.headers.get("x-should-retry")).toBe("false");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("upstream_unavailable");
    expect(await mockSaw(a)).toBe(0);
    expect((await patch(true)).status).toBe(200);
    const ok = await proxy("/chat/completions", { token: token.token, json: { model: "smart", messages } });
    expect(ok.status).toBe(200);
  });

  it("allowed_models applies to the name asked: an alias is allowed or refused as itself", async () => {
    const { token } = await routedProject(
      [
        { name: "a", mock: { name: mockName("a") } },
        { name: "b", mock: { name: mockName("b") } },
      ],
      { allowed_models: ["smart"] },
    );
    const viaAlias = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "smart", messages },
    });
    expect(viaAlias.status).toBe(200);
    for (const model of ["gpt-4o-mini", "gpt-4o"]) {
      const direct = await proxy("/chat/completions", { token: token.token, json: { model, messages } });
      expect(direct.status).toBe(403);
      expect(((await direct.json()) as { error: { code: string } }).error.code).toBe("model_not_allowed");
    }
    const other = await routedProject([{ name: "a", mock: { name: mockName("a") } }], {
      allowed_models: ["gpt-4o-mini"],
    });
    // The alias's only target is gpt-4o-mini, yet the alias is not in the list: refused, nothing sent.
    const refused = await proxy("/chat/completions", {
      token: other.token.token,
      json: { model: "smart", messages },
    });
    expect(refused.status).toBe(403);
  });

  it("GET /v1/models lists aliases and upstream models, filtered by the token's allowed models", async () => {
    const { token } = await routedProject(
      [
        { name: "a", mock: { name: mockName("a") }, models: ["gpt-4o*"] },
        { name: "b", mock: { name: mockName("b") }, models: ["text-embedding-3-small", "local-*"] },
      ],
      { allowed_models: ["smart", "gpt-4o-mini", "text-embedding-3-small"] },
    );
    const list = await sdkFor(token.token).models.list();
    const ids = list.data.map((m) => m.id).sort();
    expect(ids).toEqual(["gpt-4o-mini", "smart", "text-embedding-3-small"]);
    const alias = await sdkFor(token.token).models.retrieve("smart");
    expect(alias.id).toBe("smart");
  });

  it("a weighted alias spreads requests by weight", async () => {
    const a = mockName("a");
    const b = mockName("b");
    const { project, token } = await routedProject([
      { name: "a", mock: { name: a } },
      { name: "b", mock: { name: b } },
    ]);
    const res = await manage(`/projects/${project.id}/aliases`, {
      method: "POST",
      body: {
        name: "mix",
        strategy: "weighted",
        targets: [
          { upstream: "a", model: "gpt-4o-mini", weight: 3 },
          { upstream: "b", model: "gpt-4o-mini", weight: 1 },
        ],
      },
    });
    expect(res.status).toBe(201);
    for (let i = 0; i < 80; i++) {
      const r = await proxy("/chat/completions", { token: token.token, json: { model: "mix", messages } });
      await r.text();
    }
    const toA = await mockSaw(a);
    expect(toA + (await mockSaw(b))).toBe(80);
    expect(toA).toBeGreaterThan(40);
    expect(toA).toBeLessThan(75);
  });
});
