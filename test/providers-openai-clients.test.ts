import { env } from "cloudflare:workers";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { BASE } from "./helpers";
import { eventsOf, recordingFetch } from "./support/events";
import { anthropicInputTokens, geminiPromptTokens } from "./support/mock-counts";
import { mockProjectToken, newTag, UPSTREAM_KEY, upstreamSaw, workerFetch } from "./support/proxy";

/** The official OpenAI SDK, unchanged, on a project whose upstream is Claude, Gemini or Azure. */
function client(apiKey: string, headers: Record<string, string> = {}) {
  const recorder = recordingFetch(workerFetch);
  let calls = 0;
  const sdk = new OpenAI({
    apiKey,
    baseURL: `${BASE}/v1`,
    defaultHeaders: headers,
    fetch: (input, init) => {
      calls++;
      return recorder.fetch(input as RequestInfo, init as RequestInit);
    },
  });
  return { sdk, ids: recorder.ids, calls: () => calls };
}

type Json = Record<string, unknown>;
const bodyOf = (r: { bodyText: string | null }) => JSON.parse(r.bodyText!) as Json;

const PROVIDERS = {
  anthropic: {
    model: "claude-haiku-4-5",
    baseUrl: () => `${env.MOCK_UPSTREAM_URL}/v1`,
    keyHeader: "x-api-key",
  },
  gemini: {
    model: "gemini-2.5-flash",
    baseUrl: () => `${env.MOCK_UPSTREAM_URL}/v1beta`,
    keyHeader: "x-goog-api-key",
  },
} as const;

const weatherTool: OpenAI.ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather of a place",
    parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] },
  },
};

const image =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

