import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BASE } from "./helpers";
import { eventsOf } from "./support/events";
import { mockProjectToken, newTag, upstreamSaw, workerFetch } from "./support/proxy";

// Attacks on the checks that landed together: the model a Gemini body names besides its path, the query and
// header parameters that change what Google answers (and so what the gateway can charge). Each asserts what
// the client got and what reached the mock upstream.

const FLASH = "gemini-2.5-flash";
const PRO = "gemini-2.5-pro";

const geminiProject = (token: Record<string, unknown>) =>
  mockProjectToken(token, { provider: "gemini", base_url: `${env.MOCK_UPSTREAM_URL}/v1beta` });

const contents = { contents: [{ role: "user", parts: [{ text: "hi" }] }] };
const embed = { content: { parts: [{ text: "hi" }] } };

function gemini(path: string, key: string, tag: string, body: unknown = contents, headers = {}) {
  return workerFetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "x-goog-api-key": key, "content-type": "application/json", "x-mock-tag": tag, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

type GoogleError = { error: { code: number; status: string } };

describe("a Gemini body naming another model than its path", () => {
  it("a model key written twice (top level or nested) is refused: parsers differ on which one wins", async () => {
    const { token } = await geminiProject({ allowed_models: [FLASH] });
    const tag = newTag();
    const text = JSON.stringify(embed);
    const bodies: [string, string][] = [
      ["embedContent", `{"model":"models/${PRO}","model":"models/${FLASH}",${text.slice(1)}`],
      ["embedContent", `{"model":"models/${PRO}","mod\\u0065l":"models/${FLASH}",${text.slice(1)}`],
      [
        "batchEmbedContents",
        `{"requests":[{"model":"models/${PRO}","model":"models/${FLASH}",${text.slice(1)}]}`,
      ],
      [
        "batchEmbedContents",
        `{"requests":[{"model":"models/${PRO}","m\\u006fdel":"models/${FLASH}",${text.slice(1)}]}`,
      ],
      [
        "countTokens",
        `{"generateContentRequest":{"model":"models/${PRO}","model":"models/${FLASH}","contents":[]}}`,
      ],
    ];
    for (const [method, body] of bodies) {
      const res = await gemini(`/v1beta/models/${FLASH}:${method}`, token.token, tag, body);
      expect(res.status, body).toBe(400);
      expect(((await res.json()) as GoogleError).error.status, body).toBe("INVALID_ARGUMENT");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("a model key escaped in a nested object is read as the model it spells", async () => {
    const { token } = await geminiProject({ allowed_models: [FLASH] });
    const tag = newTag();
    for (const [method, body] of [
      ["batchEmbedContents", `{"requests":[{"mod\\u0065l":"models/${PRO}","content":{"parts":[]}}]}`],
      ["countTokens", `{"generateContentRequest":{"\\u006dodel":"models/${PRO}","contents":[]}}`],
    ] as const) {
      const res = await gemini(`/v1beta/models/${FLASH}:${method}`, token.token, tag, body);
      expect(res.status, body).toBe(400);
      await res.arrayBuffer();
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("the proto field names Google's JSON parser also accepts, and shapes the check cannot read, are refused", async () => {
    // Proto3 JSON: a parser accepts a field's original name (generate_content_request) as well as its
    // lowerCamelCase one. A repeated field sent as one object is a shape some parsers take as a list of one.
    const { token } = await geminiProject({ allowed_models: [FLASH] });
    const tag = newTag();
    const bodies: [string, unknown][] = [
      ["countTokens", { generate_content_request: { ...contents, model: `models/${PRO}` } }],
      ["batchEmbedContents", { requests: { ...embed, model: `models/${PRO}` } }],
      ["countTokens", { generateContentRequest: [{ ...contents, model: `models/${PRO}` }] }],
    ];
    for (const [method, body] of bodies) {
      const res = await gemini(`/v1beta/models/${FLASH}:${method}`, token.token, tag, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      await res.arrayBuffer();
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    // The path's own model in those places still goes through.
    const ok = await gemini(`/v1beta/models/${FLASH}:countTokens`, token.token, tag, {
      generateContentRequest: { ...contents, model: `models/${FLASH}` },
    });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
  });

  it("a Gemini multi-turn chat (role 'model' everywhere) is not mistaken for a model named twice", async () => {
    const { token } = await geminiProject({ allowed_models: [FLASH] });
    const tag = newTag();
    const chat = {
      contents: [
        { role: "user", parts: [{ text: "hi" }] },
        { role: "model", parts: [{ text: "hello" }] },
        { role: "user", parts: [{ text: 'the word \\u0065 and "model": 1' }] },
      ],
    };
    const res = await gemini(`/v1beta/models/${FLASH}:generateContent`, token.token, tag, chat);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(await upstreamSaw(tag)).toHaveLength(1);
  });
});

describe("Gemini query parameters that change the answer's format", () => {
  it("alt spelled every way is still read", async () => {
    const { token } = await geminiProject({ max_cost_usd: 1 });
    const tag = newTag();
    for (const query of [
      "?%61lt=proto",
      "?alt=JSON",
      "?alt=sse&alt=proto",
      "?alt=json&%24alt=proto",
      "?alt=%70roto",
      "?alt=json%00",
      "?alt=+json",
    ]) {
      const res = await gemini(`/v1beta/models/${FLASH}:generateContent${query}`, token.token, tag);
      expect(res.status, query).toBe(400);
      await res.arrayBuffer();
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("a field mask (fields, $fields, X-Goog-FieldMask) that could drop usageMetadata is refused", async () => {
    // Google's system parameter `fields` (header X-Goog-FieldMask) trims the answer to the fields named:
    // `fields=candidates` leaves out usageMetadata, so the gateway could charge only its estimate.
    const { token } = await geminiProject({ max_cost_usd: 1 });
    const tag = newTag();
    const attempts: [string, Record<string, string>][] = [
      ["?fields=candidates", {}],
      ["?%24fields=candidates", {}],
      ["?f%69elds=candidates", {}],
      ["?callback=f", {}],
      ["?%24callback=f", {}],
      ["", { "x-goog-fieldmask": "candidates" }],
      ["", { "X-Goog-FieldMask": "candidates" }],
    ];
    for (const [query, headers] of attempts) {
      for (const method of ["generateContent", "streamGenerateContent"]) {
        const res = await gemini(
          `/v1beta/models/${FLASH}:${method}${query}`,
          token.token,
          tag,
          contents,
          headers,
        );
        expect(res.status, `${method}${query} ${JSON.stringify(headers)}`).toBe(400);
        await res.arrayBuffer();
      }
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    // Other parameters still pass.
    const ok = await gemini(`/v1beta/models/${FLASH}:generateContent?prettyPrint=false`, token.token, tag);
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
  });
});

describe("usage read from the tail of an answer past what the gateway keeps whole (1 MiB)", () => {
  it("a Responses answer's echoed metadata (after its usage) cannot stand in for the usage", async () => {
    // OpenAI's response object echoes the request's `instructions` (so the client can make it 1 MiB+) and,
    // after `usage`, its `metadata`: a metadata key named "usage" came last in the tail.
    const { token } = await mockProjectToken({ max_tokens: 10_000_000 });
    const tag = newTag();
    const ids: string[] = [];
    for (const metadata of [{ usage: "{}" }, { usage: '{"input_tokens":1,"output_tokens":1}' }, { a: "b" }]) {
      const res = await workerFetch(`${BASE}/v1/responses`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token.token}`,
          "content-type": "application/json",
          "x-mock-tag": tag,
        },
        body: JSON.stringify({
          model: "gpt-4o-mini",
          instructions: "word ".repeat(260_000),
          input: "hi",
          metadata,
        }),
      });
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1024 * 1024);
      ids.push(res.headers.get("x-request-id")!);
    }
    const events = await eventsOf(ids);
    const [empty, small, plain] = ids.map((id) => events.get(id)!);
    expect(plain).toMatchObject({ usage_source: "upstream" });

    for (const event of [empty, small]) {
      expect(event).toMatchObject({ usage_source: "upstream", usage: plain!.usage });
    }
  });
});

describe("model listings for a restricted token, reached other ways", () => {
  const HAIKU = "claude-haiku-4-5-20251001";
  const SONNET = "claude-sonnet-4-5-20250929";
  const get = (path: string, headers: Record<string, string>) => workerFetch(`${BASE}${path}`, { headers });

  it("an Anthropic project's listing through x-api-key alone (no anthropic-version) shows only what was given", async () => {
    const { token } = await mockProjectToken({ allowed_models: [HAIKU] }, { provider: "anthropic" });
    const tag = newTag();
    for (const headers of <Record<string, string>[]>[
      { "x-api-key": token.token },
      { authorization: `Bearer ${token.token}` },
      { "x-api-key": token.token, "anthropic-version": "2023-06-01" },
    ]) {
      const res = await get("/v1/models", { ...headers, "x-mock-tag": tag });
      const text = await res.text();
      expect(text, JSON.stringify(headers)).not.toContain(SONNET);
      const one = await get(`/v1/models/${SONNET}`, { ...headers, "x-mock-tag": tag });
      expect(one.status, JSON.stringify(headers)).toBe(404);
      await one.arrayBuffer();
    }
    for (const r of await upstreamSaw(tag)) expect(r.url).not.toMatch(/\/models\/?(\?|$)|sonnet/);
  });

  it("listing paths in other spellings are answered by the gateway or refused, never the upstream's whole list", async () => {
    const { token } = await mockProjectToken({ allowed_models: ["gpt-4o-mini*"] });
    const tag = newTag();
    for (const path of [
      "/v1/models/",
      "/v1//models",
      "/v1/models?limit=1000",
      "/v1/models%2F",
      "/v1/models/.",
      "/v1/models/gpt-4o-mini%2F..%2Fgpt-4o",
      "/v1/models/gpt-4o-mini/../gpt-4o",
      "/v1/models/gpt-4o-mini/x",
      "/v1/models/gpt-4o-mini%2Fx",
      "/v1/models/gpt-4o-mini:x/gpt-4o",
    ]) {
      const res = await get(path, { authorization: `Bearer ${token.token}`, "x-mock-tag": tag });
      const text = await res.text();
      expect(text, path).not.toMatch(/"gpt-4o"|"o3"|gpt-4o-2024/);
    }
    for (const r of await upstreamSaw(tag)) expect(r.url).toMatch(/^\/v1\/models\/gpt-4o-mini[^/]*$/);
  });
});

describe("usageFromTail on tails an answer could carry", () => {
  it("reads the answer's own last usage, never one inside a string or a client's object", async () => {
    const { usageFromTail } = await import("../src/proxy/respond/json");
    const real = { promptTokenCount: 5, candidatesTokenCount: 900, totalTokenCount: 905 };
    const fake = { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 };
    const event = (extra: Record<string, unknown>, usage: unknown) =>
      JSON.stringify({ candidates: [{ content: { parts: [extra], role: "model" } }], usageMetadata: usage });
    // Text that spells a usage (escaped by JSON), function-call args that are an object named usageMetadata.
    const text = { text: `"usageMetadata": ${JSON.stringify(fake)}` };
    const call = { functionCall: { name: "f", args: { usageMetadata: fake, usage: fake } } };
    const tail = `xx\\"}]},${event(text, fake)}\r\n,${event(call, real)}]`;
    expect(usageFromTail(tail)).toEqual({ usageMetadata: real });
    // The last event's usage, not an earlier, smaller one.
    expect(usageFromTail(`[${event(text, fake)}\r\n,${event(text, real)}]`)).toEqual({ usageMetadata: real });
    // OpenAI's Responses shape: metadata (the client's) after usage.
    const responses = `"output":[]},"usage":{"input_tokens":9,"output_tokens":7},"user":null,"metadata":{"usage":"{}","usageMetadata":"x"}}`;
    expect(usageFromTail(responses)).toEqual({ usage: { input_tokens: 9, output_tokens: 7 } });
    // A usage that is not an object is none.
    expect(usageFromTail(`{"a":1,"usage":"{}"}`)).toBeNull();
  });
});

describe("a Gemini alias rewritten in the body", () => {
  it("generate_content_request (the proto spelling) names the target's model too", async () => {
    const { rewrittenInGeminiBody } = await import("../src/proxy/route-target");
    const json = { generate_content_request: { model: "models/emb", contents: [] } };
    const body = { bytes: new TextEncoder().encode(JSON.stringify(json)), json };
    const out = rewrittenInGeminiBody(body, "emb", "gemini-embedding-001");
    expect(out?.json).toEqual({
      generate_content_request: { model: "models/gemini-embedding-001", contents: [] },
    });
    expect(json.generate_content_request.model).toBe("models/emb");
  });
});
