import { env } from "cloudflare:workers";
import OpenAI from "openai";
import { describe, expect, it, vi } from "vitest";
import { BASE, createToken, json, manage } from "./helpers";
import { eventsOf } from "./support/events";
import { mockProjectToken, newTag, proxy, upstreamSaw, workerFetch } from "./support/proxy";

// The response cache through the official OpenAI SDK: the second identical request never reaches the mock
// upstream and the client gets the first answer's bytes. The mock's `x-mock-chunks` header is not part of
// the key, so a second request asking for a different number of chunks shows where its answer came from.

// Events arrive through the queue a few seconds after their request.
vi.setConfig({ testTimeout: 30_000 });

const CACHE = { ttl_seconds: 600 };

/** The SDK with its requests going to the worker, tagged for the mock; `raw` keeps each response's text. */
function client(apiKey: string, headers: Record<string, string> = {}) {
  const raw: { status: number; headers: Headers; text: string }[] = [];
  const sdk = new OpenAI({
    apiKey,
    baseURL: `${BASE}/v1`,
    defaultHeaders: headers,
    maxRetries: 0,
    fetch: async (input, init) => {
      const res = await workerFetch(input as RequestInfo, init as RequestInit);
      const text = await res.clone().text();
      raw.push({ status: res.status, headers: res.headers, text });
      return res;
    },
  });
  return { sdk, raw };
}

const messages = [{ role: "user" as const, content: "What is a withering token?" }];

async function cachedProject(
  cache: Record<string, unknown> = CACHE,
  tokenExtra: Record<string, unknown> = {},
) {
  return mockProjectToken(tokenExtra, { cache });
}

