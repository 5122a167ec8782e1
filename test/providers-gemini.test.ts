import { env } from "cloudflare:workers";
import { ApiError, GoogleGenAI } from "@google/genai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BASE } from "./helpers";
import { eventsOf } from "./support/events";
import { geminiPromptTokens } from "./support/mock-counts";
import { mockProjectToken, newTag, UPSTREAM_KEY, upstreamSaw, workerFetch } from "./support/proxy";

const MODEL = "gemini-2.5-flash";

// @google/genai has no fetch option: while a test runs, requests to the gateway's URL go to the worker
// (everything else, the worker's own upstream calls included, to the real fetch).
const realFetch = globalThis.fetch;
let ids: string[] = [];
beforeEach(() => {
  ids = [];
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(BASE)) return realFetch(input, init);
    const res = await workerFetch(input as RequestInfo, init);
    const id = res.headers.get("x-request-id");
    if (id) ids.push(id);
    return res;
  };
});
afterEach(() => {
  globalThis.fetch = realFetch;
});

const geminiProject = (token: Record<string, unknown> = {}) =>
  mockProjectToken(token, { provider: "gemini", base_url: `${env.MOCK_UPSTREAM_URL}/v1beta` });

function client(apiKey: string, headers: Record<string, string> = {}) {
  return new GoogleGenAI({ apiKey, httpOptions: { baseUrl: BASE, headers } });
}

async function onlyProjectKey(tag: string, secret: string) {
  const seen = await upstreamSaw(tag);
  expect(seen.length).toBeGreaterThan(0);
  for (const r of seen) {
    expect(r.headers["x-goog-api-key"]).toBe(UPSTREAM_KEY);
    expect(r.url).not.toContain("key=");
    expect(JSON.stringify(r)).not.toContain(secret);
  }
  return seen;
}

