// OpenAI chat completions ↔ Anthropic Messages, the answer's side: a Claude message, stream or error as the
// OpenAI chat answer the client asked for (the request's side is anthropic-request.ts). Why not Anthropic's
// own OpenAI-compatible endpoint: it ignores response_format, does not report prompt-cache tokens and is
// documented as "not production-ready" (docs/providers.md). Field mapping follows Anthropic's Messages API
// reference and OpenAI's chat API.

import { SseParser } from "../../lib/sse-parser";
import {
  type ChatUsage,
  ChunkWriter,
  completion,
  type Finish,
  isObject,
  type Json,
  num,
  openAiError,
  str,
  type ToolCall,
} from "./chat";

const FINISH: Record<string, Finish> = {
  end_turn: "stop",
  stop_sequence: "stop",
  pause_turn: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
};

const finishOf = (reason: unknown): Finish => FINISH[str(reason) ?? ""] ?? "stop";

/** Anthropic usage in OpenAI's words: prompt = uncached + cache writes + cache reads. */
export function chatUsage(usage: unknown): ChatUsage | null {
  if (!isObject(usage)) return null;
  const input = num(usage.input_tokens) ?? 0;
  const written = num(usage.cache_creation_input_tokens) ?? 0;
  const read = num(usage.cache_read_input_tokens) ?? 0;
  const output = num(usage.output_tokens) ?? 0;
  const prompt = input + written + read;
  return {
    prompt_tokens: prompt,
    completion_tokens: output,
    total_tokens: prompt + output,
    prompt_tokens_details: { cached_tokens: read },
  };
}

/** A complete Anthropic message as a `chat.completion`. */
export function messageToChat(message: Json, requestedModel: string): Json {
  let text = "";
  const calls: ToolCall[] = [];
  for (const block of Array.isArray(message.content) ? message.content : []) {
    if (!isObject(block)) continue;
    if (block.type === "text") text += str(block.text) ?? "";
    else if (block.type === "tool_use")
      calls.push({
        id: str(block.id) ?? "",
        type: "function",
        function: { name: str(block.name) ?? "", arguments: JSON.stringify(block.input ?? {}) },
      });
  }
  return completion(
    `chatcmpl-${str(message.id) ?? crypto.randomUUID()}`,
    str(message.model) ?? requestedModel,
    text || (calls.length ? null : ""),
    calls,
    finishOf(message.stop_reason),
    chatUsage(message.usage),
  );
}

/** Anthropic's error envelope (or anything else) as OpenAI's, same status. */
export function errorToChat(body: unknown, status: number): Json {
  const error = isObject(body) && isObject(body.error) ? body.error : {};
  const type = str(error.type) ?? (status >= 500 ? "api_error" : "invalid_request_error");
  return openAiError(str(error.message) ?? `The upstream answered ${status}.`, type, type);
}

const decoder = () => new TextDecoder();

/** Anthropic's typed stream events as `chat.completion.chunk`s (text, tool calls and their arguments, finish, usage). */
export function streamToChat(
  requestedModel: string,
  includeUsage: boolean,
): TransformStream<Uint8Array, Uint8Array> {
  const parser = new SseParser();
  const text = decoder();
  let out: ChunkWriter;
  let usage: Json = {};
  let finish: Finish = "stop";
  /** Anthropic content block index → OpenAI tool call index. */
  const tools = new Map<number, number>();
  const handle = (data: string | null) => {
    if (data === null || out.ended) return;
    let event: Json;
    try {
      const parsed: unknown = JSON.parse(data);
      if (!isObject(parsed)) return;
      event = parsed;
    } catch {
      return;
    }
    switch (event.type) {
      case "message_start": {
        const message = isObject(event.message) ? event.message : {};
        if (typeof message.id === "string") out.id = `chatcmpl-${message.id}`;
        if (typeof message.model === "string") out.model = message.model;
        if (isObject(message.usage)) usage = { ...message.usage };
        out.chunk({ content: "" });
        break;
      }
      case "content_block_start": {
        const block = isObject(event.content_block) ? event.content_block : {};
        if (block.type === "tool_use") {
          const index = tools.size;
          tools.set(num(event.index) ?? -1, index);
          out.chunk({
            tool_calls: [
              {
                index,
                id: str(block.id),
                type: "function",
                function: { name: str(block.name), arguments: "" },
              },
            ],
          });
        }
        break;
      }
      case "content_block_delta": {
        const delta = isObject(event.delta) ? event.delta : {};
        if (delta.type === "text_delta") out.chunk({ content: str(delta.text) ?? "" });
        else if (delta.type === "input_json_delta") {
          const index = tools.get(num(event.index) ?? -1);
          if (index !== undefined)
            out.chunk({ tool_calls: [{ index, function: { arguments: str(delta.partial_json) ?? "" } }] });
        }
        break;
      }
      case "message_delta": {
        const delta = isObject(event.delta) ? event.delta : {};
        finish = finishOf(delta.stop_reason);
        // message_delta's counts are cumulative: they replace message_start's.
        if (isObject(event.usage))
          for (const [k, v] of Object.entries(event.usage)) if (v !== null) usage[k] = v;
        break;
      }
      case "message_stop":
        out.chunk({}, finish);
        out.end(chatUsage(usage));
        break;
      case "error": {
        const error = isObject(event.error) ? event.error : {};
        const type = str(error.type) ?? "api_error";
        out.error(str(error.message) ?? "The upstream stream failed.", type, type);
        break;
      }
    }
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      out = new ChunkWriter(requestedModel, includeUsage, controller);
    },
    transform(chunk) {
      for (const event of parser.push(text.decode(chunk, { stream: true }))) handle(event.data);
    },
    flush() {
      const tail = text.decode();
      for (const event of tail ? parser.push(tail) : []) handle(event.data);
      handle(parser.finish()?.data ?? null);
    },
  });
}