describe("response cache: the same request twice", () => {
  it("chat completions, plain: the second is answered from the cache, byte for byte", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    const first = client(token.token, { "x-mock-tag": tag });
    const a = await first.sdk.chat.completions.create({ model: "gpt-4o-mini", messages });
    const second = client(token.token, { "x-mock-tag": tag, "x-mock-chunks": "7" });
    const b = await second.sdk.chat.completions.create({ model: "gpt-4o-mini", messages });

    expect((await upstreamSaw(tag)).length).toBe(1);
    expect(b).toEqual(a);
    expect(second.raw[0]!.text).toBe(first.raw[0]!.text);
    expect(first.raw[0]!.headers.get("x-llm-proxy-cache")).toBe("miss");
    expect(second.raw[0]!.headers.get("x-llm-proxy-cache")).toBe("hit");
    expect(Number(second.raw[0]!.headers.get("age"))).toBeGreaterThanOrEqual(0);
    expect(second.raw[0]!.headers.get("content-type")).toBe(first.raw[0]!.headers.get("content-type"));
    // Each request keeps its own gateway id.
    expect(second.raw[0]!.headers.get("x-request-id")).not.toBe(first.raw[0]!.headers.get("x-request-id"));
    // Served again and again (from the isolate's memory, concurrently too): the bytes stay whole.
    await Promise.all(
      Array.from({ length: 5 }, () => second.sdk.chat.completions.create({ model: "gpt-4o-mini", messages })),
    );
    expect(second.raw.map((r) => r.text)).toEqual(Array(6).fill(first.raw[0]!.text));
    expect((await upstreamSaw(tag)).length).toBe(1);
  });

  it("chat completions, streamed: replayed as the same SSE events (with and without include_usage)", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    const first = client(token.token, { "x-mock-tag": tag });
    const second = client(token.token, { "x-mock-tag": tag, "x-mock-chunks": "9" });
    for (const options of [undefined, { include_usage: true }]) {
      const texts: string[] = [];
      for (const { sdk } of [first, second]) {
        const stream = await sdk.chat.completions.create({
          model: "gpt-4o-mini",
          messages,
          stream: true,
          ...(options ? { stream_options: options } : {}),
        });
        let text = "";
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
        texts.push(text);
      }
      expect(texts[1]).toBe(texts[0]);
    }
    // Two different bodies (with and without stream_options): two upstream calls, two hits.
    expect((await upstreamSaw(tag)).length).toBe(2);
    expect(second.raw.map((r) => r.headers.get("x-llm-proxy-cache"))).toEqual(["hit", "hit"]);
    expect(second.raw.map((r) => r.text)).toEqual(first.raw.map((r) => r.text));
    expect(second.raw[0]!.headers.get("content-type")).toMatch(/^text\/event-stream/);
    // Without include_usage the client's stream has no usage chunk, from the upstream or from the cache.
    expect(second.raw[0]!.text).not.toContain('"usage"');
    expect(second.raw[1]!.text).toContain('"usage":{');
  });

  it("a streamed and a plain request of the same messages are separate entries", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    const { sdk, raw } = client(token.token, { "x-mock-tag": tag });
    await sdk.chat.completions.create({ model: "gpt-4o-mini", messages });
    const stream = await sdk.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    for await (const _ of stream) {
      // drain
    }
    expect(raw.map((r) => r.headers.get("x-llm-proxy-cache"))).toEqual(["miss", "miss"]);
    expect((await upstreamSaw(tag)).length).toBe(2);
  });

  it("Responses API (store false or absent), plain and streamed", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    const first = client(token.token, { "x-mock-tag": tag });
    const second = client(token.token, { "x-mock-tag": tag, "x-mock-chunks": "6" });
    const bodies = [
      { model: "gpt-4o-mini", input: "hi" },
      { model: "gpt-4o-mini", input: "hi", store: false },
    ];
    for (const body of bodies) {
      const a = await first.sdk.responses.create(body);
      const b = await second.sdk.responses.create(body);
      expect(b.output_text).toBe(a.output_text);
    }
    const types: string[][] = [];
    for (const { sdk } of [first, second]) {
      const stream = await sdk.responses.create({ model: "gpt-4o-mini", input: "hi", stream: true });
      const seen: string[] = [];
      for await (const event of stream) seen.push(event.type);
      types.push(seen);
    }
    expect(types[1]).toEqual(types[0]);
    expect(types[0]!.at(-1)).toBe("response.completed");
    expect((await upstreamSaw(tag)).length).toBe(3);
    expect(second.raw.map((r) => r.headers.get("x-llm-proxy-cache"))).toEqual(["hit", "hit", "hit"]);
    expect(second.raw.map((r) => r.text)).toEqual(first.raw.map((r) => r.text));
  });

  it("Responses with store: true, background or a conversation are never cached", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    const { sdk, raw } = client(token.token, { "x-mock-tag": tag });
    for (let i = 0; i < 2; i++)
      await sdk.responses.create({ model: "gpt-4o-mini", input: "hi", store: true });
    expect(raw.map((r) => r.headers.get("x-llm-proxy-cache"))).toEqual(["bypass", "bypass"]);
    expect((await upstreamSaw(tag)).length).toBe(2);
  });

  it("embeddings (base64, as the SDK asks) and moderations", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    const first = client(token.token, { "x-mock-tag": tag });
    const second = client(token.token, { "x-mock-tag": tag });
    const a = await first.sdk.embeddings.create({ model: "text-embedding-3-small", input: "hello" });
    const b = await second.sdk.embeddings.create({ model: "text-embedding-3-small", input: "hello" });
    expect(b.data[0]?.embedding).toEqual(a.data[0]?.embedding);
    await first.sdk.moderations.create({ model: "omni-moderation-latest", input: "hello" });
    await second.sdk.moderations.create({ model: "omni-moderation-latest", input: "hello" });
    expect((await upstreamSaw(tag)).length).toBe(2);
    expect(second.raw.map((r) => r.headers.get("x-llm-proxy-cache"))).toEqual(["hit", "hit"]);
    expect(second.raw.map((r) => r.text)).toEqual(first.raw.map((r) => r.text));
  });

  it("legacy completions", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    const { sdk, raw } = client(token.token, { "x-mock-tag": tag });
    const a = await sdk.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Once" });
    const b = await sdk.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Once" });
    expect(b).toEqual(a);
    expect(raw.map((r) => r.headers.get("x-llm-proxy-cache"))).toEqual(["miss", "hit"]);
    expect((await upstreamSaw(tag)).length).toBe(1);
  });

  it("the hit's event says cache: hit with the original usage, cost 0 and the money saved", async () => {
    const { token } = await cachedProject();
    const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: "an event" }] };
    const a = await proxy("/chat/completions", { token: token.token, json: body });
    await a.text();
    const b = await proxy("/chat/completions", { token: token.token, json: body });
    await b.text();
    const id = (r: Response) => r.headers.get("x-request-id")!;
    const events = await eventsOf([id(a), id(b)]);
    const miss = events.get(id(a))!;
    const hit = events.get(id(b))!;
    expect(miss).toMatchObject({ cache: "miss", usage_source: "upstream" });
    expect(miss.cost_usd).toBeGreaterThan(0);
    expect(hit).toMatchObject({
      cache: "hit",
      status: 200,
      usage: miss.usage,
      cost_usd: 0,
      saved_usd: miss.cost_usd,
      model: "gpt-4o-mini",
      upstream_request_id: null,
    });
  });
});

