import { env } from "cloudflare:workers";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BASE, createProject, createToken, json, manage, type TokenJson, uniqueName } from "./helpers";
import { eventsOf, recordingFetch } from "./support/events";
import { upstreamBase } from "./support/mock-types";
import { workerFetch } from "./support/proxy";
import {
  addAlias,
  addUpstream,
  mockName,
  mockSaw,
  type UpstreamJson,
  type UpstreamSpec,
} from "./support/routing";

// Routes across dialects and providers (docs/routing.md, "Which upstream answers"): a request is routed only
// to upstreams whose provider serves its dialect and endpoint, and each official SDK sees a fallback as one
// answer. Events come through the usage queue, which batches for a few seconds.
const SLOW = { timeout: 30_000 };

const CLAUDE = "claude-sonnet-4-5-20250929";
const HAIKU = "claude-haiku-4-5-20251001";

/** The mock's Gemini API lives under `/v1beta` (`upstreamBase` gives the `/v1` root). */
const geminiBase = (behaviour: Record<string, string | number>) =>
  `${upstreamBase(env.MOCK_UPSTREAM_URL, behaviour)}beta`;

/** A project with exactly these upstreams (its `default` removed) and aliases, and a token of it. */
async function routed(
  upstreams: UpstreamSpec[],
  aliases: Record<string, { upstream: string; model: string }[]> = {},
): Promise<{ token: TokenJson; upstreams: UpstreamJson[] }> {
  const project = await createProject({
    name: uniqueName("dialects"),
    base_url: `${env.MOCK_UPSTREAM_URL}/v1`,
  });
  const list = await json<{ data: { id: string }[] }>(await manage(`/projects/${project.id}/upstreams`));
  const added: UpstreamJson[] = [];
  for (const spec of upstreams) added.push(await addUpstream(project.id, spec));
  await manage(`/upstreams/${list.data[0]!.id}`, { method: "DELETE" });
  for (const [name, targets] of Object.entries(aliases)) await addAlias(project.id, name, targets);
  return { token: await createToken(project.id), upstreams: added };
}

/** The official SDKs, their own retries off: whatever retrying happens is the gateway's. */
function anthropicSdk(token: string) {
  const recorder = recordingFetch(workerFetch);
  const sdk = new Anthropic({
    apiKey: token,
    baseURL: BASE,
    maxRetries: 0,
    fetch: (input, init) => recorder.fetch(input as RequestInfo, init as RequestInit),
  });
  return { sdk, ids: recorder.ids };
}

function openaiSdk(token: string) {
  const recorder = recordingFetch(workerFetch);
  const sdk = new OpenAI({
    apiKey: token,
    baseURL: `${BASE}/v1`,
    maxRetries: 0,
    fetch: (input, init) => recorder.fetch(input as RequestInfo, init as RequestInit),
  });
  return { sdk, ids: recorder.ids };
}

// @google/genai has no fetch option: while a test runs, requests to the gateway's URL go to the worker.
const realFetch = globalThis.fetch;
let geminiIds: string[] = [];
beforeEach(() => {
  geminiIds = [];
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(BASE)) return realFetch(input, init);
    const res = await workerFetch(input as RequestInfo, init);
    const id = res.headers.get("x-request-id");
    if (id) geminiIds.push(id);
    return res;
  };
});
afterEach(() => {
  globalThis.fetch = realFetch;
});

const claudeMessages: Anthropic.MessageParam[] = [{ role: "user", content: "Say something" }];