describe.each(Object.entries(PROVIDERS))(
  "the openai SDK on a %s upstream",
  { timeout: 30_000 },
  (provider, p) => {
    const project = (token: Record<string, unknown> = {}) =>
      mockProjectToken(token, { provider, base_url: p.baseUrl() });
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Say something" },
    ];

    it("chat completions plain and streamed (no usage chunk unless asked), usage and cost from the upstream", async () => {
      const { token } = await project();
      const tag = newTag();
      const c = client(token.token, { "x-mock-tag": tag });
      const plain = await c.sdk.chat.completions.create({ model: p.model, messages });
      expect(plain.object).toBe("chat.completion");
      expect(plain.choices[0]?.message).toMatchObject({ role: "assistant", content: "tok0 tok1 tok2 " });
      expect(plain.choices[0]?.finish_reason).toBe("stop");
      expect(plain.usage?.completion_tokens).toBe(3);

      const stream = await c.sdk.chat.completions.create({ model: p.model, messages, stream: true });
      let text = "";
      let finish: string | null = null;
      for await (const chunk of stream) {
        expect(chunk.object).toBe("chat.completion.chunk");
        expect(chunk.usage ?? null).toBeNull();
        text += chunk.choices[0]?.delta.content ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(text).toBe("tok0 tok1 tok2 ");
      expect(finish).toBe("stop");

      const withUsage = await c.sdk.chat.completions.create({
        model: p.model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of withUsage) usage = chunk.usage ?? usage;
      expect(usage?.completion_tokens).toBe(3);

      const seen = await upstreamSaw(tag);
      expect(seen).toHaveLength(3);
      for (const r of seen) {
        expect(r.headers[p.keyHeader]).toBe(UPSTREAM_KEY);
        expect(JSON.stringify(r)).not.toContain(token.token);
      }
      const native = bodyOf(seen[0]!);
      const prompt =
        provider === "anthropic"
          ? anthropicInputTokens(native)
          : geminiPromptTokens(native as { contents: unknown });
      if (provider === "anthropic") {
        expect(native).toMatchObject({ model: p.model, system: "Be brief.", max_tokens: 4096 });
        expect(seen[1]!.url).toBe("/v1/messages");
      } else {
        expect(native).toMatchObject({ systemInstruction: { parts: [{ text: "Be brief." }] } });
        expect(seen[1]!.url).toBe(`/v1beta/models/${p.model}:streamGenerateContent?alt=sse`);
      }
      const events = await eventsOf(c.ids);
      for (const id of c.ids) {
        const event = events.get(id)!;
        expect(event).toMatchObject({
          provider,
          usage_source: "upstream",
          usage: { prompt_tokens: prompt, completion_tokens: 3 },
        });
        expect(event.cost_usd).toBeGreaterThan(0);
      }
    });

    it("tools and tool calls, plain and streamed; tool results and images go back in the provider's shape", async () => {
      const { token } = await project();
      const tag = newTag();
      const c = client(token.token, { "x-mock-tag": tag });
      const ask: OpenAI.ChatCompletionMessageParam = {
        role: "user",
        content: [
          { type: "text", text: "Weather where this was taken?" },
          { type: "image_url", image_url: { url: image } },
        ],
      };
      const plain = await c.sdk.chat.completions.create({
        model: p.model,
        messages: [ask],
        tools: [weatherTool],
      });
      expect(plain.choices[0]?.finish_reason).toBe("tool_calls");
      const call = plain.choices[0]?.message.tool_calls?.[0];
      expect(call?.type).toBe("function");
      if (call?.type !== "function") throw new Error("no function call");
      expect(call.function.name).toBe("get_weather");
      expect(JSON.parse(call.function.arguments)).toMatchObject({ location: "Paris" });

      const stream = await c.sdk.chat.completions.create({
        model: p.model,
        messages: [ask],
        tools: [weatherTool],
        stream: true,
      });
      const args: string[] = [];
      let name = "";
      let finish: string | null = null;
      for await (const chunk of stream) {
        for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
          if (tc.function?.name) name = tc.function.name;
          args[tc.index] = (args[tc.index] ?? "") + (tc.function?.arguments ?? "");
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(name).toBe("get_weather");
      expect(JSON.parse(args[0]!)).toMatchObject({ location: "Paris" });
      expect(finish).toBe("tool_calls");

      await c.sdk.chat.completions.create({
        model: p.model,
        messages: [
          ask,
          { role: "assistant", content: null, tool_calls: [call] },
          { role: "tool", tool_call_id: call.id, content: '{"temp": 21}' },
        ],
        tools: [weatherTool],
        tool_choice: "none",
      });
      const seen = await upstreamSaw(tag);
      const first = bodyOf(seen[0]!);
      const last = bodyOf(seen[2]!);
      if (provider === "anthropic") {
        expect((first.messages as Json[])[0]).toMatchObject({
          role: "user",
          content: [{ type: "text" }, { type: "image", source: { type: "base64", media_type: "image/png" } }],
        });
        expect(first.tools).toEqual([
          {
            name: "get_weather",
            description: "Weather of a place",
            input_schema: weatherTool.function.parameters,
          },
        ]);
        expect((last.messages as Json[]).slice(1)).toEqual([
          {
            role: "assistant",
            content: [
              {
                type: "tool_use",
                id: call.id,
                name: "get_weather",
                input: { location: "Paris", unit: "celsius" },
              },
            ],
          },
          { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: '{"temp": 21}' }] },
        ]);
        expect(last.tool_choice).toEqual({ type: "none" });
      } else {
        expect((first.contents as Json[])[0]).toMatchObject({
          role: "user",
          parts: [{ text: "Weather where this was taken?" }, { inlineData: { mimeType: "image/png" } }],
        });
        expect(first.tools).toEqual([
          {
            functionDeclarations: [
              {
                name: "get_weather",
                description: "Weather of a place",
                parametersJsonSchema: weatherTool.function.parameters,
              },
            ],
          },
        ]);
        expect((last.contents as Json[]).slice(1)).toEqual([
          {
            role: "model",
            parts: [{ functionCall: { id: call.id, name: "get_weather", args: { location: "Paris" } } }],
          },
          {
            role: "user",
            parts: [{ functionResponse: { id: call.id, name: "get_weather", response: { temp: 21 } } }],
          },
        ]);
        expect(last.toolConfig).toEqual({ functionCallingConfig: { mode: "NONE" } });
      }
    });

    it("stop sequences, max tokens, response_format JSON", async () => {
      const { token } = await project();
      const tag = newTag();
      const c = client(token.token, { "x-mock-tag": tag });
      const schema = { type: "object", properties: { a: { type: "string" } }, required: ["a"] };
      await c.sdk.chat.completions.create({
        model: p.model,
        messages,
        stop: ["END"],
        max_completion_tokens: 2,
        temperature: 1.5,
        response_format: { type: "json_schema", json_schema: { name: "x", schema } },
      });
      const [seen] = await upstreamSaw(tag);
      const native = bodyOf(seen!);
      if (provider === "anthropic") {
        expect(native).toMatchObject({
          stop_sequences: ["END"],
          max_tokens: 2,
          temperature: 1,
          output_config: { format: { type: "json_schema", schema } },
        });
      } else {
        expect(native.generationConfig).toEqual({
          maxOutputTokens: 2,
          stopSequences: ["END"],
          temperature: 1.5,
          responseMimeType: "application/json",
          responseJsonSchema: schema,
        });
      }
    });

    it("errors: gateway errors in OpenAI's envelope, upstream errors mapped to it with their status", async () => {
      const { token } = await project({ allowed_models: [p.model] });
      const c = client(token.token);
      const forbidden = c.sdk.chat.completions.create({ model: "gpt-4o", messages });
      await expect(forbidden).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
      const limited = client(token.token, { "x-mock-status": "429" });
      const upstream429 = limited.sdk.chat.completions.create(
        { model: p.model, messages },
        { maxRetries: 0 },
      );
      await expect(upstream429).rejects.toBeInstanceOf(OpenAI.RateLimitError);
      await expect(upstream429).rejects.toMatchObject({
        status: 429,
        error: { message: "mock upstream error 429" },
      });
      const bad = client(token.token, { "x-mock-status": "400" });
      const upstream400 = bad.sdk.chat.completions.create({ model: p.model, messages, stream: true });
      await expect(upstream400).rejects.toBeInstanceOf(OpenAI.BadRequestError);
      // The Responses API and embeddings are not translated: a clear 404 rather than a wrong answer.
      await expect(c.sdk.responses.create({ model: p.model, input: "hi" })).rejects.toBeInstanceOf(
        OpenAI.NotFoundError,
      );
    });
  },
);

