// A mock OpenAI upstream: a real local HTTP server, so the gateway's fetches, streams, aborts and resets
// go over real sockets. Plain Node ESM with erasable types only: Node 22 runs it directly
// (`node test/support/mock-upstream.ts [--port N]`), vitest's globalSetup and the bench import it.
//
// The API lives under `/v1` (a project's base_url is `${url}/v1`); behaviour is steered per request by
// `x-mock-*` headers (see mock-types.ts). `GET /__mock/requests[?tag=]` lists what it received,
// `DELETE /__mock/requests` forgets it.

import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { anthropicRoute } from "./mock-anthropic.ts";
import { azureRoute } from "./mock-azure.ts";
import { words } from "./mock-counts.ts";
import { geminiRoute } from "./mock-gemini.ts";
import { ids as mockIds, objectsRoute, storeChatCompletion, storeResponse } from "./mock-objects.ts";
import type { RecordedRequest } from "./mock-types.ts";

export type { RecordedRequest } from "./mock-types.ts";

export type MockUpstream = {
  /** `http://127.0.0.1:<port>` (no trailing slash, no `/v1`). */
  url: string;
  port: number;
  /** What the mock received, oldest first, optionally only one tag's. */
  requests(tag?: string): RecordedRequest[];
  reset(): void;
  close(): Promise<void>;
};

export type MockUpstreamOptions = {
  port?: number;
  host?: string;
  /** Keep at most this many recorded requests (oldest dropped); 0 records nothing (bench). Default 10 000. */
  maxRecorded?: number;
};

const CREATED = 1_700_000_000;
const TEXT_CAPTURE_BYTES = 64 * 1024;
export const FILE_CONTENT_BYTES = 64 * 1024;

/** The bytes `GET /v1/files/{id}/content` serves: deterministic, not valid UTF-8. */
export function fileContentBytes(size = FILE_CONTENT_BYTES): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

export type Ctx = {
  /** Settings from the upstream's base URL or the API key, ahead of the request's `x-mock-*` headers. */
  settings: Map<string, string>;
  req: IncomingMessage;
  res: ServerResponse;
  record: RecordedRequest;
  /** The request's path below any `/up/<behaviour>` prefix, without its query. */
  path: string;
  body: Buffer;
  json: Record<string, unknown> | null;
  header(name: string): string | null;
  num(name: string, fallback: number): number;
  /** Resolves after `ms`, or never if the client went away (so writers stop). */
  sleep(ms: number): Promise<void>;
  closed: boolean;
};

let requestCounter = 0;

function baseHeaders(extra: Record<string, string> = {}): Record<string, string> {
  requestCounter++;
  return {
    "x-request-id": `req_mock_${requestCounter}`,
    "x-ratelimit-remaining-requests": "9999",
    "openai-processing-ms": "1",
    ...extra,
  };
}

export function sendJson(
  ctx: Ctx,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  const named: Record<string, string> = ctx.record.upstream
    ? { "x-mock-upstream-name": ctx.record.upstream }
    : {};
  ctx.res.writeHead(status, {
    ...baseHeaders({ ...named, ...headers }),
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
  });
  ctx.res.end(text);
}

function errorBody(status: number, message: string, code: string) {
  const type = status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
  return { error: { message, type, param: null, code } };
}

export function startSse(ctx: Ctx): void {
  const named: Record<string, string> = ctx.record.upstream
    ? { "x-mock-upstream-name": ctx.record.upstream }
    : {};
  ctx.res.writeHead(200, {
    ...baseHeaders(named),
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
  });
  ctx.res.flushHeaders();
}

function promptTokens(json: Record<string, unknown> | null): number {
  if (!json) return 0;
  return Math.max(1, words(JSON.stringify(json.messages ?? json.prompt ?? json.input ?? "")));
}

export const piece = (i: number) => `tok${i} `;

