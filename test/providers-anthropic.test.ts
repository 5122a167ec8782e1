import Anthropic from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import { BASE } from "./helpers";
import { eventsOf, recordingFetch } from "./support/events";
import { anthropicInputTokens } from "./support/mock-counts";
import { mockProjectToken, newTag, UPSTREAM_KEY, upstreamSaw, workerFetch } from "./support/proxy";

const MODEL = "claude-sonnet-4-5-20250929";

/** The official Anthropic SDK against the gateway: `baseURL` = the gateway, the withering token as its key. */
function client(options: { apiKey?: string; authToken?: string; headers?: Record<string, string> }) {
  const recorder = recordingFetch(workerFetch);
  let calls = 0;
  const sdk = new Anthropic({
    apiKey: options.apiKey ?? null,
    authToken: options.authToken ?? null,
    baseURL: BASE,
    defaultHeaders: options.headers,
    fetch: (input, init) => {
      calls++;
      return recorder.fetch(input as RequestInfo, init as RequestInit);
    },
  });
  return { sdk, ids: recorder.ids, calls: () => calls };
}

const anthropicProject = (token: Record<string, unknown> = {}, project: Record<string, unknown> = {}) =>
  mockProjectToken(token, { provider: "anthropic", ...project });

const messages: Anthropic.MessageParam[] = [{ role: "user", content: "Say something" }];

/** Every upstream request of a tag carried the project's key and never the withering token. */
async function onlyProjectKey(tag: string, secret: string) {
  const seen = await upstreamSaw(tag);
  expect(seen.length).toBeGreaterThan(0);
  for (const r of seen) {
    expect(r.headers["x-api-key"]).toBe(UPSTREAM_KEY);
    expect(r.headers.authorization).toBeUndefined();
    expect(JSON.stringify(r)).not.toContain(secret);
  }
  return seen;
}

