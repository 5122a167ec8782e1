import { isObject, type Json } from "../lib/json";
import { utf8Length } from "../limits/reserve";
import type { Usage } from "../usage/event";

// OpenAI's answer vocabulary (chat, legacy completions, embeddings, Responses), read into `Observed`.
// Another wire format (Anthropic's typed events, Gemini's usageMetadata) brings its own `AnswerObserver`
// beside its provider; the response handlers (respond/) only call the observer they are given.
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/**
 * Usage as the upstream reported it, in either vocabulary: chat/completions/embeddings
 * (`prompt_tokens`, `completion_tokens`, `*_details`) or the Responses API (`input_tokens`, `output_tokens`,
 * `input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`).
 */
export function normaliseUsage(raw: unknown): Usage | null {
  if (!isObject(raw)) return null;
  const prompt = num(raw.prompt_tokens) ?? num(raw.input_tokens);
  const completion = num(raw.completion_tokens) ?? num(raw.output_tokens) ?? 0;
  if (prompt === undefined) return null;
  const usage: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: num(raw.total_tokens) ?? prompt + completion,
  };
  const inDetails = raw.prompt_tokens_details ?? raw.input_tokens_details;
  const outDetails = raw.completion_tokens_details ?? raw.output_tokens_details;
  const cached = isObject(inDetails) ? num(inDetails.cached_tokens) : undefined;
  const reasoning = isObject(outDetails) ? num(outDetails.reasoning_tokens) : undefined;
  if (cached !== undefined) usage.cached_tokens = cached;
  if (reasoning !== undefined) usage.reasoning_tokens = reasoning;
  return usage;
}

/** The visible text of a complete (non-streamed) answer: chat message, legacy completion or Responses output. */
export function answerText(body: Json): string {
  let text = "";
  if (Array.isArray(body.choices)) {
    for (const choice of body.choices) {
      if (!isObject(choice)) continue;
      if (typeof choice.text === "string") text += choice.text;
      const message = choice.message;
      if (isObject(message) && typeof message.content === "string") text += message.content;
    }
  }
  if (Array.isArray(body.output)) {
    for (const item of body.output) {
      if (!isObject(item) || !Array.isArray(item.content)) continue;
      for (const part of item.content) if (isObject(part) && typeof part.text === "string") text += part.text;
    }
  }
  return text;
}

/** What the gateway learns from an upstream answer, streamed or not. */
export type Observed = {
  model: string | null;
  usage: Usage | null;
  /** Visible completion text, capped: the input of an estimate when there is no usage. */
  text: string;
  /** UTF-8 bytes of all the visible text seen, uncapped: a bound for settling a budget without usage. */
  textBytes: number;
  /** The upstream's error code when the answer was (or ended in) an error. */
  error: string | null;
  /** Seconds of audio a transcription reported (`usage.seconds` of type duration, or verbose `duration`). */
  audioSeconds?: number;
  /** Counts a dialect accumulates across stream events (Anthropic's usage). */
  running?: Record<string, unknown>;
};

export const TEXT_CAP = 32 * 1024;

export function emptyObserved(): Observed {
  return { model: null, usage: null, text: "", textBytes: 0, error: null };
}

export function appendText(seen: Observed, piece: string): void {
  seen.textBytes += utf8Length(piece);
  if (seen.text.length < TEXT_CAP) seen.text += piece.slice(0, TEXT_CAP - seen.text.length);
}

function errorCode(raw: unknown): string | null {
  if (!isObject(raw)) return null;
  const code = raw.code ?? raw.type;
  return typeof code === "string" ? code : "upstream_error";
}

/** Folds one parsed SSE `data:` object (chat, legacy completion or Responses event) into `seen`. */
export function observeStreamEvent(seen: Observed, data: Json): void {
  if (seen.model === null && typeof data.model === "string") seen.model = data.model;
  const usage = normaliseUsage(data.usage);
  if (usage) seen.usage = usage;
  if (Array.isArray(data.choices)) {
    for (const choice of data.choices) {
      if (!isObject(choice)) continue;
      if (typeof choice.text === "string") appendText(seen, choice.text);
      const delta = choice.delta;
      if (isObject(delta) && typeof delta.content === "string") appendText(seen, delta.content);
    }
  }
  const type = data.type;
  if (typeof type === "string") {
    if (type === "response.output_text.delta" && typeof data.delta === "string") appendText(seen, data.delta);
    const response = data.response;
    if (isObject(response)) {
      if (typeof response.model === "string") seen.model = response.model;
      const responseUsage = normaliseUsage(response.usage);
      if (responseUsage) seen.usage = responseUsage;
      if (type === "response.failed") seen.error = errorCode(response.error) ?? "response_failed";
      if (type === "response.incomplete") seen.error = "response_incomplete";
    }
    if (type === "error") seen.error = errorCode(data.error ?? data) ?? "upstream_error";
  }
  if (data.error !== undefined && type === undefined) seen.error = errorCode(data.error);
}

/** Folds a complete JSON answer into `seen`. */
export function observeJsonBody(seen: Observed, body: Json): void {
  if (typeof body.model === "string") seen.model = body.model;
  seen.usage = normaliseUsage(body.usage);
  const usage = body.usage;
  if (isObject(usage) && usage.type === "duration" && num(usage.seconds) !== undefined)
    seen.audioSeconds = num(usage.seconds);
  else if (num(body.duration) !== undefined && typeof body.text === "string")
    seen.audioSeconds = num(body.duration);
  if (body.error !== undefined) seen.error = errorCode(body.error);
  if (!seen.usage) appendText(seen, answerText(body));
}

/** How the gateway reads one provider's answers into `Observed`. */
export type AnswerObserver = {
  /** Folds one parsed SSE `data:` object into `seen`. */
  streamEvent(seen: Observed, data: Json): void;
  /** Folds a complete JSON answer into `seen`. */
  jsonBody(seen: Observed, body: Json): void;
};

export const openAiObserver: AnswerObserver = { streamEvent: observeStreamEvent, jsonBody: observeJsonBody };

/** True for the usage-only chunk OpenAI sends last when `stream_options.include_usage` is set. */
export function isUsageOnlyChunk(data: Json): boolean {
  return Array.isArray(data.choices) && data.choices.length === 0 && isObject(data.usage);
}
