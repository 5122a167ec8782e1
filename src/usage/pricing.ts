import { isSnapshotOf } from "../lib/model-id";
import type { Usage } from "./event";

/** Rates in US dollars per million tokens. `cachedInput` null: the model has no cached rate. */
export type Rates = {
  input: number;
  cachedInput: number | null;
  output: number;
  /** Prompt tokens written to a cache (Anthropic: 5-minute writes 1.25× input, 1-hour writes 2×). */
  cacheWrite?: number;
  cacheWrite1h?: number;
};

/** A model's price; `longPrompt`: other rates for the whole request once its prompt passes `above` tokens. */
export type ModelPrice = Rates & { longPrompt?: Rates & { above: number } };

/**
 * OpenAI's standard-tier text prices (not Batch, not Flex, not Priority), USD per 1M tokens.
 * Source: https://platform.openai.com/docs/pricing (the "Standard" table and the legacy-model table),
 * recorded 2025-12 and cross-checked 2026-03 against published summaries for gpt-5.4.
 * Audio, image and realtime models are left out on purpose: their text rates differ from the base model's
 * and a prefix match must never give them the base model's price. Update this table when OpenAI changes
 * prices; unknown models cost null, never a guess. Last checked 2026-03-21.
 */

const p = (input: number, cachedInput: number | null, output: number): ModelPrice => ({
  input,
  cachedInput,
  output,
});

/**
 * Anthropic's Claude API prices, USD per 1M tokens: base input, 5-minute and 1-hour cache writes (1.25× and
 * 2× input), cache hits (0.1× input), output. Source: https://platform.claude.com/docs/en/about-claude/pricing
 * ("Model pricing"), recorded 2026-11-28. Dated ids (`claude-sonnet-4-5-20250929`) take their alias's price.
 * Bedrock and Vertex list their own prices for the same models: not these.
 */
export const ANTHROPIC_PRICES_AS_OF = "2026-11-28";
function ANTHROPIC_PRICES(): Record<string, ModelPrice> {
  const claude = (input: number, output: number): ModelPrice => ({
    input,
    cachedInput: input * 0.1,
    output,
    cacheWrite: input * 1.25,
    cacheWrite1h: input * 2,
  });
  return {
    "claude-opus-5": claude(5, 25),
    "claude-opus-4-8": claude(5, 25),
    "claude-opus-4-7": claude(5, 25),
    "claude-opus-4-6": claude(5, 25),
    "claude-opus-4-5": claude(5, 25),
    "claude-opus-4-1": claude(15, 75),
    "claude-opus-4-0": claude(15, 75),
    "claude-opus-4": claude(15, 75),
    "claude-sonnet-4-6": claude(3, 15),
    "claude-sonnet-4-5": claude(3, 15),
    "claude-sonnet-4-0": claude(3, 15),
    "claude-sonnet-4": claude(3, 15),
    "claude-3-7-sonnet": claude(3, 15),
    "claude-haiku-4-5": claude(1, 5),
    "claude-3-5-haiku": claude(0.8, 4),
    "claude-3-haiku": claude(0.25, 1.25),
  };
}

/**
 * Google's Gemini Developer API prices (paid tier, text/image/video input), USD per 1M tokens; thinking
 * tokens are output. Pro models charge more for every token of a request whose prompt passes 200 000
 * tokens. Source: https://ai.google.dev/gemini-api/docs/pricing, recorded 2026-11-28. Vertex AI lists its
 * own prices.
 */
export const GEMINI_PRICES_AS_OF = "2026-11-28";
function GEMINI_PRICES(): Record<string, ModelPrice> {
  const long = (input: number, cachedInput: number, output: number) => ({
    input,
    cachedInput,
    output,
    above: 200_000,
  });
  return {
    "gemini-3-pro-preview": { ...p(2, 0.2, 12), longPrompt: long(4, 0.4, 18) },
    "gemini-2.5-pro": { ...p(1.25, 0.125, 10), longPrompt: long(2.5, 0.25, 15) },
    "gemini-2.5-flash": p(0.3, 0.03, 2.5),
    "gemini-2.5-flash-lite": p(0.1, 0.01, 0.4),
    "gemini-2.0-flash": p(0.1, 0.025, 0.4),
    "gemini-2.0-flash-lite": p(0.075, null, 0.3),
    "gemini-embedding-001": p(0.15, null, 0),
  };
}