export async function chatOrCompletion(ctx: Ctx, kind: "chat" | "text"): Promise<void> {
  const json = ctx.json ?? {};
  const model = typeof json.model === "string" ? json.model : "gpt-4o-mini";
  const chunks = ctx.num("x-mock-chunks", 3);
  const noUsage = ctx.header("x-mock-no-usage") === "1";
  const prompt = promptTokens(json);
  const usage = { prompt_tokens: prompt, completion_tokens: chunks, total_tokens: prompt + chunks };
  // A stored chat completion gets an id of its own (mock-objects.ts keeps it).
  const id = kind === "chat" ? (json.store === true ? mockIds.chat() : "chatcmpl-mock") : "cmpl-mock";
  const object = kind === "chat" ? "chat.completion" : "text_completion";
  const fullText = Array.from({ length: chunks }, (_, i) => piece(i)).join("");

  if (json.stream !== true) {
    const choice =
      kind === "chat"
        ? {
            index: 0,
            message: { role: "assistant", content: fullText, refusal: null },
            finish_reason: "stop",
          }
        : { index: 0, text: fullText, logprobs: null, finish_reason: "stop" };
    const body: Record<string, unknown> = { id, object, created: CREATED, model, choices: [choice] };
    if (!noUsage) body.usage = usage;
    if (kind === "chat") storeChatCompletion(ctx.req, json, body);
    sendJson(ctx, 200, body);
    return;
  }
  if (kind === "chat") {
    const message = { role: "assistant", content: fullText, refusal: null };
    const choices = [{ index: 0, message, finish_reason: "stop" }];
    storeChatCompletion(ctx.req, json, { id, object, created: CREATED, model, choices, usage });
  }

  const streamOptions = json.stream_options as { include_usage?: boolean } | undefined;
  const includeUsage = streamOptions?.include_usage === true && !noUsage;
  const interval = ctx.num("x-mock-interval-ms", 0);
  const failAfter = ctx.num("x-mock-fail-after", -1);
  const resetAfter = ctx.header("x-mock-reset") === "after";
  const chunkObject = kind === "chat" ? "chat.completion.chunk" : "text_completion";
  const frame = (choices: unknown[] | null, extra: Record<string, unknown> = {}) => {
    const body: Record<string, unknown> = { id, object: chunkObject, created: CREATED, model, choices };
    if (includeUsage) body.usage = null;
    return `data: ${JSON.stringify({ ...body, ...extra })}\n\n`;
  };
  const delta = (content: string, first: boolean) =>
    kind === "chat"
      ? { index: 0, delta: first ? { role: "assistant", content } : { content }, finish_reason: null }
      : { index: 0, text: content, logprobs: null, finish_reason: null };

  startSse(ctx);
  if (ctx.header("x-mock-reset") === "head") {
    // The head went out, then the connection broke before any event.
    ctx.req.socket.resetAndDestroy();
    return;
  }
  for (let i = 0; i < chunks; i++) {
    if (i > 0 && interval > 0) await ctx.sleep(interval);
    if (ctx.closed) return;
    if (i === failAfter) {
      ctx.res.end(`data: ${JSON.stringify(errorBody(500, "mock failure mid-stream", "server_error"))}\n\n`);
      ctx.record.completed = true;
      return;
    }
    ctx.res.write(frame([delta(piece(i), i === 0)]));
    if (resetAfter) {
      // Let the chunk reach the gateway first (a reset may drop bytes the peer has not read yet): the
      // interval when one is given, else a short pause.
      await ctx.sleep(interval > 0 ? interval : 50);
      ctx.req.socket.resetAndDestroy();
      return;
    }
  }
  if (interval > 0) await ctx.sleep(interval);
  if (ctx.closed) return;
  const last =
    kind === "chat"
      ? { index: 0, delta: {}, finish_reason: "stop" }
      : { index: 0, text: "", logprobs: null, finish_reason: "stop" };
  let tail = frame([last]);
  if (includeUsage)
    tail += `data: ${JSON.stringify({ id, object: chunkObject, created: CREATED, model, choices: [], usage })}\n\n`;
  if (ctx.header("x-mock-no-done") !== "1") tail += "data: [DONE]\n\n";
  ctx.res.end(tail);
  ctx.record.completed = true;
}

function responseObject(model: string, text: string, status: string, usage: Record<string, unknown> | null) {
  return {
    id: "resp_mock",
    object: "response",
    created_at: CREATED,
    status,
    model,
    output: [
      {
        type: "message",
        id: "msg_mock",
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text, annotations: [] }],
      },
    ],
    usage,
  };
}

