import { isObject, type Json } from "../lib/json";
import { DEFAULT_BUDGET_CHARS, TokenCounter } from "./bpe";
import type { Usage } from "./event";

/**
 * Token estimates for requests whose upstream reported no usage (a cut-off stream, a backend that sends
 * none). Only ever called from `finalizeEvent`, which runs in `waitUntil`, itself imported lazily: the rank
 * tables (1–2.3 MB each) are separate modules imported on first use, so the worker's start-up never waits
 * on them; loading and counting breathe every few ms (bpe.ts), so streams served by the same isolate
 * meanwhile are not held up either.
 */

export type EncodingName = "o200k_base" | "cl100k_base";

/**
 * The encoding used to estimate a model's tokens; null when we know nothing of the model (then no estimate,
 * never a guess). Claude and Gemini have tokenizers of their own that no library here implements: their
 * estimates use o200k_base as an approximation (Claude's tokenizer tends to count more), and like every
 * estimate the event says `usage_source: "estimated"`, never `upstream`.
 */
export function encodingFor(model: string | null | undefined): EncodingName | null {
  if (!model) return null;
  const m = model
    .toLowerCase()
    .replace(/^ft:/, "")
    .replace(/^models\//, "");
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss|codex-)/.test(m)) return "o200k_base";
  if (/^(gpt-4|gpt-3\.5|gpt-35|text-embedding-(ada-002|3-))/.test(m)) return "cl100k_base";
  if (/^(claude-|gemini-)/.test(m)) return "o200k_base";
  return null;
}

const encoders = new Map<EncodingName, Promise<TokenCounter>>();

/** The counter for an encoding, loaded once per isolate on first use. */
export function loadEncoder(name: EncodingName): Promise<TokenCounter> {
  let enc = encoders.get(name);
  if (!enc) {
    enc = (async () => {
      const { loadRankFile } = await import("../tokenizer-ranks");
      return TokenCounter.load(await loadRankFile(name));
    })();
    // A failed load (out of memory, say) must not poison every later estimate of the isolate.
    enc.catch(() => encoders.delete(name));
    encoders.set(name, enc);
  }
  return enc;
}

/**
 * What the prompt rules need: a token count per text. The rules below run against a collector that only
 * gathers the texts (returning 0), and the texts are then counted in one cooperative pass (`countAll`).
 */
type Counter = { count(text: string): number };

/** The text of a message's content: a string, or the text parts of an array of content parts. */
function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part) => {
      if (typeof part === "string") return part;
      if (!isObject(part)) return "";
      for (const key of ["text", "input_text", "refusal"])
        if (typeof part[key] === "string") return part[key];
      return "";
    })
    .join("");
}

/**
 * Prompt tokens of a chat request by the OpenAI cookbook's rules ("How to count tokens with tiktoken"):
 * 3 tokens per message, every string field of it encoded (role, content, name), 1 more for a name, and
 * 3 to prime the reply. Tool calls and tool definitions are counted as their JSON text: approximate, but
 * much closer than leaving them out.
 */
export function countChatPrompt(enc: Counter, messages: unknown[]): number {
  let n = 3;
  for (const message of messages) {
    if (!isObject(message)) continue;
    n += 3;
    for (const [key, value] of Object.entries(message)) {
      if (key === "content") n += enc.count(contentText(value));
      else if (typeof value === "string") n += enc.count(value);
      else if (key === "tool_calls" || key === "function_call") n += enc.count(jsonText(value));
      if (key === "name") n += 1;
    }
  }
  return n;
}

/** JSON text of a value for counting; a value too deeply nested to serialise counts as nothing. */
function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "";
  } catch {
    return "";
  }
}

/** Nested arrays deeper than this are not walked: no real input nests further, a hostile one costs nothing. */
const MAX_INPUT_DEPTH = 8;

/** Text-ish inputs of completions (`prompt`), embeddings and Responses (`input`): strings, arrays of them, or items. */
function countInput(enc: Counter, input: unknown, depth = 0): number {
  if (typeof input === "string") return enc.count(input);
  if (!Array.isArray(input) || depth > MAX_INPUT_DEPTH) return 0;
  // Arrays of token ids (completions/embeddings accept them) are already tokens.
  if (input.every((x) => typeof x === "number")) return input.length;
  let n = 0;
  for (const item of input) {
    if (typeof item === "string" || Array.isArray(item)) n += countInput(enc, item, depth + 1);
    else if (isObject(item)) {
      // A Responses input item: a message {role, content} or another item carrying text.
      if ("role" in item || "content" in item) n += countChatPrompt(enc, [item]) - 3;
      else if (typeof item.output === "string") n += enc.count(item.output);
      else if (typeof item.arguments === "string") n += enc.count(item.arguments);
    }
  }
  return n;
}

const trimDot = (s: string) => (s.endsWith(".") ? s.slice(0, -1) : s);
const str = (v: unknown) => (typeof v === "string" ? v : "");

/**
 * Tool definitions of a chat request, by the cookbook's approximation ("counting tokens for chat
 * completions with tool calls"): per function a fixed start plus `name:description`, per property
 * `name:type:description` and its enum values, and a fixed end. Its constants differ by encoding.
 */
