// A mock of Google's Generative Language API (`/v1beta/models/{model}:{method}`) in the wire format of the
// Gemini API reference: `x-goog-api-key` required, `generateContent`, `streamGenerateContent?alt=sse`
// (one GenerateContentResponse per `data:` event, usageMetadata on each, finishReason on the last; without
// alt=sse the same responses as one streamed JSON array),
// `countTokens`, `embedContent`, errors `{"error":{code,message,status}}`. Steered by `x-mock-chunks`,
// `x-mock-status`, `x-mock-interval-ms`, plus `x-mock-thoughts` and `x-mock-cached` (token counts).

import { geminiPromptTokens } from "./mock-counts.ts";
import { type Ctx, piece, sendJson } from "./mock-upstream.ts";

type Json = Record<string, unknown>;

const STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
};

function googleError(ctx: Ctx, code: number, message: string): void {
  sendJson(ctx, code, { error: { code, message, status: STATUS[code] ?? "UNKNOWN" } });
}

function functionToCall(json: Json): Json | null {
  const tools = Array.isArray(json.tools) ? (json.tools as Json[]) : [];
  const declarations = tools.flatMap((t) =>
    Array.isArray(t.functionDeclarations) ? (t.functionDeclarations as Json[]) : [],
  );
  const config = (json.toolConfig as Json | undefined)?.functionCallingConfig as Json | undefined;
  if (!declarations.length || config?.mode === "NONE") return null;
  return declarations[0]!;
}

async function generate(ctx: Ctx, model: string, stream: boolean): Promise<void> {
  const json = ctx.json;
  if (!json || !Array.isArray(json.contents)) return googleError(ctx, 400, "contents is required");
  const chunks = ctx.num("x-mock-chunks", 3);
  const thoughts = ctx.num("x-mock-thoughts", 0);
  const cached = ctx.num("x-mock-cached", 0);
  const prompt = geminiPromptTokens(json) + cached;
  const fn = functionToCall(json);
  const call = fn ? { functionCall: { name: fn.name, args: { location: "Paris" } } } : null;
  const candidatesTokens = chunks + (call ? 4 : 0);
  const usage = (final: boolean): Json => {
    const u: Json = {
      promptTokenCount: prompt,
      candidatesTokenCount: final ? candidatesTokens : 1,
      totalTokenCount: prompt + (final ? candidatesTokens + thoughts : 1),
    };
    if (thoughts) u.thoughtsTokenCount = thoughts;
    if (cached) u.cachedContentTokenCount = cached;
    return u;
  };
  const maxTokens = (json.generationConfig as Json | undefined)?.maxOutputTokens;
  const finishReason = typeof maxTokens === "number" && maxTokens < chunks ? "MAX_TOKENS" : "STOP";
  const texts = Array.from({ length: chunks }, (_, i) => piece(i));
  const response = (parts: Json[], final: boolean): Json => ({
    candidates: [{ content: { parts, role: "model" }, ...(final ? { finishReason } : {}), index: 0 }],
    usageMetadata: usage(final),
    modelVersion: model,
    responseId: "resp_mock_gemini",
  });
  if (!stream) {
    const parts: Json[] = [{ text: texts.join("") }];
    if (call) parts.push(call);
    return sendJson(ctx, 200, response(parts, true));
  }
  const sse = new URL(ctx.req.url ?? "/", "http://mock").searchParams.get("alt") === "sse";
  const interval = ctx.num("x-mock-interval-ms", 0);
  if (!sse) {
    // Without alt=sse Google streams one JSON array of the same responses (`[{…}\r\n,{…}]`).
    ctx.res.writeHead(200, { "content-type": "application/json; charset=UTF-8" });
    ctx.res.flushHeaders();
    const items = texts.map((t, i) => response([{ text: t }], i === texts.length - 1 && !call));
    if (call) items.push(response([call], true));
    for (let i = 0; i < items.length; i++) {
      if (i > 0 && interval > 0) await ctx.sleep(interval);
      if (ctx.closed) return;
      ctx.res.write(`${i === 0 ? "[" : "\r\n,"}${JSON.stringify(items[i])}`);
    }
    ctx.res.end("]");
    ctx.record.completed = true;
    return;
  }
  ctx.res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  ctx.res.flushHeaders();
  for (let i = 0; i < texts.length; i++) {
    if (i > 0 && interval > 0) await ctx.sleep(interval);
    if (ctx.closed) return;
    const last = i === texts.length - 1 && !call;
    ctx.res.write(`data: ${JSON.stringify(response([{ text: texts[i] }], last))}\r\n\r\n`);
  }
  if (call) ctx.res.write(`data: ${JSON.stringify(response([call], true))}\r\n\r\n`);
  ctx.res.end();
  ctx.record.completed = true;
}

export async function geminiRoute(ctx: Ctx, path: string): Promise<void> {
  if (!ctx.header("x-goog-api-key"))
    return googleError(ctx, 401, "API key not valid. Please pass a valid API key.");
  const status = ctx.num("x-mock-status", 0);
  if (status >= 400) return googleError(ctx, status, `mock upstream error ${status}`);
  const match = /^\/v1beta\/models\/([^/:]+):([A-Za-z]+)$/.exec(path);
  if (!match || ctx.req.method !== "POST")
    return googleError(ctx, 404, `mock has no ${ctx.req.method} ${path}`);
  const [, model, action] = match as unknown as [string, string, string];
  // Google's standard `alt` parameter: `proto` answers in protocol buffers (here: opaque bytes).
  const alt = new URL(ctx.req.url ?? "/", "http://mock").searchParams;
  if ((alt.get("alt") ?? alt.get("$alt")) === "proto") {
    ctx.res.writeHead(200, { "content-type": "application/x-protobuf" });
    ctx.res.end(Buffer.from([0x0a, 0x02, 0x08, 0x01]));
    ctx.record.completed = true;
    return;
  }
  if (action === "generateContent") return generate(ctx, model, false);
  if (action === "streamGenerateContent") return generate(ctx, model, true);
  if (action === "countTokens")
    return sendJson(ctx, 200, { totalTokens: geminiPromptTokens(ctx.json ?? {}) });
  const values = [0.25, -0.5, 0.125, 1];
  if (action === "embedContent") return sendJson(ctx, 200, { embedding: { values } });
  if (action === "batchEmbedContents") {
    const requests = Array.isArray(ctx.json?.requests) ? ctx.json.requests : [];
    return sendJson(ctx, 200, { embeddings: requests.map(() => ({ values })) });
  }
  return googleError(ctx, 404, `mock has no method ${action}`);
}