async function responses(ctx: Ctx): Promise<void> {
  const json = ctx.json ?? {};
  const model = typeof json.model === "string" ? json.model : "gpt-4o-mini";
  const chunks = ctx.num("x-mock-chunks", 3);
  const input = promptTokens(json);
  const usage =
    ctx.header("x-mock-no-usage") === "1"
      ? null
      : {
          input_tokens: input,
          input_tokens_details: { cached_tokens: 2 },
          output_tokens: chunks + 1,
          output_tokens_details: { reasoning_tokens: 1 },
          total_tokens: input + chunks + 1,
        };
  const fullText = Array.from({ length: chunks }, (_, i) => piece(i)).join("");
  // Ids of its own for each response and its message; stored (mock-objects.ts) unless `store: false`.
  const rid = mockIds.response();
  const mid = mockIds.message();
  const made = (text: string, status: string, u: Record<string, unknown> | null) => {
    const r = responseObject(model, text, status, u);
    const { usage: _, ...head } = r;
    // OpenAI echoes the request's instructions before the output and its metadata after the usage.
    return {
      ...head,
      ...(json.instructions !== undefined ? { instructions: json.instructions } : {}),
      id: rid,
      output: r.output.map((item) => ({ ...item, id: mid })),
      usage: u,
      ...(json.metadata !== undefined ? { metadata: json.metadata } : {}),
    };
  };
  const problem = storeResponse(ctx.req, json, made(fullText, "completed", usage));
  if (problem) return sendJson(ctx, 400, errorBody(400, problem, "invalid_request_error"));
  if (json.stream !== true) {
    sendJson(ctx, 200, made(fullText, "completed", usage));
    return;
  }
  const interval = ctx.num("x-mock-interval-ms", 0);
  let seq = 0;
  const event = (type: string, data: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  startSse(ctx);
  ctx.res.write(event("response.created", { response: { ...made("", "in_progress", null), output: [] } }));
  for (let i = 0; i < chunks; i++) {
    if (interval > 0) await ctx.sleep(interval);
    if (ctx.closed) return;
    ctx.res.write(
      event("response.output_text.delta", {
        item_id: mid,
        output_index: 0,
        content_index: 0,
        delta: piece(i),
      }),
    );
  }
  const end = ctx.header("x-mock-responses-end") ?? "completed";
  const status = end === "failed" ? "failed" : end === "incomplete" ? "incomplete" : "completed";
  ctx.res.end(event(`response.${status}`, { response: made(fullText, status, usage) }));
  ctx.record.completed = true;
}

function embeddings(ctx: Ctx): void {
  const json = ctx.json ?? {};
  const inputs = Array.isArray(json.input) ? json.input : [json.input];
  const vector = [0.25, -0.5, 0.125, 1];
  const data = inputs.map((_, index) => ({
    object: "embedding",
    index,
    embedding:
      json.encoding_format === "base64"
        ? Buffer.from(new Float32Array(vector).buffer).toString("base64")
        : vector,
  }));
  const prompt = promptTokens(json);
  sendJson(ctx, 200, {
    object: "list",
    data,
    model: json.model ?? "text-embedding-3-small",
    usage: { prompt_tokens: prompt, total_tokens: prompt },
  });
}

const MODELS = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "whisper-1"];

