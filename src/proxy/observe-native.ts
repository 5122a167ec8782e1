import type { Dialect } from "../providers";
import type { Usage } from "../usage/event";
import { type AnswerObserver, appendText, type Observed, openAiObserver } from "./observe";

// Usage, model, text and errors from Anthropic's and Gemini's own answers, in the event's vocabulary
// (prompt_tokens includes cached and cache-written tokens; completion_tokens includes thinking).

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** Anthropic `usage` (input, cache writes, cache reads, output) as the event's Usage. */
export function anthropicUsage(raw: Json): Usage | null {
  const input = num(raw.input_tokens);
  if (input === undefined) return null;
  const written = num(raw.cache_creation_input_tokens) ?? 0;
  const read = num(raw.cache_read_input_tokens) ?? 0;
  const output = num(raw.output_tokens) ?? 0;
  const prompt = input + written + read;
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: output, total_tokens: prompt + output };
  if (read) usage.cached_tokens = read;
  if (written) usage.cache_creation_tokens = written;
  // The split by cache lifetime, where Anthropic reports it (`usage.cache_creation.ephemeral_1h_input_tokens`).
  const split = isObject(raw.cache_creation) ? num(raw.cache_creation.ephemeral_1h_input_tokens) : undefined;
  if (written && split) usage.cache_creation_1h_tokens = Math.min(split, written);
  return usage;
}

/** Gemini `usageMetadata` as the event's Usage: thinking tokens are billed as output. */
export function geminiUsage(raw: Json): Usage | null {
  const promptCount = num(raw.promptTokenCount);
  if (promptCount === undefined) return null;
  const prompt = promptCount + (num(raw.toolUsePromptTokenCount) ?? 0);
  const thoughts = num(raw.thoughtsTokenCount) ?? 0;
  const completion = (num(raw.candidatesTokenCount) ?? 0) + thoughts;
  const usage: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: num(raw.totalTokenCount) ?? prompt + completion,
  };
  const cached = num(raw.cachedContentTokenCount);
  if (cached) usage.cached_tokens = cached;
  if (thoughts) usage.reasoning_tokens = thoughts;
  return usage;
}

/** Anthropic streams: message_start has the input counts, message_delta the cumulative output. */
export const anthropicObserver: AnswerObserver = {
  streamEvent(seen, data) {
    switch (data.type) {
      case "message_start": {
        const message = isObject(data.message) ? data.message : {};
        if (typeof message.model === "string") seen.model = message.model;
        // The output count here is a placeholder: usage counts only once message_delta brings the real one
        // (a stream cut before it is estimated instead, and says so).
        seen.running = isObject(message.usage) ? { ...message.usage } : {};
        break;
      }
      case "message_delta": {
        const raw = seen.running ?? {};
        if (isObject(data.usage)) for (const [k, v] of Object.entries(data.usage)) if (v !== null) raw[k] = v;
        seen.running = raw;
        seen.usage = anthropicUsage(raw);
        break;
      }
      case "content_block_delta": {
        const delta = isObject(data.delta) ? data.delta : {};
        if (typeof delta.text === "string") appendText(seen, delta.text);
        else if (typeof delta.partial_json === "string") appendText(seen, delta.partial_json);
        break;
      }
      case "error":
        seen.error =
          (isObject(data.error) && typeof data.error.type === "string" && data.error.type) ||
          "upstream_error";
        break;
    }
  },
  jsonBody(seen, body) {
    if (typeof body.model === "string") seen.model = body.model;
    if (body.type === "error") {
      seen.error =
        (isObject(body.error) && typeof body.error.type === "string" && body.error.type) || "upstream_error";
      return;
    }
    if (body.type === "message" && isObject(body.usage)) seen.usage = anthropicUsage(body.usage);
    if (seen.usage) return;
    for (const block of Array.isArray(body.content) ? body.content : [])
      if (isObject(block) && typeof block.text === "string") appendText(seen, block.text);
  },
};

function geminiBody(seen: Observed, body: Json): void {
  if (typeof body.modelVersion === "string") seen.model = body.modelVersion;
  if (isObject(body.error)) {
    seen.error = (typeof body.error.status === "string" && body.error.status) || "upstream_error";
    return;
  }
  if (isObject(body.usageMetadata)) seen.usage = geminiUsage(body.usageMetadata) ?? seen.usage;
  for (const candidate of Array.isArray(body.candidates) ? body.candidates : []) {
    if (!isObject(candidate) || !isObject(candidate.content)) continue;
    for (const part of Array.isArray(candidate.content.parts) ? candidate.content.parts : [])
      if (isObject(part) && part.thought !== true && typeof part.text === "string")
        appendText(seen, part.text);
  }
}

const finished = (body: Json) =>
  Array.isArray(body.candidates) && body.candidates.some((c) => isObject(c) && c.finishReason !== undefined);

export const geminiObserver: AnswerObserver = {
  // Every streamed chunk carries usageMetadata, but only the last one (with finishReason) the final counts:
  // a stream cut before it is estimated instead.
  streamEvent(seen, body) {
    if (finished(body) || isObject(body.error)) geminiBody(seen, body);
    else geminiBody(seen, { candidates: body.candidates, modelVersion: body.modelVersion });
  },
  jsonBody: geminiBody,
};

const OBSERVERS: Record<Dialect, AnswerObserver> = {
  openai: openAiObserver,
  anthropic: anthropicObserver,
  gemini: geminiObserver,
};

/** How to read answers in a provider's dialect. */
export function observerFor(dialect: Dialect): AnswerObserver {
  return OBSERVERS[dialect];
}
