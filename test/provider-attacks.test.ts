import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BASE } from "./helpers";
import { eventsOf } from "./support/events";
import { eventually, mockProjectToken, newTag, proxy, upstreamSaw, workerFetch } from "./support/proxy";

// "A token does only what it was given", attacked on the provider-specific paths: Gemini's model in the
// path, Azure's deployments, Anthropic's Messages API and every dialect's model listing. Each attempt asserts
// what the client got and what reached the mock upstream (its path and model).

const FLASH = "gemini-2.5-flash";
const PRO = "gemini-2.5-pro";
const HAIKU = "claude-haiku-4-5-20251001";
const SONNET = "claude-sonnet-4-5-20250929";

const geminiProject = (token: Record<string, unknown>) =>
  mockProjectToken(token, { provider: "gemini", base_url: `${env.MOCK_UPSTREAM_URL}/v1beta` });

const contents = { contents: [{ role: "user", parts: [{ text: "hi" }] }] };

/** A raw POST to a Gemini path on the worker (the path exactly as given, after URL parsing). */
function gemini(path: string, key: string, tag: string, body: unknown = contents, headers = {}) {
  return workerFetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "x-goog-api-key": key, "content-type": "application/json", "x-mock-tag": tag, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

type GoogleError = { error: { code: number; status: string; details?: { reason?: string }[] } };

describe("Gemini: the model in the path", () => {
  it("every encoding of an allowed model reaches the upstream as its canonical path, nothing else", async () => {
    const { token } = await geminiProject({ allowed_models: [FLASH] });
    const tag = newTag();
    for (const path of [
      `/v1beta/models/${FLASH}%3AgenerateContent`,
      `/v1beta/models/gemini-2.5-fl%61sh:generateContent`,
      `/v1beta/models/${FLASH}%3acountTokens`,
      `/v1beta/models/./${FLASH}:generateContent`,
    ]) {
      const res = await gemini(path, token.token, tag);
      expect(res.status, path).toBe(200);
      await res.arrayBuffer();
    }
    const seen = await upstreamSaw(tag);
    expect(seen.map((r) => r.url)).toEqual([
      `/v1beta/models/${FLASH}:generateContent`,
      `/v1beta/models/${FLASH}:generateContent`,
      `/v1beta/models/${FLASH}:countTokens`,
      `/v1beta/models/${FLASH}:generateContent`,
    ]);
  });

  it("a model not given is refused on every method and every spelling; nothing is forwarded", async () => {
    const { token } = await geminiProject({ allowed_models: [FLASH] });
    const tag = newTag();
    const forbidden = [
      ...[
        "generateContent",
        "streamGenerateContent",
        "countTokens",
        "embedContent",
        "batchEmbedContents",
      ].map((m) => `/v1beta/models/${PRO}:${m}`),
      `/v1beta/models/gemini-2.5-pr%6F%3AstreamGenerateContent`,
      // The URL parser resolves dot segments before the worker sees the path: this is PRO's path.
      `/v1beta/models/${FLASH}/../${PRO}:generateContent`,
      `/v1beta/models/${FLASH}/%2e%2e/${PRO}:generateContent`,
    ];
    for (const path of forbidden) {
      const res = await gemini(path, token.token, tag);
      expect(res.status, path).toBe(403);
      expect(((await res.json()) as GoogleError).error.details?.[0]?.reason, path).toBe("model_not_allowed");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("paths that smuggle another model, resource or method are 404 in Google's envelope; nothing is forwarded", async () => {
    const { token } = await geminiProject({ allowed_models: [FLASH] });
    const tag = newTag();
    for (const path of [
      `/v1beta/models/${FLASH}%2F..%2F${PRO}:generateContent`,
      `/v1beta/models/${FLASH}%252F..%252F${PRO}:generateContent`,
      `/v1beta/models/${FLASH}%2F${PRO}:generateContent`,
      `/v1beta/models/%2e%2e:generateContent`,
      `/v1beta/models/models/${PRO}:generateContent`,
      `/v1beta/models/models%2F${PRO}:generateContent`,
      `/v1beta/models/models/${FLASH}:generateContent`,
      `/v1beta/tunedModels/${PRO}:generateContent`,
      `/v1beta/models/tunedModels/${FLASH}:generateContent`,
      `/v1beta/models/${FLASH}:GenerateContent`,
      `/v1beta/models/${FLASH}:GENERATECONTENT`,
      `/v1beta/models/${FLASH}:generateContent:`,
      `/v1beta/models/${FLASH}:`,
      `/v1beta/models/:generateContent`,
      `/v1beta/models/${FLASH}:generateContent:countTokens`,
      `/v1beta/models/${PRO}:generateContent%3AcountTokens`,
      `/v1beta/models/${FLASH}:generateContent/`,
      `/v1beta/models/${FLASH}:generateContent/x`,
      `/v1beta/models/${FLASH}:batchGenerateContent`,
      `/v1beta/models/${FLASH}:predict`,
      `/v1beta/models/${FLASH}%00:generateContent`,
      `/v1beta/models/${FLASH}%20:generateContent`,
      `/v1beta/models/${FLASH}:generateContent%00`,
      `/v1beta//models/${FLASH}:generateContent`,
      `/v1beta/cachedContents`,
      `/v1beta/files`,
      `/v1beta/batches`,
      `/v1beta/models/${FLASH}:batchGenerateContent`,
      `/v1beta/models/${FLASH}:asyncBatchEmbedContent`,
    ]) {
      const res = await gemini(path, token.token, tag);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as GoogleError).error.status, path).toBe("NOT_FOUND");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("a model named in the body too: only the path's own is forwarded; another is refused, unsent", async () => {
    // The Gemini API takes the model from the path and requires the body's (embedContent's `model`,
    // batchEmbedContents' `requests[].model`, countTokens' `generateContentRequest.model`) to match it. The
    // gateway checks and prices the path's, so for a restricted token it does not leave a mismatch to Google.
    const { token } = await geminiProject({ allowed_models: [FLASH] });
    const tag = newTag();
    for (const model of [FLASH, `models/${FLASH}`]) {
      const ok = await gemini(`/v1beta/models/${FLASH}:generateContent`, token.token, tag, {
        ...contents,
        model,
      });
      expect(ok.status, model).toBe(200);
      await ok.arrayBuffer();
    }
    const embed = { content: { parts: [{ text: "hi" }] } };
    const mismatched: [string, unknown][] = [
      ["generateContent", { ...contents, model: `models/${PRO}` }],
      ["generateContent", { ...contents, model: 7 }],
      ["embedContent", { ...embed, model: `models/${PRO}` }],
      [
        "batchEmbedContents",
        {
          requests: [
            { ...embed, model: `models/${FLASH}` },
            { ...embed, model: `models/${PRO}` },
          ],
        },
      ],
      ["batchEmbedContents", { requests: [{ ...embed, model: PRO }] }],
      ["countTokens", { generateContentRequest: { ...contents, model: `models/${PRO}` } }],
    ];
    for (const [method, body] of mismatched) {
      const res = await gemini(`/v1beta/models/${FLASH}:${method}`, token.token, tag, body);
      expect(res.status, `${method} ${JSON.stringify(body)}`).toBe(400);
      expect(((await res.json()) as GoogleError).error.status).toBe("INVALID_ARGUMENT");
    }
    // The path's model decides the allowlist (a body naming an allowed one, unlike it, is a 400 above).
    const refused = await gemini(`/v1beta/models/${PRO}:generateContent`, token.token, tag, {
      ...contents,
      model: `models/${PRO}`,
    });
    expect(refused.status).toBe(403);
    const seen = await upstreamSaw(tag);
    expect(seen.map((r) => r.url)).toEqual([
      `/v1beta/models/${FLASH}:generateContent`,
      `/v1beta/models/${FLASH}:generateContent`,
    ]);
    // A token with nothing to check passes the body as it is: Google answers a mismatch itself.
    const { token: open } = await geminiProject({});
    const passed = await gemini(`/v1beta/models/${FLASH}:generateContent`, open.token, tag, {
      ...contents,
      model: `models/${PRO}`,
    });
    expect(passed.status).toBe(200);
    await passed.arrayBuffer();
  });

  it("?key= given twice, or beside a header: one credential decides, no key reaches the upstream's URL", async () => {
    const { token } = await geminiProject({ allowed_models: [FLASH] });
    const { token: other } = await geminiProject({});
    const tag = newTag();
    const post = (query: string, headers: Record<string, string> = {}) =>
      workerFetch(`${BASE}/v1beta/models/${PRO}:generateContent${query}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-mock-tag": tag, ...headers },
        body: JSON.stringify(contents),
      });
    // The first `key` is the credential: the restricted token, which may not use PRO.
    const twice = await post(`?key=${token.token}&key=${other.token}`);
    expect(twice.status).toBe(403);
    // A header credential comes before the query's: still the restricted token.
    const header = await post(`?key=${other.token}`, { "x-goog-api-key": token.token });
    expect(header.status).toBe(403);
    expect(await upstreamSaw(tag)).toHaveLength(0);
    // The unrestricted token may: every `key` (however its name is encoded) is taken out of the URL.
    const ok = await post(`?k%65y=${other.token}&alt=json&key=${token.token}`);
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    const [seen] = await upstreamSaw(tag);
    expect(seen!.url).toBe(`/v1beta/models/${PRO}:generateContent?alt=json`);
    expect(JSON.stringify(seen)).not.toContain(other.token);
    expect(JSON.stringify(seen)).not.toContain(token.token);
  });

  it("a budgeted token: every priced method is reserved at the path's model; an unpriced model is refused", async () => {
    const { token } = await geminiProject({ max_cost_usd: 0.01 });
    const tag = newTag();
    // Reserved at the path's model: over the budget. A body naming another model is refused before that.
    const big = await gemini(`/v1beta/models/${FLASH}:streamGenerateContent?alt=sse`, token.token, tag, {
      ...contents,
      generationConfig: { maxOutputTokens: 1_000_000 },
    });
    expect(big.status).toBe(429);
    const other = await gemini(`/v1beta/models/${FLASH}:streamGenerateContent?alt=sse`, token.token, tag, {
      ...contents,
      model: "models/gemini-unknown",
      generationConfig: { maxOutputTokens: 1_000_000 },
    });
    expect(other.status).toBe(400);
    for (const method of ["generateContent", "embedContent", "batchEmbedContents"]) {
      const unpriced = await gemini(`/v1beta/models/gemini-unknown:${method}`, token.token, tag);
      expect(unpriced.status, method).toBe(403);
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("Gemini's model listing and model get are not forwarded", async () => {
    const { token } = await geminiProject({ allowed_models: [FLASH] });
    const tag = newTag();
    for (const path of ["/v1beta/models", `/v1beta/models/${PRO}`, "/v1beta/tunedModels", "/v1beta"]) {
      const res = await workerFetch(`${BASE}${path}?key=${token.token}`, { headers: { "x-mock-tag": tag } });
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as GoogleError).error.status, path).toBe("NOT_FOUND");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });
});

type Envelope = { error: { type: string; code: string; param?: string | null } };
const chat = (model: string) => ({ model, messages: [{ role: "user", content: "hi" }] });

const azureProject = (token: Record<string, unknown>, settings: Record<string, unknown>, base = "") =>
  mockProjectToken(token, {
    provider: "azure",
    base_url: `${env.MOCK_UPSTREAM_URL}${base}`,
    provider_settings: settings,
  });

describe("Azure: the deployment comes from the model the gateway checked", () => {
  const deployments = { "gpt-4o-mini": "mini-prod", "gpt-4o": "big-prod" };

  it("a model not given is refused before its deployment is chosen, whatever the deployment is called", async () => {
    const { token } = await azureProject({ allowed_models: ["gpt-4o-mini"] }, { deployments });
    const tag = newTag();
    const headers = { "x-mock-tag": tag };
    // The other model, its deployment's name, and a model that would name it in an encoded path.
    for (const model of ["gpt-4o", "big-prod", "gpt-4o-mini/../big-prod", "gpt-4o-mini%2F..%2Fbig-prod"]) {
      const res = await proxy("/chat/completions", { token: token.token, json: chat(model), headers });
      expect(res.status, model).toBe(403);
      expect(((await res.json()) as Envelope).error.code).toBe("model_not_allowed");
    }
    // The deployments path itself is not an endpoint of the gateway: no way to name one directly.
    for (const path of [
      "/deployments/big-prod/chat/completions",
      "/openai/deployments/big-prod/chat/completions",
    ]) {
      const res = await proxy(path, { token: token.token, json: chat("gpt-4o-mini"), headers });
      expect(res.status, path).toBe(404);
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    const ok = await proxy("/chat/completions", { token: token.token, json: chat("gpt-4o-mini"), headers });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-mock-deployment")).toBe("mini-prod");
    await ok.arrayBuffer();
    const seen = await upstreamSaw(tag);
    expect(seen.map((r) => r.url)).toEqual([
      "/openai/deployments/mini-prod/chat/completions?api-version=2024-10-21",
    ]);
  });

  it("a wildcard allowance cannot reach another deployment through the model's spelling", async () => {
    // `gpt-4o-mini*` admits any suffix; an unmapped model is the deployment's name, a path segment upstream:
    // a name no deployment can have is refused unsent, never forwarded as `gpt-4o-mini%2F..%2Fbig-prod`.
    const { token } = await azureProject({ allowed_models: ["gpt-4o-mini*"] }, { deployments });
    const tag = newTag();
    const headers = { "x-mock-tag": tag };
    for (const model of [
      "gpt-4o-mini/../big-prod",
      "gpt-4o-mini/../../deployments/big-prod",
      "gpt-4o-mini%2F..%2Fbig-prod",
      "gpt-4o-mini?x=/",
      "gpt-4o-mini\\..\\big-prod",
    ]) {
      const res = await proxy("/chat/completions", { token: token.token, json: chat(model), headers });
      expect(res.status, model).toBe(404);
      expect(((await res.json()) as Envelope).error.code, model).toBe("model_not_found");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    // A plain name within the allowance is its own deployment; a mapped one goes to its mapping.
    for (const model of ["gpt-4o-mini-2024-07-18", "gpt-4o-mini"]) {
      const ok = await proxy("/chat/completions", { token: token.token, json: chat(model), headers });
      expect(ok.status, model).toBe(200);
      await ok.arrayBuffer();
    }
    expect((await upstreamSaw(tag)).map((r) => r.url)).toEqual([
      "/openai/deployments/gpt-4o-mini-2024-07-18/chat/completions?api-version=2024-10-21",
      "/openai/deployments/mini-prod/chat/completions?api-version=2024-10-21",
    ]);
  });

  it("the Responses API (deployment named in the body) goes to the deployment the checked model maps to", async () => {
    const { token } = await azureProject({ allowed_models: ["gpt-4o-mini"] }, { deployments });
    const tag = newTag();
    const res = await proxy("/responses", {
      token: token.token,
      json: { model: "gpt-4o-mini", input: "hi" },
      headers: { "x-mock-tag": tag },
    });
    await res.arrayBuffer();
    const [seen] = await upstreamSaw(tag);
    expect(seen!.url).toBe("/openai/responses?api-version=2024-10-21");
    expect(JSON.parse(seen!.bodyText!).model).toBe("mini-prod");
  });

  it("api-version in the query is the client's to choose, never a way into the path", async () => {
    const { token } = await azureProject({ allowed_models: ["gpt-4o-mini"] }, { deployments });
    const tag = newTag();
    for (const query of [
      "?api-version=2025-04-01-preview",
      "?api-version=2024-10-21&api-version=2025-04-01-preview",
      "?api-version=..%2F..%2Fdeployments%2Fbig-prod",
      "?api-version=x%26deployment%3Dbig-prod",
    ]) {
      const res = await proxy(`/chat/completions${query}`, {
        token: token.token,
        json: chat("gpt-4o-mini"),
        headers: { "x-mock-tag": tag },
      });
      await res.arrayBuffer();
    }
    const seen = await upstreamSaw(tag);
    expect(seen.map((r) => r.url.split("?")[0])).toEqual(
      Array(4).fill("/openai/deployments/mini-prod/chat/completions"),
    );
    expect(seen.map((r) => new URLSearchParams(r.url.split("?")[1]).getAll("api-version"))).toEqual([
      ["2025-04-01-preview"],
      ["2024-10-21", "2025-04-01-preview"],
      ["../../deployments/big-prod"],
      ["x&deployment=big-prod"],
    ]);
  });

  it("the v1 API: the deployment the body carries upstream is the checked model's; two models in the body are refused", async () => {
    const { token } = await azureProject(
      { allowed_models: ["gpt-4o-mini"] },
      { api: "v1", deployments },
      "/openai/v1",
    );
    const tag = newTag();
    const headers = { "content-type": "application/json", "x-mock-tag": tag };
    const messages = '"messages":[{"role":"user","content":"hi"}]';
    for (const body of [
      `{"model":"gpt-4o-mini","model":"big-prod",${messages}}`,
      `{"model":"gpt-4o-mini","\\u006dodel":"gpt-4o",${messages}}`,
    ]) {
      const res = await proxy("/chat/completions", { token: token.token, method: "POST", headers, body });
      expect(res.status).toBe(400);
      expect(((await res.json()) as Envelope).error.code).toBe("invalid_json");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    const ok = await proxy("/chat/completions", { token: token.token, json: chat("gpt-4o-mini"), headers });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    const [seen] = await upstreamSaw(tag);
    expect(seen!.url).toBe("/openai/v1/chat/completions");
    expect(JSON.parse(seen!.bodyText!).model).toBe("mini-prod");
  });
});

const anthropicProject = (token: Record<string, unknown>) =>
  mockProjectToken(token, { provider: "anthropic" });

/** A raw Anthropic call on the worker: `x-api-key` and `anthropic-version`, as the SDK sends them. */
function claude(path: string, key: string, tag: string, init: { method?: string; body?: string } = {}) {
  return workerFetch(`${BASE}/v1${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: {
      "x-api-key": key,
      "anthropic-version": "2023-06-01",
      "content-type": "application/json",
      "x-mock-tag": tag,
    },
    body: init.body,
  });
}

type AnthropicError = { type: "error"; error: { type: string; message: string } };
const message = (model: string) =>
  JSON.stringify({ model, max_tokens: 16, messages: [{ role: "user", content: "hi" }] });

describe("Anthropic: /v1/messages and its siblings", () => {
  it("a body naming model twice (plain or escaped) is refused on messages and count_tokens; nothing forwarded", async () => {
    const { token } = await anthropicProject({ allowed_models: [HAIKU] });
    const tag = newTag();
    const rest = '"max_tokens":16,"messages":[{"role":"user","content":"hi"}]';
    for (const path of ["/messages", "/messages/count_tokens", "/messages/count_token%73"]) {
      for (const body of [
        `{"model":"${HAIKU}","model":"${SONNET}",${rest}}`,
        `{"model":"${SONNET}","model":"${HAIKU}",${rest}}`,
        `{"model":"${HAIKU}","\\u006dodel":"${SONNET}",${rest}}`,
        `{"\\u006d\\u006f\\u0064\\u0065\\u006c":"${SONNET}","model":"${HAIKU}",${rest}}`,
      ]) {
        const res = await claude(path, token.token, tag, { body });
        expect(res.status, `${path} ${body}`).toBe(400);
        expect(((await res.json()) as AnthropicError).error.type).toBe("invalid_request_error");
      }
      const other = await claude(path, token.token, tag, { body: message(SONNET) });
      expect(other.status, path).toBe(403);
      expect(((await other.json()) as AnthropicError).error.type).toBe("permission_error");
      // A model under another key is not one: the body must name its model plainly.
      const none = await claude(path, token.token, tag, {
        body: JSON.stringify({ Model: HAIKU, max_tokens: 16, messages: [] }),
      });
      expect(none.status, path).toBe(400);
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    const ok = await claude("/messages/count_token%73", token.token, tag, { body: message(HAIKU) });
    expect(ok.status).toBe(200);
    const [seen] = await upstreamSaw(tag);
    expect(seen!.url).toBe("/v1/messages/count_tokens");
    expect(JSON.parse(seen!.bodyText!).model).toBe(HAIKU);
  });

  it("message batches are never forwarded: no way to a model or a spend the gateway cannot see", async () => {
    const { token } = await anthropicProject({ allowed_models: [HAIKU], max_cost_usd: 1 });
    const tag = newTag();
    const batch = JSON.stringify({
      requests: [{ custom_id: "a", params: JSON.parse(message(SONNET)) }],
    });
    for (const [method, path] of [
      ["POST", "/messages/batches"],
      ["POST", "/messages/batche%73"],
      ["GET", "/messages/batches"],
      ["GET", "/messages/batches/msgbatch_01"],
      ["GET", "/messages/batches/msgbatch_01/results"],
      ["POST", "/messages/batches/msgbatch_01/cancel"],
      ["DELETE", "/messages/batches/msgbatch_01"],
    ] as const) {
      const res = await claude(path, token.token, tag, {
        method,
        body: method === "POST" ? batch : undefined,
      });
      expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(404);
      expect(res.status, `${method} ${path}`).toBeLessThan(406);
      expect(((await res.json()) as AnthropicError).type).toBe("error");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("a budgeted token's message is reserved at the body's model; without max_tokens it cannot be bounded", async () => {
    const { token } = await anthropicProject({ max_cost_usd: 0.001 });
    const tag = newTag();
    const big = await claude("/messages", token.token, tag, {
      body: JSON.stringify({
        model: SONNET,
        max_tokens: 100_000,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    expect(big.status).toBe(429);
    const unpriced = await claude("/messages", token.token, tag, { body: message("claude-unknown-9") });
    expect(unpriced.status).toBe(403);
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });
});

describe("model listings show only what the token was given", () => {
  it("OpenAI dialect: GET /v1/models lists only allowed models", async () => {
    const { token } = await mockProjectToken({ allowed_models: ["gpt-4o-mini"] });
    const list = await proxy("/models", { token: token.token });
    expect(list.status).toBe(200);
    const ids = ((await list.json()) as { data: { id: string }[] }).data.map((m) => m.id);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect(id.startsWith("gpt-4o-mini")).toBe(true);
  });
  it("OpenAI dialect: GET /v1/models/{id} of a model not given is 404 model_not_found, nothing forwarded", async () => {
    const { token } = await mockProjectToken({ allowed_models: ["gpt-4o-mini"] });
    const { token: free } = await mockProjectToken();
    const tag = newTag();
    const headers = { "x-mock-tag": tag };
    for (const id of ["gpt-4o", "gpt-4o-mini-x", "gpt-4%6F", "o3"]) {
      const one = await proxy(`/models/${id}`, { token: token.token, headers });
      expect(one.status, id).toBe(404);
      expect(((await one.json()) as Envelope).error.code, id).toBe("model_not_found");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    // A model it was given, and any model for a token without a list, are described by the upstream.
    const mine = await proxy("/models/gpt-4o-mini-2024-07-18", { token: token.token, headers });
    expect(await mine.json()).toMatchObject({ id: "gpt-4o-mini-2024-07-18" });
    const any = await proxy("/models/gpt-4o", { token: free.token, headers });
    expect(await any.json()).toMatchObject({ id: "gpt-4o" });
    expect((await upstreamSaw(tag)).map((r) => r.url)).toEqual([
      "/v1/models/gpt-4o-mini-2024-07-18",
      "/v1/models/gpt-4o",
    ]);
  });
  it("Anthropic dialect (anthropic-version): GET /v1/models lists only allowed models, in Anthropic's shape", async () => {
    const { token } = await anthropicProject({ allowed_models: [HAIKU] });
    const list = await claude("/models", token.token, newTag());
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({
      data: [{ type: "model", id: HAIKU, display_name: HAIKU, created_at: "2025-10-01T00:00:00Z" }],
      has_more: false,
      first_id: HAIKU,
      last_id: HAIKU,
    });
    // A token without a list still gets the upstream's list as it is.
    const { token: free } = await anthropicProject({});
    const all = await claude("/models", free.token, newTag());
    const ids = ((await all.json()) as { data: { id: string }[] }).data.map((m) => m.id);
    expect(ids).toEqual([SONNET, HAIKU]);
  });

  it("Anthropic dialect: GET /v1/models/{id} of a model not given is 404 not_found_error, nothing forwarded", async () => {
    const { token } = await anthropicProject({ allowed_models: [HAIKU] });
    const tag = newTag();
    const other = await claude(`/models/${SONNET}`, token.token, tag);
    expect(other.status).toBe(404);
    expect(((await other.json()) as AnthropicError).error.type).toBe("not_found_error");
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });
});

describe("a model that becomes a path segment upstream (OpenAI clients of Gemini and Azure)", () => {
  // A wildcard allowance admits any suffix: whatever the suffix, the upstream must get a plain model name,
  // never a segment an upstream front end could decode into another path (`%2F..%2F`).
  const smuggled = [
    "gemini-2.5-flash/../gemini-2.5-pro",
    "gemini-2.5-flash%2F..%2Fgemini-2.5-pro",
    "gemini-2.5-flash:generateContent?x=",
    "gemini-2.5-flash\\..\\gemini-2.5-pro",
    "gemini-2.5-flash/",
  ];

  it("Gemini: a translated chat's model is a plain Gemini model name or refused; nothing else is sent", async () => {
    const { token } = await geminiProject({ allowed_models: ["gemini-2.5-flash*"] });
    const tag = newTag();
    const headers = { "x-mock-tag": tag };
    for (const model of smuggled) {
      const res = await proxy("/chat/completions", { token: token.token, json: chat(model), headers });
      expect(res.status, model).toBe(400);
      expect(((await res.json()) as Envelope).error.code, model).toBe("INVALID_ARGUMENT");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    // The `models/` prefix Gemini's own names carry is still taken off; a dated suffix passes.
    for (const model of ["gemini-2.5-flash-001", "gemini-2.5-flash-lite"]) {
      const ok = await proxy("/chat/completions", { token: token.token, json: chat(model), headers });
      expect(ok.status, model).toBe(200);
      await ok.arrayBuffer();
    }
    expect((await upstreamSaw(tag)).map((r) => r.url)).toEqual([
      "/v1beta/models/gemini-2.5-flash-001:generateContent",
      "/v1beta/models/gemini-2.5-flash-lite:generateContent",
    ]);
  });
});

describe("Gemini: what a stream is charged, however it is asked for", () => {
  it("streamGenerateContent without alt=sse (a JSON array) is charged what the upstream reported", async () => {
    const { token } = await geminiProject({ max_tokens: 100_000 });
    const tag = newTag();
    const ids: string[] = [];
    for (const query of ["?alt=sse", ""]) {
      const res = await gemini(
        `/v1beta/models/${FLASH}:streamGenerateContent${query}`,
        token.token,
        tag,
        {
          ...contents,
          generationConfig: { maxOutputTokens: 1000 },
        },
        { "x-mock-thoughts": "50" },
      );
      expect(res.status, query).toBe(200);
      const text = await res.text();
      expect(text, query).toContain("tok2");
      ids.push(res.headers.get("x-request-id")!);
    }
    expect((await upstreamSaw(tag)).map((r) => r.url)).toEqual([
      `/v1beta/models/${FLASH}:streamGenerateContent?alt=sse`,
      `/v1beta/models/${FLASH}:streamGenerateContent`,
    ]);
    const events = await eventsOf(ids);
    const [sse, array] = ids.map((id) => events.get(id)!);
    expect(sse).toMatchObject({ usage_source: "upstream", usage: { completion_tokens: 3 + 50 } });
    expect(array).toMatchObject({ usage_source: "upstream", usage: sse!.usage, cost_usd: sse!.cost_usd });
  });

  it("the same for an array past what the gateway keeps whole (1 MiB): the last event's counts are read", async () => {
    const { token } = await geminiProject({ max_tokens: 1_000_000 });
    const tag = newTag();
    const res = await gemini(`/v1beta/models/${FLASH}:streamGenerateContent`, token.token, tag, contents, {
      "x-mock-chunks": "6000",
    });
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1024 * 1024);
    const id = res.headers.get("x-request-id")!;
    const event = (await eventsOf([id])).get(id)!;
    expect(event).toMatchObject({ usage_source: "upstream", usage: { completion_tokens: 6000 } });
  });
});

describe("Gemini: answers the gateway could not read are not asked for", () => {
  it("alt=proto (Google's standard parameter) and other formats are refused: the gateway reads JSON and SSE", async () => {
    const { token } = await geminiProject({ max_cost_usd: 1 });
    const tag = newTag();
    for (const query of [
      "?alt=proto",
      "?%24alt=proto",
      "?alt=media",
      "?alt=sse&alt=proto",
      "?ALT=json&alt=xml",
    ]) {
      const res = await gemini(`/v1beta/models/${FLASH}:generateContent${query}`, token.token, tag, {
        ...contents,
        generationConfig: { maxOutputTokens: 1000 },
      });
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as GoogleError).error.status, query).toBe("INVALID_ARGUMENT");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    for (const query of ["?alt=json", "?alt=sse", ""]) {
      const res = await gemini(`/v1beta/models/${FLASH}:generateContent${query}`, token.token, tag);
      expect(res.status, query).toBe(200);
      await res.arrayBuffer();
    }
    expect(await upstreamSaw(tag)).toHaveLength(3);
  });
});

describe("Gemini: a stream the client leaves", () => {
  it("leaving a JSON-array stream early does not make what was generated free", async () => {
    // Without alt=sse the answer is read by the JSON tap: what the upstream generated is still charged
    // (today the upstream runs to its end and its reported usage is read; a cut would charge the hold).
    const { manage } = await import("./helpers");
    const { token } = await geminiProject({ max_tokens: 1_000_000 });
    const controller = new AbortController();
    const res = await workerFetch(`${BASE}/v1beta/models/${FLASH}:streamGenerateContent`, {
      method: "POST",
      headers: {
        "x-goog-api-key": token.token,
        "content-type": "application/json",
        "x-mock-chunks": "200",
        "x-mock-interval-ms": "5",
      },
      body: JSON.stringify({ ...contents, generationConfig: { maxOutputTokens: 5000 } }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    let got = 0;
    while (got < 3000) {
      const { value, done } = await reader.read();
      if (done) break;
      got += value.byteLength;
    }
    controller.abort();
    await reader.cancel().catch(() => {});
    type Live = { allowance: { tokens: { used: number; reserved: number } } };
    let used = 0;
    await eventually(async () => {
      const t = ((await (await manage(`/tokens/${token.id}`)).json()) as Live).allowance.tokens;
      used = t.used;
      return t.reserved === 0;
    }, 10_000);
    expect(used).toBeGreaterThanOrEqual(200);
  });
});