export function countTools(enc: Counter, tools: unknown[], o200k: boolean): number {
  if (!tools.length) return 0;
  let n = 0;
  for (const tool of tools) {
    if (!isObject(tool)) continue;
    const fn = isObject(tool.function) ? tool.function : tool;
    n += o200k ? 7 : 10;
    n += enc.count(`${str(fn.name)}:${trimDot(str(fn.description))}`);
    const props =
      isObject(fn.parameters) && isObject(fn.parameters.properties) ? fn.parameters.properties : {};
    const entries = Object.entries(props);
    if (entries.length) n += 3;
    for (const [name, prop] of entries) {
      if (!isObject(prop)) continue;
      n += 3;
      if (Array.isArray(prop.enum)) {
        n -= 3;
        for (const item of prop.enum) n += 3 + enc.count(String(item));
      }
      n += enc.count(`${name}:${str(prop.type)}:${trimDot(str(prop.description))}`);
    }
  }
  return n + 12;
}

/** Gemini `contents` (and `systemInstruction`): the text of every part. */
function countGeminiContents(enc: Counter, request: Json): number {
  let n = 0;
  const contents = [request.systemInstruction, ...(request.contents as unknown[])];
  for (const content of contents) {
    if (!isObject(content) || !Array.isArray(content.parts)) continue;
    n += 3;
    for (const part of content.parts) {
      if (!isObject(part)) continue;
      if (typeof part.text === "string") n += enc.count(part.text);
      else if (part.functionCall !== undefined || part.functionResponse !== undefined)
        n += enc.count(jsonText(part.functionCall ?? part.functionResponse));
    }
  }
  return n;
}

/** Items of one array walked at most (evenly spaced past that, the rest extrapolated): bounds the walk. */
const MAX_ITEMS_WALKED = 1_000;

/** Up to MAX_ITEMS_WALKED evenly spaced items of a list, and the factor that scales their count to the whole. */
function sample(list: unknown[]): { items: unknown[]; scale: number } {
  if (list.length <= MAX_ITEMS_WALKED) return { items: list, scale: 1 };
  const items: unknown[] = [];
  const stride = list.length / MAX_ITEMS_WALKED;
  for (let k = 0; k < MAX_ITEMS_WALKED; k++) items.push(list[Math.floor(k * stride)]);
  return { items, scale: list.length / MAX_ITEMS_WALKED };
}

/** Texts to count, each part with the factor its count is scaled by, plus the rules' fixed tokens. */
type PromptParts = { overhead: number; parts: { scale: number; texts: string[] }[] };

/**
 * The texts a request's prompt consists of, gathered without counting them (they are counted afterwards, in
 * one cooperative pass). Long lists (messages, tools, inputs) are sampled, so a body of a hundred thousand
 * tiny messages costs a thousand.
 */
export function promptParts(request: unknown, o200k = true): PromptParts | null {
  if (!isObject(request)) return null;
  const parts: PromptParts["parts"] = [];
  let overhead = 0;
  const gather = (list: unknown[], rule: (c: Counter, items: unknown[]) => number) => {
    const { items, scale } = sample(list);
    const texts: string[] = [];
    const collect: Counter = {
      count: (text) => {
        texts.push(text);
        return 0;
      },
    };
    overhead += scale * rule(collect, items);
    parts.push({ scale, texts });
  };
  if (Array.isArray(request.contents)) {
    gather([request.systemInstruction, ...request.contents], (c, items) =>
      countGeminiContents(c, { contents: items.slice(1), systemInstruction: items[0] }),
    );
    return { overhead: Math.round(overhead), parts };
  }
  if (Array.isArray(request.messages)) {
    const tools = Array.isArray(request.tools)
      ? request.tools
      : Array.isArray(request.functions)
        ? request.functions
        : [];
    // Anthropic's system prompt is a field of its own (a string or text blocks).
    if (request.system !== undefined) parts.push({ scale: 1, texts: [contentText(request.system)] });
    gather(request.messages, countChatPrompt);
    if (tools.length) gather(tools, (c, items) => countTools(c, items, o200k));
    return { overhead: Math.round(overhead), parts };
  }
  const input = request.prompt !== undefined ? request.prompt : request.input;
  if (input === undefined) return null;
  gather(Array.isArray(input) ? input : [input], (c, items) =>
    Array.isArray(input) ? countInput(c, items) : countInput(c, items[0]),
  );
  if (typeof request.instructions === "string") parts.push({ scale: 1, texts: [request.instructions] });
  return { overhead: Math.round(overhead), parts };
}

/** Estimates a request's usage from its body and the text streamed back; null when there is nothing to go on. */
export async function estimateUsage(
  model: string | null,
  request: unknown,
  completionText: string | undefined,
): Promise<Usage | null> {
  const encoding = encodingFor(model ?? (isObject(request) ? String(request.model ?? "") : null));
  if (!encoding) return null;
  if (request === undefined && !completionText) return null;
  const enc = await loadEncoder(encoding);
  const collected = request === undefined ? null : promptParts(request, encoding === "o200k_base");
  // One character budget for the whole estimate, shared by the prompt's parts and the completion.
  const shares = (collected?.parts.length ?? 0) + (completionText ? 1 : 0);
  const budget = Math.floor(DEFAULT_BUDGET_CHARS / Math.max(1, shares));
  let prompt: number | null = null;
  if (collected) {
    prompt = collected.overhead;
    for (const part of collected.parts)
      prompt += Math.round(part.scale * (await enc.countAll(part.texts, budget)));
  }
  const completion = completionText ? await enc.countAll([completionText], budget) : 0;
  if (prompt === null && !completionText) return null;
  const prompt_tokens = prompt ?? 0;
  return { prompt_tokens, completion_tokens: completion, total_tokens: prompt_tokens + completion };
}
