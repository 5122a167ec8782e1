// OpenAI chat completions ↔ Anthropic Messages. Why not Anthropic's own OpenAI-compatible endpoint: it
// ignores response_format, does not report prompt-cache tokens and is documented as "not production-ready"
// (docs/providers.md). Field mapping follows Anthropic's Messages API reference and OpenAI's chat API.

import { SseParser } from "../../lib/sse-parser";
import {
  type ChatUsage,
  ChunkWriter,
  completion,
  dataUrl,
  type Finish,
  isObject,
  type Json,
  maxOutput,
  num,
  openAiError,
  parseArguments,
  stopList,
  str,
  type ToolCall,
  textOf,
  Untranslatable,
} from "./chat";

/** Anthropic requires max_tokens; an OpenAI request may omit it. Same as DEFAULT_RESERVE_OUTPUT_TOKENS. */
export const DEFAULT_MAX_TOKENS = 4096;

type Block = Json;
type Message = { role: "user" | "assistant"; content: Block[] };

function imageBlock(part: Json): Block {
  const image = isObject(part.image_url) ? part.image_url : {};
  const url = str(image.url) ?? str(part.image_url) ?? "";
  const inline = dataUrl(url);
  if (inline)
    return { type: "image", source: { type: "base64", media_type: inline.mediaType, data: inline.data } };
  return { type: "image", source: { type: "url", url } };
}

function userBlocks(content: unknown): Block[] {
  if (typeof content === "string") return [{ type: "text", text: content }];
  if (!Array.isArray(content)) return [];
  const blocks: Block[] = [];
  for (const part of content) {
    if (!isObject(part)) continue;
    if (part.type === "text") blocks.push({ type: "text", text: str(part.text) ?? "" });
    else if (part.type === "image_url") blocks.push(imageBlock(part));
    else if (part.type === "file" && isObject(part.file)) {
      const inline = dataUrl(str(part.file.file_data) ?? "");
      if (inline)
        blocks.push({
          type: "document",
          source: { type: "base64", media_type: inline.mediaType, data: inline.data },
        });
    } else
      throw new Untranslatable(
        `Content parts of type '${String(part.type)}' cannot be sent to Claude.`,
        "messages",
      );
  }
  return blocks;
}

function push(messages: Message[], role: Message["role"], blocks: Block[]): void {
  if (!blocks.length) return;
  const last = messages.at(-1);
  // Anthropic wants user and assistant turns to alternate; tool results of parallel calls share one turn.
  if (last && last.role === role) last.content.push(...blocks);
  else messages.push({ role, content: blocks });
}

function toolChoice(choice: unknown, parallel: unknown): Json | undefined {
  let out: Json | undefined;
  if (choice === "auto") out = { type: "auto" };
  else if (choice === "none") out = { type: "none" };
  else if (choice === "required") out = { type: "any" };
  else if (isObject(choice) && isObject(choice.function))
    out = { type: "tool", name: str(choice.function.name) };
  if (parallel === false) out = { ...(out ?? { type: "auto" }), disable_parallel_tool_use: true };
  return out;
}

/** An OpenAI chat completions request as an Anthropic Messages request. Throws `Untranslatable`. */
export function chatToMessages(json: Json): Json {
  if ((num(json.n) ?? 1) !== 1) throw new Untranslatable("Claude returns one choice: 'n' must be 1.", "n");
  const system: string[] = [];
  const messages: Message[] = [];
  for (const m of Array.isArray(json.messages) ? json.messages : []) {
    if (!isObject(m)) continue;
    const role = m.role;
    if (role === "system" || role === "developer") system.push(textOf(m.content));
    else if (role === "user") push(messages, "user", userBlocks(m.content));
    else if (role === "assistant") {
      const blocks: Block[] = [];
      const text = textOf(m.content);
      if (text) blocks.push({ type: "text", text });
      for (const call of Array.isArray(m.tool_calls) ? m.tool_calls : []) {
        if (!isObject(call) || !isObject(call.function)) continue;
        blocks.push({
          type: "tool_use",
          id: str(call.id),
          name: str(call.function.name),
          input: parseArguments(call.function.arguments),
        });
      }
      push(messages, "assistant", blocks);
    } else if (role === "tool") {
      push(messages, "user", [
        { type: "tool_result", tool_use_id: str(m.tool_call_id), content: textOf(m.content) },
      ]);
    }
  }
  const format = isObject(json.response_format) ? json.response_format : null;
  if (format?.type === "json_object") system.push("Respond with a single JSON object and nothing else.");

  const out: Json = {
    model: json.model,
    max_tokens: maxOutput(json) ?? DEFAULT_MAX_TOKENS,
    messages,
  };
  if (system.length) out.system = system.join("\n\n");
  const stop = stopList(json.stop);
  if (stop?.length) out.stop_sequences = stop;
  // OpenAI's temperature runs 0–2, Anthropic's 0–1.
  const temperature = num(json.temperature);
  if (temperature !== undefined) out.temperature = Math.min(temperature, 1);
  const topP = num(json.top_p);
  if (topP !== undefined) out.top_p = topP;
  if (json.stream === true) out.stream = true;
  if (typeof json.user === "string") out.metadata = { user_id: json.user };
  if (Array.isArray(json.tools) && json.tools.length) {
    out.tools = json.tools.filter(isObject).map((t) => {
      const fn = isObject(t.function) ? t.function : {};
      const tool: Json = {
        name: str(fn.name),
        input_schema: isObject(fn.parameters) ? fn.parameters : { type: "object" },
      };
      if (typeof fn.description === "string") tool.description = fn.description;
      if (fn.strict === true) tool.strict = true;
      return tool;
    });
  }
  const choice = toolChoice(json.tool_choice, json.parallel_tool_calls);
  if (choice && out.tools) out.tool_choice = choice;
  if (format?.type === "json_schema" && isObject(format.json_schema) && isObject(format.json_schema.schema))
    out.output_config = { format: { type: "json_schema", schema: format.json_schema.schema } };
  return out;
}

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
export { Untranslatable } from "./chat";
