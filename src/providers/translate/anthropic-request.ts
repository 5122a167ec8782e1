// OpenAI chat completions → Anthropic Messages, the request's side: loaded by the Anthropic provider when it
// sends a translated call (providers/anthropic.ts); the answer's side, loaded by the response adapter, is
// anthropic.ts. Field mapping follows Anthropic's Messages API reference and OpenAI's chat API.

import {
  dataUrl,
  isObject,
  type Json,
  maxOutput,
  num,
  parseArguments,
  stopList,
  str,
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
export { Untranslatable } from "./chat";