describe("Anthropic's Messages API through the gateway (official SDK)", { timeout: 30_000 }, () => {
  it("messages, plain and streamed, with usage and cost in the events exactly as the upstream reported", async () => {
    const { token } = await anthropicProject();
    const tag = newTag();
    const c = client({
      apiKey: token.token,
      headers: { "x-mock-tag": tag, "x-mock-cache-read": "100", "x-mock-cache-write": "50" },
    });
    const plain = await c.sdk.messages.create({ model: MODEL, max_tokens: 100, messages });
    expect(plain.content[0]).toMatchObject({ type: "text", text: "tok0 tok1 tok2 " });
    expect(plain.usage).toMatchObject({ output_tokens: 3, cache_read_input_tokens: 100 });

    const stream = await c.sdk.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true });
    const types: string[] = [];
    let text = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
    }
    expect(text).toBe("tok0 tok1 tok2 ");
    expect(types[0]).toBe("message_start");
    expect(types.at(-1)).toBe("message_stop");

    const final = await c.sdk.messages.stream({ model: MODEL, max_tokens: 100, messages }).finalMessage();
    expect(final.usage.output_tokens).toBe(3);

    const seen = await onlyProjectKey(tag, token.token);
    expect(seen[0]!.headers["anthropic-version"]).toBeTruthy();
    expect(seen[0]!.url).toBe("/v1/messages");

    const input = anthropicInputTokens({ messages });
    const events = await eventsOf(c.ids);
    for (const id of c.ids) {
      const event = events.get(id)!;
      expect(event).toMatchObject({
        status: 200,
        model: MODEL,
        provider: "anthropic",
        // Anthropic's `request-id` (the mock's JSON answers also carry an `x-request-id`, which wins).
        upstream_request_id: expect.stringMatching(/^req_mock_/),
        usage_source: "upstream",
        usage: {
          prompt_tokens: input + 150,
          completion_tokens: 3,
          total_tokens: input + 153,
          cached_tokens: 100,
          cache_creation_tokens: 50,
        },
      });
      // $3 input, $3.75 5-minute cache writes, $0.30 cache reads, $15 output per million tokens.
      const expected = (input * 3 + 50 * 3.75 + 100 * 0.3 + 3 * 15) / 1e6;
      expect(event.cost_usd).toBeCloseTo(expected, 8);
    }
    expect(events.get(c.ids[1]!)!.stream).toBe(true);
  });

  it("tool use, plain and streamed, and images pass through unchanged", async () => {
    const { token } = await anthropicProject();
    const tag = newTag();
    const c = client({ apiKey: token.token, headers: { "x-mock-tag": tag } });
    const tools: Anthropic.Tool[] = [
      {
        name: "get_weather",
        description: "Weather of a place",
        input_schema: {
          type: "object",
          properties: { location: { type: "string" } },
          required: ["location"],
        },
      },
    ];
    const image =
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    const content: Anthropic.ContentBlockParam[] = [
      { type: "image", source: { type: "base64", media_type: "image/png", data: image } },
      { type: "text", text: "Weather where this was taken?" },
    ];
    const plain = await c.sdk.messages.create({
      model: MODEL,
      max_tokens: 200,
      tools,
      messages: [{ role: "user", content }],
    });
    expect(plain.stop_reason).toBe("tool_use");
    expect(plain.content.find((b) => b.type === "tool_use")).toMatchObject({
      name: "get_weather",
      input: { location: "Paris", unit: "celsius" },
    });
    const streamed = await c.sdk.messages
      .stream({ model: MODEL, max_tokens: 200, tools, messages: [{ role: "user", content }] })
      .finalMessage();
    expect(streamed.content.find((b) => b.type === "tool_use")).toMatchObject({
      input: { location: "Paris" },
    });
    const [first] = await upstreamSaw(tag);
    const body = JSON.parse(first!.bodyText!) as { messages: { content: unknown[] }[] };
    expect(body.messages[0]!.content[0]).toEqual(content[0]);
  });

  it("count_tokens and models (with anthropic-version); anthropic-beta passes", async () => {
    const { token } = await anthropicProject();
    const tag = newTag();
    const c = client({
      apiKey: token.token,
      headers: { "x-mock-tag": tag, "anthropic-beta": "prompt-caching-2024-07-31" },
    });
    const counted = await c.sdk.messages.countTokens({ model: MODEL, messages });
    expect(counted.input_tokens).toBe(anthropicInputTokens({ messages }));
    const ids: string[] = [];
    for await (const model of c.sdk.models.list()) ids.push(model.id);
    expect(ids).toContain(MODEL);
    const seen = await onlyProjectKey(tag, token.token);
    expect(seen.map((r) => r.url)).toEqual(["/v1/messages/count_tokens", "/v1/models"]);
    expect(seen[0]!.headers["anthropic-beta"]).toBe("prompt-caching-2024-07-31");
    // Counting tokens is free: no usage, no cost, no estimate.
    const events = await eventsOf(c.ids);
    expect(events.get(c.ids[0]!)).toMatchObject({ usage: null, usage_source: "none", cost_usd: null });
  });

  it("Claude Code style: the token as Authorization: Bearer (ANTHROPIC_AUTH_TOKEN), a version of the project's", async () => {
    const { token } = await anthropicProject({}, { provider_settings: { version: "2023-01-01" } });
    const tag = newTag();
    const c = client({ authToken: token.token, headers: { "x-mock-tag": tag } });
    // The SDK always sends anthropic-version: the client's wins over the project's default.
    const message = await c.sdk.messages.create({ model: MODEL, max_tokens: 10, messages });
    expect(message.content[0]).toMatchObject({ text: "tok0 tok1 tok2 " });
    const [seen] = await onlyProjectKey(tag, token.token);
    expect(seen!.headers["anthropic-version"]).not.toBe("2023-01-01");

    const raw = await workerFetch(`${BASE}/v1/messages`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token.token}`,
        "content-type": "application/json",
        "x-mock-tag": tag,
      },
      body: JSON.stringify({ model: MODEL, max_tokens: 10, messages }),
    });
    expect(raw.status).toBe(200);
    const all = await onlyProjectKey(tag, token.token);
    expect(all[1]!.headers["anthropic-version"]).toBe("2023-01-01");
  });

  it("gateway errors in Anthropic's envelope: the SDK raises its own classes and does not retry them", async () => {
    const { token } = await anthropicProject({ allowed_models: [MODEL], max_requests: 1 });
    const bad = client({ apiKey: "wt_not-a-real-token" });
    const unauthorized = bad.sdk.messages.create({ model: MODEL, max_tokens: 10, messages });
    await expect(unauthorized).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    await expect(unauthorized).rejects.toMatchObject({
      status: 401,
      error: { type: "error", error: { type: "authentication_error", code: "invalid_token" } },
    });
    expect(bad.calls()).toBe(1);

    const c = client({ apiKey: token.token });
    const forbidden = c.sdk.messages.create({ model: "claude-opus-4-5", max_tokens: 10, messages });
    await expect(forbidden).rejects.toBeInstanceOf(Anthropic.PermissionDeniedError);
    await expect(forbidden).rejects.toMatchObject({ error: { error: { type: "permission_error" } } });

    await c.sdk.messages.create({ model: MODEL, max_tokens: 10, messages });
    const before = c.calls();
    const exhausted = c.sdk.messages.create({ model: MODEL, max_tokens: 10, messages });
    await expect(exhausted).rejects.toBeInstanceOf(Anthropic.RateLimitError);
    await expect(exhausted).rejects.toMatchObject({ error: { error: { code: "quota_exceeded" } } });
    expect(c.calls() - before).toBe(1);
  });

  it("upstream errors pass through unchanged; an OpenAI project does not serve /v1/messages", async () => {
    const { token } = await anthropicProject();
    const c = client({ apiKey: token.token, headers: { "x-mock-status": "529" } });
    const overloaded = c.sdk.messages.create({ model: MODEL, max_tokens: 10, messages }, { maxRetries: 0 });
    await expect(overloaded).rejects.toMatchObject({
      status: 529,
      error: { error: { type: "overloaded_error" } },
    });

    const openai = await mockProjectToken();
    const o = client({ apiKey: openai.token.token });
    const wrong = o.sdk.messages.create({ model: MODEL, max_tokens: 10, messages });
    await expect(wrong).rejects.toBeInstanceOf(Anthropic.NotFoundError);
  });

  it("a stream cut before message_delta is estimated (and says so), not charged at message_start's placeholder", async () => {
    const { token } = await anthropicProject();
    const c = client({ apiKey: token.token, headers: { "x-mock-chunks": "40", "x-mock-interval-ms": "50" } });
    const stream = await c.sdk.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true });
    let deltas = 0;
    for await (const event of stream) {
      if (event.type === "content_block_delta" && ++deltas === 3) break;
    }
    const event = (await eventsOf(c.ids)).get(c.ids[0]!)!;
    expect(event).toMatchObject({ aborted: true, usage_source: "estimated", model: MODEL });
    expect(event.usage!.completion_tokens).toBeGreaterThanOrEqual(3);
    expect(event.cost_usd).toBeGreaterThan(0);
  });

  it("limits are exact under concurrency; an encoded endpoint is served by its canonical name", async () => {
    const { token } = await anthropicProject({ max_requests: 3 });
    const tag = newTag();
    const c = client({ apiKey: token.token, headers: { "x-mock-tag": tag } });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => c.sdk.messages.create({ model: MODEL, max_tokens: 10, messages })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
    for (const r of results.filter((r) => r.status === "rejected"))
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(Anthropic.RateLimitError);
    expect(await upstreamSaw(tag)).toHaveLength(3);

    const other = await anthropicProject();
    const encoded = await workerFetch(`${BASE}/v1/messag%65s`, {
      method: "POST",
      headers: { "x-api-key": other.token.token, "content-type": "application/json", "x-mock-tag": tag },
      body: JSON.stringify({ model: MODEL, max_tokens: 10, messages }),
    });
    expect(encoded.status).toBe(200);
    expect((await upstreamSaw(tag)).at(-1)!.url).toBe("/v1/messages");
  });

  it("budgets: max_tokens is reserved at Claude's price, a cost budget refuses what it cannot cover", async () => {
    // 1 000 000 output tokens at $15/M = $15 > $1: refused before the upstream.
    const { token } = await anthropicProject({ max_cost_usd: 1 });
    const tag = newTag();
    const c = client({ apiKey: token.token, headers: { "x-mock-tag": tag } });
    const big = c.sdk.messages.create({ model: MODEL, max_tokens: 1_000_000, messages, stream: true });
    await expect(big).rejects.toBeInstanceOf(Anthropic.RateLimitError);
    await expect(big).rejects.toMatchObject({ error: { error: { code: "quota_exceeded" } } });
    expect(await upstreamSaw(tag)).toHaveLength(0);
    const ok = await c.sdk.messages.create({ model: MODEL, max_tokens: 1000, messages });
    expect(ok.content[0]).toMatchObject({ type: "text" });
    // An unpriced model under a cost budget is refused, as for OpenAI.
    const unknown = c.sdk.messages.create({ model: "claude-unknown-9", max_tokens: 10, messages });
    await expect(unknown).rejects.toBeInstanceOf(Anthropic.PermissionDeniedError);
  });
});