describe("the openai SDK on Azure OpenAI", () => {
  it("deployments API: deployment from the model name, api-version, api-key", async () => {
    const { token } = await mockProjectToken(
      {},
      {
        provider: "azure",
        base_url: env.MOCK_UPSTREAM_URL,
        provider_settings: { deployments: { "gpt-4o-mini": "mini-prod" }, api_version: "2024-10-21" },
      },
    );
    const tag = newTag();
    const c = client(token.token, { "x-mock-tag": tag });
    const plain = await c.sdk.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(plain.choices[0]?.message.content).toBe("tok0 tok1 tok2 ");
    const stream = await c.sdk.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.usage ?? null).toBeNull();
    }
    expect(chunks).toBe(4);
    const seen = await upstreamSaw(tag);
    expect(seen.map((r) => r.url)).toEqual([
      "/openai/deployments/mini-prod/chat/completions?api-version=2024-10-21",
      "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
    ]);
    for (const r of seen) {
      expect(r.headers["api-key"]).toBe(UPSTREAM_KEY);
      expect(r.headers.authorization).toBeUndefined();
      expect(JSON.stringify(r)).not.toContain(token.token);
    }
    const events = await eventsOf(c.ids);
    expect(events.get(c.ids[1]!)).toMatchObject({
      provider: "azure",
      usage_source: "upstream",
      usage: { completion_tokens: 3 },
    });
  }, 30_000);

  it("the /openai/v1/ API: the body's model becomes the deployment", async () => {
    const { token } = await mockProjectToken(
      {},
      {
        provider: "azure",
        base_url: `${env.MOCK_UPSTREAM_URL}/openai/v1`,
        provider_settings: { api: "v1", deployments: { "gpt-4o-mini": "mini-prod" } },
      },
    );
    const tag = newTag();
    const c = client(token.token, { "x-mock-tag": tag });
    const plain = await c.sdk.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(plain.model).toBe("mini-prod");
    const [seen] = await upstreamSaw(tag);
    expect(seen!.url).toBe("/openai/v1/chat/completions");
    expect(bodyOf(seen!).model).toBe("mini-prod");
    expect(seen!.headers["api-key"]).toBe(UPSTREAM_KEY);
  });

  it("an Azure project needs its resource endpoint; settings are checked per provider", async () => {
    const { manage } = await import("./helpers");
    const noUrl = await manage("/projects", {
      method: "POST",
      body: { name: `az-${newTag()}`, api_key: "k", provider: "azure" },
    });
    expect(noUrl.status).toBe(400);
    const wrong = await manage("/projects", {
      method: "POST",
      body: {
        name: `az-${newTag()}`,
        api_key: "k",
        provider: "azure",
        base_url: "https://x.openai.azure.com",
        provider_settings: { version: "2023-06-01" },
      },
    });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ error: { code: "validation_error" } });
    const anthropic = await manage("/projects", {
      method: "POST",
      body: { name: `an-${newTag()}`, api_key: "k", provider: "anthropic" },
    });
    expect(await anthropic.json()).toMatchObject({
      base_url: "https://api.anthropic.com/v1",
      provider_settings: {},
    });
  });
});
