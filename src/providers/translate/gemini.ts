// OpenAI chat completions ↔ Gemini generateContent. Why not Google's OpenAI-compatible endpoint
// (`/v1beta/openai/`): it is a beta layer of its own, its usage omits cached and thinking tokens the
// native `usageMetadata` reports (the price depends on them), and one translation seam serves Gemini, Claude
// and later Vertex alike (docs/providers.md). Field mapping follows the Gemini API reference.

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
} from "./chat";

type Content = { role: "user" | "model"; parts: Json[] };

function imagePart(part: Json): Json {
  const image = isObject(part.image_url) ? part.image_url : {};
  const url = str(image.url) ?? str(part.image_url) ?? "";
  const inline = dataUrl(url);
  if (inline) return { inlineData: { mimeType: inline.mediaType, data: inline.data } };
  return { fileData: { fileUri: url } };
}

function userParts(content: unknown): Json[] {
  if (typeof content === "string") return [{ text: content }];
  if (!Array.isArray(content)) return [];
  const parts: Json[] = [];
  for (const part of content) {
    if (!isObject(part)) continue;
    if (part.type === "text") parts.push({ text: str(part.text) ?? "" });
    else if (part.type === "image_url") parts.push(imagePart(part));
    else if (part.type === "input_audio" && isObject(part.input_audio)) {
      const format = str(part.input_audio.format) ?? "wav";
      parts.push({ inlineData: { mimeType: `audio/${format}`, data: str(part.input_audio.data) ?? "" } });
    }
  }
  return parts;
}

function push(contents: Content[], role: Content["role"], parts: Json[]): void {
  if (!parts.length) return;
  const last = contents.at(-1);
  if (last && last.role === role) last.parts.push(...parts);
  else contents.push({ role, parts });
}

function toolConfig(choice: unknown): Json | undefined {
  if (choice === "auto") return { functionCallingConfig: { mode: "AUTO" } };
  if (choice === "none") return { functionCallingConfig: { mode: "NONE" } };
  if (choice === "required") return { functionCallingConfig: { mode: "ANY" } };
  if (isObject(choice) && isObject(choice.function))
    return { functionCallingConfig: { mode: "ANY", allowedFunctionNames: [str(choice.function.name)] } };
  return undefined;
}

/** An OpenAI chat completions request as a Gemini `generateContent` body (the model goes in the URL). */
export function chatToGemini(json: Json): Json {
  const system: string[] = [];
  const contents: Content[] = [];
  /** Tool call id → function name: a Gemini functionResponse names its function. */
  const names = new Map<string, string>();
  for (const m of Array.isArray(json.messages) ? json.messages : []) {
    if (!isObject(m)) continue;
    if (m.role === "system" || m.role === "developer") system.push(textOf(m.content));
    else if (m.role === "user") push(contents, "user", userParts(m.content));
    else if (m.role === "assistant") {
      const parts: Json[] = [];
      const text = textOf(m.content);
      if (text) parts.push({ text });
      for (const call of Array.isArray(m.tool_calls) ? m.tool_calls : []) {
        if (!isObject(call) || !isObject(call.function)) continue;
        const name = str(call.function.name) ?? "";
        if (typeof call.id === "string") names.set(call.id, name);
        const functionCall: Json = { name, args: parseArguments(call.function.arguments) };
        if (typeof call.id === "string") functionCall.id = call.id;
        parts.push({ functionCall });
      }
      push(contents, "model", parts);
    } else if (m.role === "tool") {
      const id = str(m.tool_call_id) ?? "";
      const text = textOf(m.content);
      let response: Json;
      try {
        const parsed: unknown = JSON.parse(text);
        response = isObject(parsed) ? parsed : { content: parsed };
      } catch {
        response = { content: text };
      }
      push(contents, "user", [{ functionResponse: { id, name: names.get(id) ?? "", response } }]);
    }
  }
  const config: Json = {};
  const max = maxOutput(json);
  if (max !== undefined) config.maxOutputTokens = max;
  const stop = stopList(json.stop);
  if (stop?.length) config.stopSequences = stop;
  for (const [from, to] of [
    ["temperature", "temperature"],
    ["top_p", "topP"],
    ["n", "candidateCount"],
    ["seed", "seed"],
    ["presence_penalty", "presencePenalty"],
    ["frequency_penalty", "frequencyPenalty"],
  ] as const) {
    const value = num(json[from]);
    if (value !== undefined) config[to] = value;
  }
  const format = isObject(json.response_format) ? json.response_format : null;
  if (format?.type === "json_object" || format?.type === "json_schema")
    config.responseMimeType = "application/json";
  if (format?.type === "json_schema" && isObject(format.json_schema) && isObject(format.json_schema.schema))
    config.responseJsonSchema = format.json_schema.schema;

  const out: Json = { contents };
  if (system.length) out.systemInstruction = { parts: [{ text: system.join("\n\n") }] };
  if (Object.keys(config).length) out.generationConfig = config;
  if (Array.isArray(json.tools) && json.tools.length) {
    const functionDeclarations = json.tools.filter(isObject).map((t) => {
      const fn = isObject(t.function) ? t.function : {};
      const declaration: Json = { name: str(fn.name) };
      if (typeof fn.description === "string") declaration.description = fn.description;
      // JSON Schema as OpenAI tools carry it (additionalProperties and all): parametersJsonSchema, not the
      // OpenAPI-subset `parameters`.
      if (isObject(fn.parameters)) declaration.parametersJsonSchema = fn.parameters;
      return declaration;
    });
    out.tools = [{ functionDeclarations }];
    const tc = toolConfig(json.tool_choice);
    if (tc) out.toolConfig = tc;
  }
  return out;
}