describe("routes by dialect: Anthropic's Messages API (official SDK)", SLOW, () => {
  it("goes only to upstreams whose provider serves it; a 529 falls over to the next Claude upstream", async () => {
    const oa = mockName("oa");
    const ca = mockName("ca");
    const cb = mockName("cb");
    // The OpenAI-compatible upstream comes first and serves any model: it must still never see /messages.
    const { token, upstreams } = await routed(
      [
        { name: "oa", mock: { name: oa } },
        { name: "ca", provider: "anthropic", mock: { name: ca, status: 529 } },
        { name: "cb", provider: "anthropic", mock: { name: cb } },
      ],
      {
        claude: [
          { upstream: "oa", model: "gpt-4o" },
          { upstream: "ca", model: CLAUDE },
          { upstream: "cb", model: HAIKU },
        ],
      },
    );
    const { sdk, ids } = anthropicSdk(token.token);
    const viaAlias = await sdk.messages.create({
      model: "claude",
      max_tokens: 100,
      messages: claudeMessages,
    });
    expect(viaAlias.model).toBe(HAIKU);
    expect(viaAlias.content[0]).toMatchObject({ type: "text", text: "tok0 tok1 tok2 " });

    // No alias: every upstream that matches the model and serves the dialect, by position.
    const direct = await sdk.messages.create({ model: CLAUDE, max_tokens: 100, messages: claudeMessages });
    expect(direct.model).toBe(CLAUDE);

    let streamed = "";
    const stream = await sdk.messages.create({
      model: "claude",
      max_tokens: 100,
      messages: claudeMessages,
      stream: true,
    });
    for await (const event of stream)
      if (event.type === "content_block_delta" && event.delta.type === "text_delta")
        streamed += event.delta.text;
    expect(streamed).toBe("tok0 tok1 tok2 ");

    expect(await mockSaw(oa)).toBe(0);
    expect(await mockSaw(cb)).toBe(3);
    const events = await eventsOf(ids);
    const [alias, plain, streamEvent] = ids.map((id) => events.get(id)!);
    const failed = { upstream: "ca", upstream_id: upstreams[1]!.id, status: 529, error: "upstream_529" };
    expect(alias).toMatchObject({
      status: 200,
      upstream: "cb",
      upstream_id: upstreams[2]!.id,
      key_id: upstreams[2]!.keys[0]!.id,
      provider: "anthropic",
      model_requested: "claude",
      model: HAIKU,
      attempts: 2,
      attempt_errors: [failed],
    });
    expect(alias!.usage?.completion_tokens).toBe(3);
    expect(plain).toMatchObject({ upstream: "cb", model_requested: CLAUDE, model: CLAUDE, attempts: 2 });
    expect(streamEvent).toMatchObject({
      upstream: "cb",
      model: HAIKU,
      attempts: 2,
      attempt_errors: [failed],
    });
    expect(streamEvent!.usage?.completion_tokens).toBe(3);

    // The same project still serves the OpenAI dialect from its first upstream.
    const openai = openaiSdk(token.token);
    await openai.sdk.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "Hi" }],
    });
    expect(await mockSaw(oa)).toBe(1);
  });

  it("a 400 from the first Claude upstream reaches the SDK as it is; nothing else is tried", async () => {
    const ca = mockName("ca");
    const cb = mockName("cb");
    const { token } = await routed(
      [
        { name: "ca", provider: "anthropic", mock: { name: ca, status: 400 } },
        { name: "cb", provider: "anthropic", mock: { name: cb } },
      ],
      {
        claude: [
          { upstream: "ca", model: CLAUDE },
          { upstream: "cb", model: CLAUDE },
        ],
      },
    );
    const { sdk } = anthropicSdk(token.token);
    const err = await sdk.messages
      .create({ model: "claude", max_tokens: 100, messages: claudeMessages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect(await mockSaw(ca)).toBe(1);
    expect(await mockSaw(cb)).toBe(0);
  });

  it("an alias none of whose targets serves the dialect is 404 endpoint_not_found, and nothing is sent", async () => {
    const oa = mockName("oa");
    const { token } = await routed([{ name: "oa", mock: { name: oa } }], {
      smart: [{ upstream: "oa", model: "gpt-4o" }],
    });
    const { sdk } = anthropicSdk(token.token);
    const err = await sdk.messages
      .create({ model: "smart", max_tokens: 100, messages: claudeMessages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect(err).toMatchObject({ error: { error: { code: "endpoint_not_found" } } });
    expect(await mockSaw(oa)).toBe(0);
  });
});

describe("routes by dialect: Gemini's API (@google/genai)", SLOW, () => {
  it("an alias falls over from a 503 to the next Gemini upstream, the model rewritten in the path", async () => {
    const oa = mockName("oa");
    const ga = mockName("ga");
    const gb = mockName("gb");
    const { token, upstreams } = await routed(
      [
        { name: "oa", mock: { name: oa } },
        { name: "ga", provider: "gemini", base_url: geminiBase({ name: ga, status: 503 }) },
        { name: "gb", provider: "gemini", base_url: geminiBase({ name: gb }) },
      ],
      {
        fast: [
          { upstream: "oa", model: "gpt-4o-mini" },
          { upstream: "ga", model: "gemini-2.5-flash" },
          { upstream: "gb", model: "gemini-2.5-pro" },
        ],
      },
    );
    const ai = new GoogleGenAI({ apiKey: token.token, httpOptions: { baseUrl: BASE } });
    const plain = await ai.models.generateContent({ model: "fast", contents: "Explain how AI works" });
    expect(plain.text).toBe("tok0 tok1 tok2 ");
    let text = "";
    for await (const chunk of await ai.models.generateContentStream({ model: "fast", contents: "Hello" }))
      text += chunk.text ?? "";
    expect(text).toBe("tok0 tok1 tok2 ");

    expect(await mockSaw(oa)).toBe(0);
    const seen = (await (await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests?upstream=${gb}`)).json()) as {
      url: string;
      bodyText: string | null;
    }[];
    expect(seen.map((r) => r.url.split("?")[0])).toEqual([
      "/v1beta/models/gemini-2.5-pro:generateContent",
      "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
    ]);
    // The body names no model (Gemini's is in the path): nothing was added to it.
    for (const r of seen) expect(r.bodyText).not.toContain("gemini-2.5");

    const events = await eventsOf(geminiIds);
    for (const id of geminiIds)
      expect(events.get(id)).toMatchObject({
        status: 200,
        upstream: "gb",
        provider: "gemini",
        model_requested: "fast",
        model: "gemini-2.5-pro",
        attempts: 2,
        attempt_errors: [
          { upstream: "ga", upstream_id: upstreams[1]!.id, status: 503, error: "upstream_503" },
        ],
      });
  });
});

describe("routes by dialect: a Gemini alias in the body's own model fields", SLOW, () => {
  it("embedContent, batchEmbedContents and countTokens name the target's model where the client named the alias", async () => {
    const gb = mockName("gb");
    const { token } = await routed([{ name: "gb", provider: "gemini", base_url: geminiBase({ name: gb }) }], {
      emb: [{ upstream: "gb", model: "gemini-embedding-001" }],
    });
    // The SDK's embedContent is a batchEmbedContents whose requests name `models/emb`.
    const ai = new GoogleGenAI({ apiKey: token.token, httpOptions: { baseUrl: BASE } });
    const embedded = await ai.models.embedContent({ model: "emb", contents: "hello" });
    expect(embedded.embeddings?.[0]?.values?.length).toBeGreaterThan(0);
    const post = (method: string, body: unknown) =>
      workerFetch(`${BASE}/v1beta/models/emb:${method}`, {
        method: "POST",
        headers: { "x-goog-api-key": token.token, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const part = { parts: [{ text: "hi" }] };
    for (const [method, body] of [
      ["embedContent", { model: "emb", content: part }],
      ["countTokens", { generateContentRequest: { model: "models/emb", contents: [part] } }],
      ["countTokens", { contents: [part] }],
    ] as const) {
      const res = await post(method, body);
      expect(res.status, method).toBe(200);
      await res.arrayBuffer();
    }
    const seen = (await (await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests?upstream=${gb}`)).json()) as {
      url: string;
      bodyText: string;
    }[];
    expect(seen.map((r) => r.url.split("?")[0])).toEqual([
      "/v1beta/models/gemini-embedding-001:batchEmbedContents",
      "/v1beta/models/gemini-embedding-001:embedContent",
      "/v1beta/models/gemini-embedding-001:countTokens",
      "/v1beta/models/gemini-embedding-001:countTokens",
    ]);
    const bodies = seen.map((r) => JSON.parse(r.bodyText) as Record<string, unknown>);
    expect((bodies[0]!.requests as { model: string }[]).map((r) => r.model)).toEqual([
      "models/gemini-embedding-001",
    ]);
    expect(bodies[1]!.model).toBe("gemini-embedding-001");
    expect(bodies[2]!.generateContentRequest).toMatchObject({ model: "models/gemini-embedding-001" });
    // A body that names no model goes as the client sent it.
    expect(bodies[3]).toEqual({ contents: [part] });
  });
});

describe("routes across providers: an OpenAI client falls over to Claude", SLOW, () => {
  it("the second target's answer comes translated, plain and streamed; the event names what served", async () => {
    const oa = mockName("oa");
    const cb = mockName("cb");
    const { token } = await routed(
      [
        { name: "oa", mock: { name: oa, status: 503 } },
        { name: "cb", provider: "anthropic", mock: { name: cb } },
      ],
      {
        smart: [
          { upstream: "oa", model: "gpt-4o-mini" },
          { upstream: "cb", model: HAIKU },
        ],
      },
    );
    const { sdk, ids } = openaiSdk(token.token);
    const messages = [{ role: "user" as const, content: "Say something" }];
    const plain = await sdk.chat.completions.create({ model: "smart", messages });
    expect(plain.choices[0]?.message.content).toBe("tok0 tok1 tok2 ");
    expect(plain.usage?.completion_tokens).toBe(3);
    let text = "";
    const stream = await sdk.chat.completions.create({
      model: "smart",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("tok0 tok1 tok2 ");

    const seen = (await (await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests?upstream=${cb}`)).json()) as {
      url: string;
      bodyText: string;
    }[];
    expect(seen.map((r) => r.url)).toEqual(["/v1/messages", "/v1/messages"]);
    for (const r of seen) expect(JSON.parse(r.bodyText).model).toBe(HAIKU);

    const events = await eventsOf(ids);
    for (const id of ids)
      expect(events.get(id)).toMatchObject({
        status: 200,
        upstream: "cb",
        provider: "anthropic",
        model_requested: "smart",
        model: HAIKU,
        usage: { completion_tokens: 3 },
        attempts: 2,
        attempt_errors: [{ upstream: "oa", status: 503, error: "upstream_503" }],
      });
  });
});