describe("response cache: what never shares an entry", () => {
  it("two projects never share, even with the same upstream and body", async () => {
    const one = await cachedProject();
    const two = await cachedProject();
    const tag = newTag();
    const body = { model: "gpt-4o-mini", messages };
    for (const { token } of [one, two, one, two]) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: body,
        headers: { "x-mock-tag": tag },
      });
      await res.text();
    }
    expect((await upstreamSaw(tag)).length).toBe(2);
  });

  it("two tokens of one project share (the key never holds the token)", async () => {
    const { project, token } = await cachedProject();
    const other = await createToken(project.id);
    const tag = newTag();
    const body = { model: "gpt-4o-mini", messages };
    const a = await proxy("/chat/completions", {
      token: token.token,
      json: body,
      headers: { "x-mock-tag": tag },
    });
    const b = await proxy("/chat/completions", {
      token: other.token,
      json: body,
      headers: { "x-mock-tag": tag },
    });
    expect(await b.text()).toBe(await a.text());
    expect(b.headers.get("x-llm-proxy-cache")).toBe("hit");
  });

  it("every field that can change the answer is in the key; member order is not", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    const base = { model: "gpt-4o-mini", messages, temperature: 0.2 };
    const variants: Record<string, unknown>[] = [
      base,
      { ...base, model: "gpt-4o" },
      { ...base, temperature: 0.3 },
      { ...base, seed: 1 },
      { ...base, n: 2 },
      { ...base, user: "alice" },
      { ...base, stream_options: null },
      { ...base, messages: [{ role: "user", content: "What is a withering token? " }] },
      { ...base, messages: [{ role: "system", content: "What is a withering token?" }] },
      {
        ...base,
        response_format: {
          type: "json_schema",
          json_schema: { name: "a", schema: { type: "object", properties: { x: {}, y: {} } } },
        },
      },
      // The same schema with its properties in another order: structured outputs follow that order.
      {
        ...base,
        response_format: {
          type: "json_schema",
          json_schema: { name: "a", schema: { type: "object", properties: { y: {}, x: {} } } },
        },
      },
    ];
    const statuses: string[] = [];
    for (const body of variants) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: body,
        headers: { "x-mock-tag": tag },
      });
      await res.text();
      statuses.push(res.headers.get("x-llm-proxy-cache")!);
    }
    expect(statuses.every((s) => s === "miss")).toBe(true);
    expect((await upstreamSaw(tag)).length).toBe(variants.length);

    // The same request with its members in another order, and with a safety_identifier: hits.
    const reordered = `{"temperature":0.2,"messages":[{"content":"What is a withering token?","role":"user"}],"model":"gpt-4o-mini"}`;
    const res = await proxy("/chat/completions", {
      token: token.token,
      body: reordered,
      headers: { "content-type": "application/json", "x-mock-tag": tag },
    });
    await res.text();
    expect(res.headers.get("x-llm-proxy-cache")).toBe("hit");
    const withId = await proxy("/chat/completions", {
      token: token.token,
      json: { ...base, safety_identifier: "user-42" },
      headers: { "x-mock-tag": tag },
    });
    await withId.text();
    expect(withId.headers.get("x-llm-proxy-cache")).toBe("hit");
    expect((await upstreamSaw(tag)).length).toBe(variants.length);
  });

  it("a body with duplicate members goes upstream as the gateway read it, so its key is honest", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    const duplicated = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"one"}],"messages":[{"role":"user","content":"two"}]}`;
    const res = await proxy("/chat/completions", {
      token: token.token,
      body: duplicated,
      headers: { "content-type": "application/json", "x-mock-tag": tag },
    });
    await res.text();
    const [seen] = await upstreamSaw(tag);
    expect(JSON.parse(seen!.bodyText!)).toEqual({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "two" }],
    });
  });
});

describe("response cache: the client's say", () => {
  it("cache-control: no-cache / no-store and x-llm-proxy-cache: bypass skip it; refresh replaces the entry", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    const body = { model: "gpt-4o-mini", messages };
    const send = async (headers: Record<string, string>) => {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: body,
        headers: { "x-mock-tag": tag, ...headers },
      });
      return { status: res.headers.get("x-llm-proxy-cache"), text: await res.text() };
    };
    expect((await send({ "cache-control": "no-store" })).status).toBe("bypass");
    // Nothing was stored by the bypass.
    expect((await send({})).status).toBe("miss");
    expect((await send({ "cache-control": "no-cache" })).status).toBe("bypass");
    expect((await send({ "x-llm-proxy-cache": "bypass" })).status).toBe("bypass");
    expect((await send({})).status).toBe("hit");
    expect((await upstreamSaw(tag)).length).toBe(4);
    // A refresh goes upstream (5 chunks now) and its answer replaces the entry.
    const fresh = await send({ "x-llm-proxy-cache": "refresh", "x-mock-chunks": "5" });
    expect(fresh.status).toBe("refresh");
    const after = await send({});
    expect(after.status).toBe("hit");
    expect(after.text).toBe(fresh.text);
    expect((await upstreamSaw(tag)).length).toBe(5);
    // The gateway's own header never reaches the upstream.
    expect((await upstreamSaw(tag)).some((r) => "x-llm-proxy-cache" in r.headers)).toBe(false);
  });

  it("a token denied the cache neither reads nor writes it, and sees no cache header", async () => {
    const { project, token } = await cachedProject();
    const denied = await createToken(project.id, { cache: false });
    expect(denied).toMatchObject({ cache: false });
    const tag = newTag();
    const body = { model: "gpt-4o-mini", messages };
    const send = async (t: string) => {
      const res = await proxy("/chat/completions", { token: t, json: body, headers: { "x-mock-tag": tag } });
      await res.text();
      return res.headers.get("x-llm-proxy-cache");
    };
    expect(await send(denied.token)).toBeNull();
    expect(await send(token.token)).toBe("miss");
    expect(await send(denied.token)).toBeNull();
    expect(await send(token.token)).toBe("hit");
    expect((await upstreamSaw(tag)).length).toBe(3);
  });

  it("excluded endpoints are not cached; a project without the cache sends no cache header", async () => {
    const { token } = await cachedProject({ ttl_seconds: 600, exclude: ["/embeddings"] });
    const plain = await mockProjectToken();
    const tag = newTag();
    for (const t of [token, token, plain.token, plain.token]) {
      const res = await proxy("/embeddings", {
        token: t.token,
        json: { model: "text-embedding-3-small", input: "x" },
        headers: { "x-mock-tag": tag },
      });
      await res.text();
      expect(res.headers.get("x-llm-proxy-cache")).toBeNull();
    }
    expect((await upstreamSaw(tag)).length).toBe(4);
  });
});

describe("response cache: what is never stored", () => {
  it("upstream errors, streams cut or ended by an error, streams without their end", async () => {
    const { token } = await cachedProject();
    const cases: Record<string, string>[] = [
      { "x-mock-status": "500" },
      { "x-mock-status": "429" },
      { "x-mock-fail-after": "1" },
      { "x-mock-reset": "after" },
      { "x-mock-no-done": "1" },
    ];
    for (const headers of cases) {
      const tag = newTag();
      const body = {
        model: "gpt-4o-mini",
        messages,
        stream: true,
        metadata: { case: JSON.stringify(headers) },
      };
      for (let i = 0; i < 2; i++) {
        const res = await proxy("/chat/completions", {
          token: token.token,
          json: body,
          headers: { "x-mock-tag": tag, ...headers },
        });
        await res.text().catch(() => "");
        expect(res.headers.get("x-llm-proxy-cache")).toBe("miss");
      }
      // Each request went upstream (a 429 or 5xx is retried too: routing's retries, docs/routing.md).
      expect((await upstreamSaw(tag)).length).toBeGreaterThanOrEqual(2);
    }
  });

  it("a client that leaves mid-stream stores nothing", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    const body = { model: "gpt-4o-mini", messages, stream: true, metadata: { case: "left" } };
    const cut = await proxy("/chat/completions", {
      token: token.token,
      json: body,
      headers: { "x-mock-tag": tag, "x-mock-chunks": "20", "x-mock-interval-ms": "30" },
    });
    const reader = cut.body!.getReader();
    await reader.read();
    await reader.cancel();
    const again = await proxy("/chat/completions", {
      token: token.token,
      json: body,
      headers: { "x-mock-tag": tag },
    });
    await again.text();
    expect(again.headers.get("x-llm-proxy-cache")).toBe("miss");
  });

  it("Responses streams that fail or end incomplete", async () => {
    const { token } = await cachedProject();
    for (const end of ["failed", "incomplete"]) {
      const tag = newTag();
      for (let i = 0; i < 2; i++) {
        const res = await proxy("/responses", {
          token: token.token,
          json: { model: "gpt-4o-mini", input: `end ${end}`, stream: true },
          headers: { "x-mock-tag": tag, "x-mock-responses-end": end },
        });
        await res.text();
      }
      expect((await upstreamSaw(tag)).length).toBe(2);
    }
  });

  it("answers over CACHE_MAX_ENTRY_BYTES and multipart uploads", async () => {
    const { token } = await cachedProject();
    const tag = newTag();
    // The tests run with CACHE_MAX_ENTRY_BYTES = 64 KiB (vitest.config.ts): 600 chunks are past it.
    const body = { model: "gpt-4o-mini", messages, stream: true, metadata: { case: "large" } };
    for (let i = 0; i < 2; i++) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: body,
        headers: { "x-mock-tag": tag, "x-mock-chunks": "600" },
      });
      expect((await res.text()).length).toBeGreaterThan(65536);
      expect(res.headers.get("x-llm-proxy-cache")).toBe("miss");
    }
    expect((await upstreamSaw(tag)).length).toBe(2);
    const form = new FormData();
    form.set("model", "whisper-1");
    form.set("file", new File([new Uint8Array(100)], "a.wav"));
    const upload = await proxy("/audio/transcriptions", { token: token.token, body: form });
    await upload.text();
    expect(upload.headers.get("x-llm-proxy-cache")).toBeNull();
  });
});

describe("response cache: management", () => {
  it("settings are validated, shown and changeable; purge is effective at once", async () => {
    const bad = await manage("/projects", {
      method: "POST",
      body: { name: `bad-${newTag()}`, api_key: "sk-x", cache: { ttl_seconds: 0 } },
    });
    expect(bad.status).toBe(400);
    const unknown = await manage("/projects", {
      method: "POST",
      body: { name: `bad-${newTag()}`, api_key: "sk-x", cache: { ttl_seconds: 60, exclude: ["/files"] } },
    });
    expect(unknown.status).toBe(400);

    const { project, token } = await cachedProject({ ttl_seconds: 600, hits_skip_rate_limits: true });
    const shown = await json<Record<string, unknown>>(await manage(`/projects/${project.id}`));
    expect(shown).toMatchObject({
      cache: { ttl_seconds: 600, exclude: [], hits_skip_rate_limits: true },
      cache_generation: 0,
    });

    const tag = newTag();
    const body = { model: "gpt-4o-mini", messages };
    const send = async () => {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: body,
        headers: { "x-mock-tag": tag },
      });
      await res.text();
      return res.headers.get("x-llm-proxy-cache");
    };
    expect(await send()).toBe("miss");
    expect(await send()).toBe("hit");
    const purged = await manage(`/projects/${project.id}/cache`, { method: "DELETE" });
    expect(purged.status).toBe(200);
    expect(await json(purged)).toEqual({ cache_generation: 1 });
    expect(await send()).toBe("miss");
    expect(await send()).toBe("hit");
    expect((await upstreamSaw(tag)).length).toBe(2);

    // Turning it off: no header, no hit.
    const off = await manage(`/projects/${project.id}`, { method: "PATCH", body: { cache: null } });
    expect(await json(off)).toMatchObject({ cache: null });
    expect(await send()).toBeNull();
    expect((await upstreamSaw(tag)).length).toBe(3);
    const missing = await manage(`/projects/${crypto.randomUUID()}/cache`, { method: "DELETE" });
    expect(missing.status).toBe(404);
  });
});

describe("response cache: OpenAI chat served by Claude or Gemini (translated answers)", () => {
  const upstreams = {
    anthropic: { model: "claude-haiku-4-5", baseUrl: () => `${env.MOCK_UPSTREAM_URL}/v1` },
    gemini: { model: "gemini-2.5-flash", baseUrl: () => `${env.MOCK_UPSTREAM_URL}/v1beta` },
  } as const;

  it.each(Object.entries(upstreams))(
    "%s: the client's OpenAI bytes are replayed, plain and streamed",
    async (provider, u) => {
      const { token } = await mockProjectToken({}, { provider, base_url: u.baseUrl(), cache: CACHE });
      const tag = newTag();
      const first = client(token.token, { "x-mock-tag": tag });
      const second = client(token.token, { "x-mock-tag": tag, "x-mock-chunks": "8" });
      for (const { sdk } of [first, second]) {
        await sdk.chat.completions.create({ model: u.model, messages });
        const stream = await sdk.chat.completions.create({ model: u.model, messages, stream: true });
        for await (const _ of stream) {
          // drain
        }
      }
      expect((await upstreamSaw(tag)).length).toBe(2);
      expect(second.raw.map((r) => r.headers.get("x-llm-proxy-cache"))).toEqual(["hit", "hit"]);
      expect(second.raw.map((r) => r.text)).toEqual(first.raw.map((r) => r.text));
      expect(second.raw[0]!.headers.get("content-type")).toBe("application/json");
      expect(second.raw[1]!.headers.get("content-type")).toMatch(/^text\/event-stream/);
      expect(second.raw[1]!.text.endsWith("data: [DONE]\n\n")).toBe(true);
    },
  );

  it("a translated stream that ends in an error is not stored", async () => {
    const u = upstreams.anthropic;
    const { token } = await mockProjectToken(
      {},
      { provider: "anthropic", base_url: u.baseUrl(), cache: CACHE },
    );
    const tag = newTag();
    const body = { model: u.model, messages, stream: true, metadata: { case: "translated error" } };
    for (let i = 0; i < 2; i++) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: body,
        headers: { "x-mock-tag": tag, "x-mock-fail-after": "1" },
      });
      await res.text();
      expect(res.headers.get("x-llm-proxy-cache")).toBe("miss");
    }
    expect((await upstreamSaw(tag)).length).toBe(2);
  });
});