async function route(ctx: Ctx): Promise<void> {
  const { req } = ctx;
  const path = ctx.path;
  // The other providers' wire formats (each answers its own errors): Anthropic, Gemini, Azure OpenAI.
  if (path.startsWith("/v1beta/")) return geminiRoute(ctx, path);
  if (path.startsWith("/openai/")) return azureRoute(ctx, path);
  if (path.startsWith("/v1/messages") || (path.startsWith("/v1/models") && ctx.header("anthropic-version")))
    return anthropicRoute(ctx, path);
  const status = ctx.num("x-mock-status", 0);
  if (status >= 400) {
    const headers: Record<string, string> = { "x-mock-upstream": "1" };
    if (status === 429) {
      headers["retry-after"] = ctx.settings.get("retry-after") ?? "0";
      headers["x-ratelimit-remaining-requests"] = "0";
    }
    sendJson(ctx, status, errorBody(status, `mock upstream error ${status}`, "mock_error"), headers);
    return;
  }
  if (ctx.header("x-mock-reject-stream-options") === "1" && ctx.json && "stream_options" in ctx.json) {
    const message = "Unrecognized request argument supplied: stream_options";
    sendJson(ctx, 400, errorBody(400, message, "invalid_request_error"));
    return;
  }
  const method = req.method ?? "GET";
  if (method === "POST" && path === "/v1/chat/completions") return chatOrCompletion(ctx, "chat");
  if (method === "POST" && path === "/v1/completions") return chatOrCompletion(ctx, "text");
  if (method === "POST" && path === "/v1/responses") return responses(ctx);
  if (method === "POST" && path === "/v1/embeddings") return embeddings(ctx);
  if (method === "GET" && path === "/v1/models")
    return sendJson(ctx, 200, {
      object: "list",
      data: MODELS.map((id) => ({ id, object: "model", created: CREATED, owned_by: "mock" })),
    });
  const model = /^\/v1\/models\/([^/]+)$/.exec(path);
  if (method === "GET" && model)
    return sendJson(ctx, 200, {
      id: decodeURIComponent(model[1]!),
      object: "model",
      created: CREATED,
      owned_by: "mock",
    });
  const query = new URL(req.url ?? "/", "http://mock").searchParams;
  if (await objectsRoute(ctx, method, path, query)) return;
  if (method === "POST" && path === "/v1/audio/transcriptions")
    return sendJson(ctx, 200, {
      text: `received ${ctx.record.bodyBytes} bytes`,
      bytes: ctx.record.bodyBytes,
      sha256: ctx.record.bodySha256,
      content_type: req.headers["content-type"] ?? null,
    });
  if (path.startsWith("/v1/"))
    // Any other API path: echo what arrived, so allowlist tests can see a request got through.
    return sendJson(ctx, 200, {
      object: "mock.echo",
      method,
      url: ctx.record.url,
      bytes: ctx.record.bodyBytes,
    });
  sendJson(ctx, 404, errorBody(404, `mock upstream has no ${method} ${path}`, "unknown_url"));
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/** Settings that make a request fail: `fail-first=N` keeps them for the first N requests only. */
const FAILURES = ["status", "hang-ms", "reset", "fail-after"];

/**
 * The behaviour of a request from its URL's `/up/<k=v,…>` prefix and its API key's `;k=v` suffixes (the
 * key's win: they steer one key of an upstream), and the URL without the prefix.
 */
function behaviourOf(
  url: string,
  authorization: string | null,
): { settings: Map<string, string>; path: string; rest: string } {
  const settings = new Map<string, string>();
  let rest = url;
  const prefix = /^\/up\/([^/]+)(\/.*)$/.exec(url);
  if (prefix) {
    rest = prefix[2]!;
    for (const pair of decodeURIComponent(prefix[1]!).split(",")) {
      const at = pair.indexOf("=");
      if (at > 0) settings.set(pair.slice(0, at), pair.slice(at + 1));
    }
  }
  const key = authorization?.replace(/^Bearer\s+/i, "") ?? "";
  for (const pair of key.split(";").slice(1)) {
    const at = pair.indexOf("=");
    if (at > 0) settings.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return { settings, path: rest.split("?")[0] ?? "/", rest };
}

export async function startMockUpstream(options: MockUpstreamOptions = {}): Promise<MockUpstream> {
  const maxRecorded = options.maxRecorded ?? 10_000;
  let recorded: RecordedRequest[] = [];
  let seq = 0;
  /** Requests seen per upstream name, for `fail-first`. */
  const served = new Map<string, number>();

  const server = createServer({ noDelay: true, keepAliveTimeout: 30_000 }, (req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (part: Buffer) => parts.push(part));
    req.on("error", () => {});
    req.on("end", () => {
      const body = Buffer.concat(parts);
      const url = req.url ?? "/";
      if (url.startsWith("/__mock/")) return control(req, res, url, body);
      const headers = flatHeaders(req);
      const { settings, path, rest } = behaviourOf(url, headers.authorization ?? null);
      const name = settings.get("name") ?? null;
      if (name !== null && settings.has("fail-first")) {
        const n = (served.get(name) ?? 0) + 1;
        served.set(name, n);
        if (n > Number(settings.get("fail-first"))) for (const k of FAILURES) settings.delete(k);
      }
      const record: RecordedRequest = {
        seq: ++seq,
        method: req.method ?? "GET",
        url: rest,
        headers,
        tag: headers["x-mock-tag"] ?? null,
        upstream: name,
        bodyBytes: body.byteLength,
        bodySha256: createHash("sha256").update(body).digest("hex"),
        bodyText: body.byteLength <= TEXT_CAPTURE_BYTES ? body.toString("utf8") : null,
        aborted: false,
        completed: false,
      };
      if (maxRecorded > 0) {
        recorded.push(record);
        if (recorded.length > maxRecorded) recorded = recorded.slice(-maxRecorded);
      }
      let json: Record<string, unknown> | null = null;
      if ((headers["content-type"] ?? "").includes("json") && body.byteLength > 0) {
        try {
          json = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
        } catch {
          json = null;
        }
      }
      const timers = new Set<() => void>();
      const header = (h: string): string | null => {
        const set = h.startsWith("x-mock-") ? settings.get(h.slice(7)) : undefined;
        if (set !== undefined) return set;
        const v = req.headers[h];
        return typeof v === "string" ? v : null;
      };
      const ctx: Ctx = {
        settings,
        req,
        res,
        record,
        path,
        body,
        json,
        closed: false,
        header,
        num: (h, fallback) => {
          const raw = header(h);
          const v = Number(raw);
          return raw !== null && Number.isFinite(v) ? v : fallback;
        },
        sleep: (ms) =>
          new Promise<void>((resolve) => {
            if (ctx.closed) return;
            const t = setTimeout(() => {
              timers.delete(wake);
              resolve();
            }, ms);
            const wake = () => clearTimeout(t);
            timers.add(wake);
          }),
      };
      res.on("close", () => {
        ctx.closed = true;
        if (!res.writableFinished) record.aborted = true;
        for (const wake of timers) wake();
      });
      void (async () => {
        if (ctx.header("x-mock-reset") === "before") {
          req.socket.resetAndDestroy();
          return;
        }
        const hang = ctx.num("x-mock-hang-ms", 0);
        if (hang > 0) await ctx.sleep(hang);
        if (ctx.closed) return;
        await route(ctx);
        if (res.writableFinished) record.completed = true;
      })().catch((err: unknown) => {
        if (!res.headersSent) sendJson(ctx, 500, errorBody(500, String(err), "mock_crashed"));
        else res.destroy();
      });
    });
  });

  // Key sets an identity provider publishes (tests put them here, the gateway fetches them), and how often
  // each was fetched: `PUT|GET /__mock/jwks/<name>`, `GET /__mock/jwks/<name>/hits`.
  const jwks = new Map<string, { body: string; hits: number }>();

  function control(req: IncomingMessage, res: ServerResponse, url: string, payload: Buffer): void {
    const u = new URL(url, "http://mock");
    let body: unknown = { ok: true };
    const jwksMatch = /^\/__mock\/jwks\/([\w-]+)(\/hits)?$/.exec(u.pathname);
    if (jwksMatch && req.method === "PUT") {
      const name = jwksMatch[1] as string;
      jwks.set(name, { body: payload.toString(), hits: jwks.get(name)?.hits ?? 0 });
      res.writeHead(204).end();
      return;
    }
    if (jwksMatch && req.method === "GET") {
      const entry = jwks.get(jwksMatch[1] as string);
      if (jwksMatch[2]) body = { hits: entry?.hits ?? 0 };
      else if (!entry) {
        res.writeHead(404).end();
        return;
      } else {
        entry.hits += 1;
        res.writeHead(200, { "content-type": "application/json" }).end(entry.body);
        return;
      }
    } else if (u.pathname === "/__mock/requests" && req.method === "GET") {
      const tag = u.searchParams.get("tag");
      const upstream = u.searchParams.get("upstream");
      body = recorded.filter(
        (r) => (tag === null || r.tag === tag) && (upstream === null || r.upstream === upstream),
      );
    } else if (u.pathname === "/__mock/requests" && req.method === "DELETE") {
      recorded = [];
    }
    const text = JSON.stringify(body);
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(text)),
    });
    res.end(text);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${port}`,
    port,
    requests: (tag) => (tag === undefined ? [...recorded] : recorded.filter((r) => r.tag === tag)),
    reset: () => {
      recorded = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// `node test/support/mock-upstream.ts [--port N]`: run it on its own.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const at = process.argv.indexOf("--port");
  const mock = await startMockUpstream({ port: at > 0 ? Number(process.argv[at + 1]) : 0 });
  console.log(`mock upstream listening on ${mock.url} (API base ${mock.url}/v1)`);
  process.on("SIGINT", () => void mock.close().then(() => process.exit(0)));
}