export const PRICES: Readonly<Record<string, ModelPrice>> = {
  // GPT-5 family
  "gpt-5.4": p(2.5, null, 15),
  "gpt-5.2": p(1.75, 0.175, 14),
  "gpt-5.2-pro": p(21, null, 168),
  "gpt-5.1": p(1.25, 0.125, 10),
  "gpt-5.1-chat-latest": p(1.25, 0.125, 10),
  "gpt-5.1-codex": p(1.25, 0.125, 10),
  "gpt-5.1-codex-mini": p(0.25, 0.025, 2),
  "gpt-5": p(1.25, 0.125, 10),
  "gpt-5-chat-latest": p(1.25, 0.125, 10),
  "gpt-5-codex": p(1.25, 0.125, 10),
  "gpt-5-mini": p(0.25, 0.025, 2),
  "gpt-5-nano": p(0.05, 0.005, 0.4),
  "gpt-5-pro": p(15, null, 120),
  // GPT-4.1 family
  "gpt-4.1": p(2, 0.5, 8),
  "gpt-4.1-mini": p(0.4, 0.1, 1.6),
  "gpt-4.1-nano": p(0.1, 0.025, 0.4),
  "gpt-4.5-preview": p(75, 37.5, 150),
  // GPT-4o family (the first gpt-4o snapshot kept its launch price)
  "gpt-4o": p(2.5, 1.25, 10),
  "gpt-4o-2024-05-13": p(5, null, 15),
  "gpt-4o-mini": p(0.15, 0.075, 0.6),
  "chatgpt-4o-latest": p(5, null, 15),
  // The search-preview models are left out: each call also pays a per-search fee this table cannot see
  // (cost budgets would undercount them). Unpriced, they are refused for tokens with a cost budget.
  // o-series (reasoning tokens are billed as output and are part of completion_tokens)
  o1: p(15, 7.5, 60),
  "o1-preview": p(15, 7.5, 60),
  "o1-mini": p(1.1, 0.55, 4.4),
  "o1-pro": p(150, null, 600),
  o3: p(2, 0.5, 8),
  "o3-mini": p(1.1, 0.55, 4.4),
  "o3-pro": p(20, null, 80),
  "o3-deep-research": p(10, 2.5, 40),
  "o4-mini": p(1.1, 0.275, 4.4),
  "o4-mini-deep-research": p(2, 0.5, 8),
  "codex-mini-latest": p(1.5, 0.375, 6),
  // Embeddings (input only)
  "text-embedding-3-small": p(0.02, null, 0),
  "text-embedding-3-large": p(0.13, null, 0),
  "text-embedding-ada-002": p(0.1, null, 0),
  // Legacy GPT-4 / GPT-3.5
  "gpt-4-turbo": p(10, null, 30),
  "gpt-4-turbo-preview": p(10, null, 30),
  "gpt-4-0125-preview": p(10, null, 30),
  "gpt-4-1106-preview": p(10, null, 30),
  "gpt-4-vision-preview": p(10, null, 30),
  "gpt-4": p(30, null, 60),
  "gpt-4-32k": p(60, null, 120),
  "gpt-3.5-turbo": p(0.5, null, 1.5),
  "gpt-3.5-turbo-1106": p(1, null, 2),
  "gpt-3.5-turbo-0613": p(1.5, null, 2),
  "gpt-3.5-turbo-0301": p(1.5, null, 2),
  "gpt-3.5-turbo-16k": p(3, null, 4),
  "gpt-3.5-turbo-16k-0613": p(3, null, 4),
  "gpt-3.5-turbo-instruct": p(1.5, null, 2),
  "davinci-002": p(2, null, 2),
  "babbage-002": p(0.4, null, 0.4),
  ...ANTHROPIC_PRICES(),
  ...GEMINI_PRICES(),
};

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

