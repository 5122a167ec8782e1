// What a request costs, from the price tables (prices.ts): a model's price found by id or dated snapshot,
// a text request's cost from its usage, and the media endpoints' rates, token costs and worst cases.
import { isSnapshotOf } from "../lib/model-id";
import type { Usage } from "./event";
import {
  IMAGE_PRICES,
  type ImageRate,
  type ModelPrice,
  PRICES,
  SPEECH_PRICES,
  TRANSCRIPTION_PRICES_PER_SECOND,
  TRANSCRIPTION_TOKEN_PRICES,
  type TranscriptionTokenRate,
} from "./prices";

/**
 * The price of a model, or null when unknown (cost is then null, never a guess). Exact ids first; a dated
 * snapshot takes the price of the longest known id it extends by a date suffix only, so
 * `gpt-4o-mini-2024-07-18` is `gpt-4o-mini` while `gpt-4o-realtime-preview` or `ft:gpt-4o…` stay unknown.
 */
export function modelPrice(model: string | null | undefined): ModelPrice | null {
  if (!model) return null;
  // Gemini's API names models `models/gemini-2.5-flash` in some answers.
  const id = model
    .trim()
    .toLowerCase()
    .replace(/^models\//, "");
  // Own keys only: `constructor` or `toString` must not find Object.prototype's members.
  if (Object.hasOwn(PRICES, id)) return PRICES[id]!;
  let best: string | null = null;
  for (const known of Object.keys(PRICES)) {
    if (isSnapshotOf(id, known)) {
      if (best === null || known.length > best.length) best = known;
    }
  }
  return best === null ? null : PRICES[best]!;
}

/** Round to a millionth of a cent, so sums of many events stay readable and stable. */
const round = (usd: number) => Math.round(usd * 1e8) / 1e8;

/**
 * Cost of a request in USD: uncached prompt tokens at the input rate, cached ones at the cached rate (the
 * input rate if the model has none), cache writes at the write rates (Anthropic), completion tokens —
 * reasoning and thinking included, as OpenAI and Google count them — at the output rate; a Gemini Pro
 * request past its long-prompt threshold at the long rates. Null when the model's price or the usage is
 * unknown.
 */
export function costUsd(model: string | null | undefined, usage: Usage | null): number | null {
  const price = modelPrice(model);
  if (!price || !usage) return null;
  const rates = price.longPrompt && usage.prompt_tokens > price.longPrompt.above ? price.longPrompt : price;
  const cached = Math.min(usage.cached_tokens ?? 0, usage.prompt_tokens);
  const written = Math.min(usage.cache_creation_tokens ?? 0, usage.prompt_tokens - cached);
  const written1h = Math.min(usage.cache_creation_1h_tokens ?? 0, written);
  const uncached = usage.prompt_tokens - cached - written;
  const dollars =
    uncached * rates.input +
    cached * (rates.cachedInput ?? rates.input) +
    (written - written1h) * (rates.cacheWrite ?? rates.input) +
    written1h * (rates.cacheWrite1h ?? rates.cacheWrite ?? rates.input) +
    usage.completion_tokens * rates.output;
  return round(dollars / 1e6);
}

const lookup = <T>(table: Readonly<Record<string, T>>, model: string | null | undefined): T | null => {
  if (!model) return null;
  const id = model.trim().toLowerCase();
  if (Object.hasOwn(table, id)) return table[id]!;
  // A dated snapshot of a listed model, as for text models.
  for (const known of Object.keys(table)) {
    if (isSnapshotOf(id, known)) return table[known]!;
  }
  return null;
};

export const imageRate = (model: string | null | undefined): ImageRate | null => lookup(IMAGE_PRICES, model);
export const speechPricePerMillionChars = (model: string | null | undefined): number | null =>
  lookup(SPEECH_PRICES, model);
export const transcriptionPricePerSecond = (model: string | null | undefined): number | null =>
  lookup(TRANSCRIPTION_PRICES_PER_SECOND, model);
export const transcriptionTokenRate = (model: string | null | undefined): TranscriptionTokenRate | null =>
  lookup(TRANSCRIPTION_TOKEN_PRICES, model);

/**
 * Cost of the tokens a token-billed image or transcription model reported, conservatively: every input
 * token at the dearer input rate (image or audio input), since the split is not always reported. Null for
 * any other model.
 */
export function mediaTokenCost(model: string | null | undefined, usage: Usage | null): number | null {
  if (!usage) return null;
  const image = imageRate(model)?.tokens;
  const audio = image ? null : transcriptionTokenRate(model);
  const input = image
    ? Math.max(image.imageInput, image.textInput)
    : audio
      ? Math.max(audio.audioInput, audio.textInput)
      : null;
  const output = image?.output ?? audio?.output;
  if (input === null || output === undefined) return null;
  return round((usage.prompt_tokens * input + usage.completion_tokens * output) / 1e6);
}

/**
 * The most one image of this request may cost and (for token-billed models) the most output tokens it may
 * use: the listed quality and size, or the dearest of the model's when the request says `auto`, leaves them
 * out, or names one the table lacks. null when the model is not priced.
 */
export function imageWorstCase(
  model: string | null | undefined,
  quality: unknown,
  size: unknown,
): { usd: number; outputTokens: number | null } | null {
  const rate = imageRate(model);
  if (!rate) return null;
  const pick = (table: Readonly<Record<string, Readonly<Record<string, number>>>>): number => {
    // Own keys only: a quality or size named `constructor` must not find Object.prototype's members.
    const byQuality =
      typeof quality === "string" && Object.hasOwn(table, quality) ? [table[quality]!] : Object.values(table);
    let worst = 0;
    for (const sizes of byQuality) {
      const one = typeof size === "string" && Object.hasOwn(sizes, size) ? sizes[size] : undefined;
      worst = Math.max(worst, one ?? Math.max(...Object.values(sizes)));
    }
    return worst;
  };
  return { usd: pick(rate.perImage), outputTokens: rate.outputTokens ? pick(rate.outputTokens) : null };
}