describe("Gemini's API through the gateway (@google/genai)", { timeout: 30_000 }, () => {
  it("generateContent and streamGenerateContent; usage (thinking, cached) and cost in the events", async () => {
    const { token } = await geminiProject();
    const tag = newTag();
    const ai = client(token.token, { "x-mock-tag": tag, "x-mock-thoughts": "7", "x-mock-cached": "4" });
    const contents = "Explain how AI works";
    const plain = await ai.models.generateContent({ model: MODEL, contents });
    expect(plain.text).toBe("tok0 tok1 tok2 ");
    expect(plain.usageMetadata?.thoughtsTokenCount).toBe(7);

    let text = "";
    for await (const chunk of await ai.models.generateContentStream({ model: MODEL, contents }))
      text += chunk.text ?? "";
    expect(text).toBe("tok0 tok1 tok2 ");

    const seen = await onlyProjectKey(tag, token.token);
    expect(seen.map((r) => r.url)).toEqual([
      `/v1beta/models/${MODEL}:generateContent`,
      `/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`,
    ]);

    const prompt = geminiPromptTokens({ contents: [{ parts: [{ text: contents }], role: "user" }] }) + 4;
    const events = await eventsOf(ids);
    for (const id of ids) {
      expect(events.get(id)).toMatchObject({
        status: 200,
        model: MODEL,
        provider: "gemini",
        usage_source: "upstream",
        usage: {
          prompt_tokens: prompt,
          completion_tokens: 3 + 7,
          total_tokens: prompt + 10,
          cached_tokens: 4,
          reasoning_tokens: 7,
        },
      });
      // $0.30 input, $0.03 cached input, $2.50 output (thinking included) per million tokens.
      expect(events.get(id)!.cost_usd).toBeCloseTo(((prompt - 4) * 0.3 + 4 * 0.03 + 10 * 2.5) / 1e6, 9);
    }
    expect(events.get(ids[1]!)!.stream).toBe(true);
  });

  it("function calls, countTokens and embeddings", async () => {
    const { token } = await geminiProject();
    const tag = newTag();
    const ai = client(token.token, { "x-mock-tag": tag });
    const called = await ai.models.generateContent({
      model: MODEL,
      contents: "Weather in Paris?",
      config: {
        tools: [
          { functionDeclarations: [{ name: "get_weather", parametersJsonSchema: { type: "object" } }] },
        ],
      },
    });
    expect(called.functionCalls?.[0]).toMatchObject({ name: "get_weather", args: { location: "Paris" } });
    const counted = await ai.models.countTokens({ model: MODEL, contents: "hello there" });
    expect(counted.totalTokens).toBeGreaterThan(0);
    const embedded = await ai.models.embedContent({ model: "gemini-embedding-001", contents: "hello" });
    expect(embedded.embeddings?.[0]?.values).toEqual([0.25, -0.5, 0.125, 1]);
    const seen = await onlyProjectKey(tag, token.token);
    expect(seen.map((r) => r.url.split("?")[0])).toEqual([
      `/v1beta/models/${MODEL}:generateContent`,
      `/v1beta/models/${MODEL}:countTokens`,
      "/v1beta/models/gemini-embedding-001:batchEmbedContents",
    ]);
    const events = await eventsOf(ids);
    // countTokens is free: no usage, no estimate, no cost.
    expect(events.get(ids[1]!)).toMatchObject({ usage: null, usage_source: "none", cost_usd: null });
  });

  it("?key= is a credential: it never reaches the upstream's URL, a log line or an event", async () => {
    const { token } = await geminiProject();
    const tag = newTag();
    const res = await workerFetch(
      `${BASE}/v1beta/models/${MODEL}:streamGenerateContent?alt=sse&key=${token.token}`,
      {
        method: "POST",
        headers: { "content-type": "application/json", "x-mock-tag": tag },
        body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
      },
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("tok2");
    const [seen] = await onlyProjectKey(tag, token.token);
    expect(seen!.url).toBe(`/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`);
    const event = (await eventsOf([res.headers.get("x-request-id")!])).values().next().value!;
    expect(JSON.stringify(event)).not.toContain(token.token);
    expect(event.path).toBe(`/v1beta/models/${MODEL}:streamGenerateContent`);
  });

  it("gateway errors in Google's envelope, raised as the SDK's ApiError; allowlists read the model in the path", async () => {
    const bad = client("wt_not-a-real-token");
    const unauthorized = bad.models.generateContent({ model: MODEL, contents: "hi" });
    await expect(unauthorized).rejects.toBeInstanceOf(ApiError);
    await expect(unauthorized).rejects.toMatchObject({ status: 401 });

    const { token } = await geminiProject({ allowed_models: [MODEL] });
    const tag = newTag();
    const ai = client(token.token, { "x-mock-tag": tag });
    const forbidden = ai.models.generateContent({ model: "gemini-2.5-pro", contents: "hi" });
    await expect(forbidden).rejects.toMatchObject({ status: 403 });
    const res = await workerFetch(`${BASE}/v1beta/models/gemini-2.5-pro:generateContent`, {
      method: "POST",
      headers: { "x-goog-api-key": token.token, "content-type": "application/json" },
      // No model in the body: one naming another model than the path's is refused first (400, provider-attacks).
      body: JSON.stringify({ contents: [] }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({
      error: { code: 403, status: "PERMISSION_DENIED", details: [{ reason: "model_not_allowed" }] },
    });
    // An encoded model or colon is decoded once, then checked like any other.
    const encoded = await workerFetch(`${BASE}/v1beta/models/gemini-2.5-pr%6F%3AgenerateContent`, {
      method: "POST",
      headers: { "x-goog-api-key": token.token, "content-type": "application/json" },
      body: JSON.stringify({ contents: [] }),
    });
    expect(encoded.status).toBe(403);
    for (const path of [
      "/v1beta/models/gemini-2.5-flash:deleteEverything",
      "/v1beta/models/..%2Fx:generateContent",
      "/v1beta/tunedModels/x:generateContent",
      "/v1beta/models/a/b:generateContent",
    ]) {
      const r = await workerFetch(`${BASE}${path}`, {
        method: "POST",
        headers: { "x-goog-api-key": token.token, "content-type": "application/json" },
        body: "{}",
      });
      expect(r.status, path).toBe(404);
      expect(await r.json()).toMatchObject({ error: { status: "NOT_FOUND" } });
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("limits are exact under concurrency", async () => {
    const { token } = await geminiProject({ max_requests: 2 });
    const tag = newTag();
    const ai = client(token.token, { "x-mock-tag": tag });
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => ai.models.generateContent({ model: MODEL, contents: "hi" })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(2);
    for (const r of results.filter((r) => r.status === "rejected"))
      expect((r as PromiseRejectedResult).reason).toMatchObject({ status: 429 });
    expect(await upstreamSaw(tag)).toHaveLength(2);
  });

  it("budgets: maxOutputTokens × candidates is reserved at Gemini's price", async () => {
    const { token } = await geminiProject({ max_cost_usd: 0.01 });
    const tag = newTag();
    const ai = client(token.token, { "x-mock-tag": tag });
    // 2 × 100 000 output tokens at $2.50/M = $0.50 > $0.01.
    const big = ai.models.generateContent({
      model: MODEL,
      contents: "hi",
      config: { maxOutputTokens: 100_000, candidateCount: 2 },
    });
    await expect(big).rejects.toMatchObject({ status: 429 });
    expect(await upstreamSaw(tag)).toHaveLength(0);
    const ok = await ai.models.generateContent({
      model: MODEL,
      contents: "hi",
      config: { maxOutputTokens: 100 },
    });
    expect(ok.text).toBe("tok0 tok1 tok2 ");
    const unpriced = ai.models.generateContent({ model: "gemini-unknown", contents: "hi" });
    await expect(unpriced).rejects.toMatchObject({ status: 403 });
  });
});
