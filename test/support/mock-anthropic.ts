// A mock of Anthropic's Messages API (`/v1/messages`, `/v1/messages/count_tokens`, `/v1/models`), in the
// wire format of Anthropic's API reference: `x-api-key` + `anthropic-version` required, typed SSE events
// (message_start … message_stop), usage with cache-creation and cache-read tokens, the error envelope
// `{"type":"error","error":{type,message}}`. Steered by the same `x-mock-*` headers as the OpenAI mock,
// plus `x-mock-cache-read` / `x-mock-cache-write` (token counts to report).

import { anthropicInputTokens } from "./mock-counts.ts";
import { type Ctx, piece, sendJson } from "./mock-upstream.ts";

type Json = Record<string, unknown>;

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

function anthropicError(ctx: Ctx, status: number, message: string): void {
  const type = ERROR_TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
  const headers: Record<string, string> = { "request-id": "req_mock_anthropic" };
  if (status === 429) headers["retry-after"] = "0";
  sendJson(ctx, status, { type: "error", error: { type, message } }, headers);
}

function usageOf(ctx: Ctx, json: Json, output: number): Json {
  return {
    input_tokens: anthropicInputTokens(json),
    cache_creation_input_tokens: ctx.num("x-mock-cache-write", 0),
    cache_read_input_tokens: ctx.num("x-mock-cache-read", 0),
    output_tokens: output,
  };
}

/** The tool the mock calls: the first one offered, unless tool_choice is none. */
function toolToCall(json: Json): Json | null {
  const tools = Array.isArray(json.tools) ? (json.tools as Json[]) : [];
  const choice = json.tool_choice as Json | undefined;
  if (!tools.length || choice?.type === "none") return null;
  const named = choice?.type === "tool" ? tools.find((t) => t.name === choice.name) : undefined;
  return named ?? tools[0]!;
}

const TOOL_INPUT = { location: "Paris", unit: "celsius" };

async function messages(ctx: Ctx): Promise<void> {
  const json = ctx.json;
  if (
    !json ||
    typeof json.model !== "string" ||
    !Array.isArray(json.messages) ||
    typeof json.max_tokens !== "number"
  )
    return anthropicError(ctx, 400, "model, max_tokens and messages are required");
  const model = json.model;
  const chunks = ctx.num("x-mock-chunks", 3);
  const tool = toolToCall(json);
  const stops = Array.isArray(json.stop_sequences) ? (json.stop_sequences as string[]) : [];
  const stopReason = tool ? "tool_use" : stops.length ? "stop_sequence" : "end_turn";
  const stopSequence = !tool && stops.length ? stops[0]! : null;
  const texts = Array.from({ length: chunks }, (_, i) => piece(i));
  const toolUse = tool ? { type: "tool_use", id: "toolu_mock_1", name: tool.name, input: TOOL_INPUT } : null;
  const output = chunks + (toolUse ? 5 : 0);

  if (json.stream !== true) {
    const content: Json[] = [{ type: "text", text: texts.join("") }];
    if (toolUse) content.push(toolUse);
    sendJson(
      ctx,
      200,
      {
        id: "msg_mock_1",
        type: "message",
        role: "assistant",
        model,
        content,
        stop_reason: stopReason,
        stop_sequence: stopSequence,
        usage: usageOf(ctx, json, output),
      },
      { "request-id": "req_mock_anthropic" },
    );
    return;
  }

  const interval = ctx.num("x-mock-interval-ms", 0);
  const failAfter = ctx.num("x-mock-fail-after", -1);
  const event = (type: string, data: Json) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  ctx.res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "request-id": "req_mock_anthropic",
  });
  ctx.res.flushHeaders();
  const start = usageOf(ctx, json, 1);
  ctx.res.write(
    event("message_start", {
      message: {
        id: "msg_mock_1",
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: start,
      },
    }),
  );
  ctx.res.write(event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }));
  ctx.res.write(event("ping", {}));
  for (let i = 0; i < texts.length; i++) {
    if (i > 0 && interval > 0) await ctx.sleep(interval);
    if (ctx.closed) return;
    if (i === failAfter) {
      ctx.res.end(event("error", { error: { type: "overloaded_error", message: "Overloaded" } }));
      ctx.record.completed = true;
      return;
    }
    ctx.res.write(event("content_block_delta", { index: 0, delta: { type: "text_delta", text: texts[i] } }));
  }
  ctx.res.write(event("content_block_stop", { index: 0 }));
  if (toolUse) {
    ctx.res.write(
      event("content_block_start", {
        index: 1,
        content_block: { type: "tool_use", id: toolUse.id, name: toolUse.name, input: {} },
      }),
    );
    const args = JSON.stringify(TOOL_INPUT);
    for (const part of [args.slice(0, 12), args.slice(12)])
      ctx.res.write(
        event("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: part } }),
      );
    ctx.res.write(event("content_block_stop", { index: 1 }));
  }
  if (interval > 0) await ctx.sleep(interval);
  if (ctx.closed) return;
  ctx.res.write(
    event("message_delta", {
      delta: { stop_reason: stopReason, stop_sequence: stopSequence },
      usage: { output_tokens: output },
    }),
  );
  ctx.res.end(event("message_stop", {}));
  ctx.record.completed = true;
}

export async function anthropicRoute(ctx: Ctx, path: string): Promise<void> {
  if (!ctx.header("x-api-key")) return anthropicError(ctx, 401, "x-api-key header is required");
  if (!ctx.header("anthropic-version"))
    return anthropicError(ctx, 400, "anthropic-version header is required");
  const status = ctx.num("x-mock-status", 0);
  if (status >= 400) return anthropicError(ctx, status, `mock upstream error ${status}`);
  const method = ctx.req.method ?? "GET";
  if (method === "POST" && path === "/v1/messages") return messages(ctx);
  if (method === "POST" && path === "/v1/messages/count_tokens")
    return sendJson(ctx, 200, { input_tokens: anthropicInputTokens(ctx.json ?? {}) });
  if (method === "GET" && path === "/v1/models") {
    const data = ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"].map((id) => ({
      type: "model",
      id,
      display_name: id,
      created_at: "2025-10-01T00:00:00Z",
    }));
    return sendJson(ctx, 200, { data, has_more: false, first_id: data[0]!.id, last_id: data[1]!.id });
  }
  return anthropicError(ctx, 404, `mock has no ${method} ${path}`);
}