const FILTERED = new Set(["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"]);

function finishOf(reason: unknown, calls: boolean): Finish {
  if (reason === "MAX_TOKENS") return "length";
  if (typeof reason === "string" && FILTERED.has(reason)) return "content_filter";
  return calls ? "tool_calls" : "stop";
}

/** `usageMetadata` in OpenAI's words: thinking tokens are output (billed so) and reported as reasoning. */
export function chatUsage(meta: unknown): ChatUsage | null {
  if (!isObject(meta)) return null;
  const prompt = (num(meta.promptTokenCount) ?? 0) + (num(meta.toolUsePromptTokenCount) ?? 0);
  const thoughts = num(meta.thoughtsTokenCount) ?? 0;
  const completionTokens = (num(meta.candidatesTokenCount) ?? 0) + thoughts;
  const usage: ChatUsage = {
    prompt_tokens: prompt,
    completion_tokens: completionTokens,
    total_tokens: num(meta.totalTokenCount) ?? prompt + completionTokens,
  };
  const cached = num(meta.cachedContentTokenCount);
  if (cached !== undefined) usage.prompt_tokens_details = { cached_tokens: cached };
  if (thoughts) usage.completion_tokens_details = { reasoning_tokens: thoughts };
  return usage;
}

/** The visible text and function calls of a candidate (thought summaries left out). */
function candidateParts(candidate: Json, callIndex: number): { text: string; calls: ToolCall[] } {
  const content = isObject(candidate.content) ? candidate.content : {};
  let text = "";
  const calls: ToolCall[] = [];
  for (const part of Array.isArray(content.parts) ? content.parts : []) {
    if (!isObject(part) || part.thought === true) continue;
    if (typeof part.text === "string") text += part.text;
    if (isObject(part.functionCall)) {
      const fc = part.functionCall;
      calls.push({
        id: str(fc.id) ?? `call_${callIndex + calls.length}`,
        type: "function",
        function: { name: str(fc.name) ?? "", arguments: JSON.stringify(fc.args ?? {}) },
      });
    }
  }
  return { text, calls };
}

/** A complete `GenerateContentResponse` as a `chat.completion` (its first candidate). */
export function geminiToChat(body: Json, requestedModel: string): Json {
  const candidate =
    Array.isArray(body.candidates) && isObject(body.candidates[0]) ? body.candidates[0] : null;
  const { text, calls } = candidate ? candidateParts(candidate, 0) : { text: "", calls: [] };
  const blocked =
    !candidate && isObject(body.promptFeedback) && body.promptFeedback.blockReason !== undefined;
  return completion(
    `chatcmpl-${str(body.responseId) ?? crypto.randomUUID()}`,
    str(body.modelVersion) ?? requestedModel,
    text || (calls.length ? null : ""),
    calls,
    blocked ? "content_filter" : finishOf(candidate?.finishReason, calls.length > 0),
    chatUsage(body.usageMetadata),
  );
}

/** Google's error envelope as OpenAI's, same status. */
export function errorToChat(body: unknown, status: number): Json {
  const error = isObject(body) && isObject(body.error) ? body.error : {};
  const code = str(error.status) ?? null;
  const type = status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
  return openAiError(str(error.message) ?? `The upstream answered ${status}.`, type, code);
}

/** Gemini's `alt=sse` stream (one GenerateContentResponse per event) as `chat.completion.chunk`s. */
export function streamToChat(
  requestedModel: string,
  includeUsage: boolean,
): TransformStream<Uint8Array, Uint8Array> {
  const parser = new SseParser();
  const text = new TextDecoder();
  let out: ChunkWriter;
  let usage: ChatUsage | null = null;
  let finish: Finish | null = null;
  let calls = 0;
  let first = true;
  const handle = (data: string | null) => {
    if (data === null || out.ended) return;
    let body: Json;
    try {
      const parsed: unknown = JSON.parse(data);
      if (!isObject(parsed)) return;
      body = parsed;
    } catch {
      return;
    }
    if (isObject(body.error)) {
      const { error } = errorToChat(body, num(body.error.code) ?? 500) as { error: Json };
      out.error(str(error.message) ?? "", str(error.type) ?? "server_error", str(error.code) ?? null);
      return;
    }
    if (first) {
      first = false;
      if (typeof body.responseId === "string") out.id = `chatcmpl-${body.responseId}`;
      if (typeof body.modelVersion === "string") out.model = body.modelVersion;
    }
    usage = chatUsage(body.usageMetadata) ?? usage;
    const candidate =
      Array.isArray(body.candidates) && isObject(body.candidates[0]) ? body.candidates[0] : null;
    if (!candidate) {
      if (isObject(body.promptFeedback) && body.promptFeedback.blockReason !== undefined)
        finish = "content_filter";
      return;
    }
    const parts = candidateParts(candidate, calls);
    if (parts.text) out.chunk({ content: parts.text });
    if (parts.calls.length) {
      out.chunk({ tool_calls: parts.calls.map((call, i) => ({ index: calls + i, ...call })) });
      calls += parts.calls.length;
    }
    if (candidate.finishReason !== undefined) finish = finishOf(candidate.finishReason, calls > 0);
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
      if (out.ended) return;
      // Gemini streams have no end marker of their own: the body's end is the answer's end.
      if (finish) {
        out.chunk({}, finish);
        out.end(usage);
      }
    },
  });
}