// ---------------------------------------------------------------------------------------------------------
// Images and audio (issue 10): what the image and audio endpoints cost, so budgets bind them too.
// Source: https://platform.openai.com/docs/pricing ("Image generation", "Audio", "Transcription and
// speech generation"), recorded 2026-11-28 from the published tables; per-image output token counts from
// OpenAI's image generation guide ("Cost and latency"). Models not listed cost null: refused for budgeted
// tokens, never guessed.
// ---------------------------------------------------------------------------------------------------------
export const MEDIA_PRICES_AS_OF = "2026-11-28";

type ImageRate = {
  /** USD per image, by quality then size; "auto" takes the dearest entry (an upper bound). */
  perImage: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /**
   * Token-billed models: USD per 1M tokens, and the output tokens of one image by quality and size (what
   * a token budget reserves). Usage reported by the upstream is then charged at these rates.
   */
  tokens?: { textInput: number; imageInput: number; output: number };
  outputTokens?: Readonly<Record<string, Readonly<Record<string, number>>>>;
};

const GPT_IMAGE_OUTPUT_TOKENS = {
  low: { "1024x1024": 272, "1024x1536": 408, "1536x1024": 400 },
  medium: { "1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568 },
  high: { "1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208 },
};

export const IMAGE_PRICES: Readonly<Record<string, ImageRate>> = {
  "dall-e-2": { perImage: { standard: { "256x256": 0.016, "512x512": 0.018, "1024x1024": 0.02 } } },
  "dall-e-3": {
    perImage: {
      standard: { "1024x1024": 0.04, "1024x1792": 0.08, "1792x1024": 0.08 },
      hd: { "1024x1024": 0.08, "1024x1792": 0.12, "1792x1024": 0.12 },
    },
  },
  "gpt-image-1": {
    perImage: {
      low: { "1024x1024": 0.011, "1024x1536": 0.016, "1536x1024": 0.016 },
      medium: { "1024x1024": 0.042, "1024x1536": 0.063, "1536x1024": 0.063 },
      high: { "1024x1024": 0.167, "1024x1536": 0.25, "1536x1024": 0.25 },
    },
    tokens: { textInput: 5, imageInput: 10, output: 40 },
    outputTokens: GPT_IMAGE_OUTPUT_TOKENS,
  },
  "gpt-image-1-mini": {
    perImage: {
      low: { "1024x1024": 0.005, "1024x1536": 0.006, "1536x1024": 0.006 },
      medium: { "1024x1024": 0.011, "1024x1536": 0.015, "1536x1024": 0.015 },
      high: { "1024x1024": 0.036, "1024x1536": 0.052, "1536x1024": 0.052 },
    },
    tokens: { textInput: 2, imageInput: 2.5, output: 8 },
    outputTokens: GPT_IMAGE_OUTPUT_TOKENS,
  },
};

/** Speech (POST /audio/speech) billed per input character: USD per 1M characters. */
export const SPEECH_PRICES: Readonly<Record<string, number>> = { "tts-1": 15, "tts-1-hd": 30 };

/** Transcription and translation billed per second of audio (whisper-1: $0.006 per minute). */
export const TRANSCRIPTION_PRICES_PER_SECOND: Readonly<Record<string, number>> = { "whisper-1": 0.0001 };

/**
 * Transcription billed by the tokens it reports (`usage.type: "tokens"`): USD per 1M audio input, text input
 * (the prompt) and output tokens, and the model's context window and output ceiling, which bound what one
 * request can use whatever its file (an audio file that does not fit the context window is refused by the
 * model). Source: the model pages (https://platform.openai.com/docs/models/gpt-4o-transcribe, …/gpt-4o-mini-
 * transcribe: 16 000-token context, 2 000 output tokens) and the pricing page, recorded 2026-11-28.
 */
export type TranscriptionTokenRate = {
  audioInput: number;
  textInput: number;
  output: number;
  contextTokens: number;
  maxOutputTokens: number;
};
export const TRANSCRIPTION_TOKEN_PRICES: Readonly<Record<string, TranscriptionTokenRate>> = {
  "gpt-4o-transcribe": {
    audioInput: 6,
    textInput: 2.5,
    output: 10,
    contextTokens: 16_000,
    maxOutputTokens: 2_000,
  },
  "gpt-4o-mini-transcribe": {
    audioInput: 3,
    textInput: 1.25,
    output: 5,
    contextTokens: 16_000,
    maxOutputTokens: 2_000,
  },
};

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
