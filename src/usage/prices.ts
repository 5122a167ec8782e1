// The price tables: what each model and media endpoint costs, each with its source and the date it was
// recorded. Data only, so a price update touches this file alone; the functions that price a request from
// these tables are in pricing.ts.

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

/**
 * OpenAI's standard-tier text prices (not Batch, not Flex, not Priority), USD per 1M tokens.
 * Source: https://platform.openai.com/docs/pricing (the "Standard" table and the legacy-model table),
 * recorded 2025-12 and cross-checked 2026-03 against published summaries for gpt-5.4.
 * Audio, image and realtime models are left out on purpose: their text rates differ from the base model's
 * and a prefix match must never give them the base model's price. Update this table when OpenAI changes
 * prices; unknown models cost null, never a guess. Last checked 2026-03-21.
 */
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

// ---------------------------------------------------------------------------------------------------------
// Images and audio (issue 10): what the image and audio endpoints cost, so budgets bind them too.
// Source: https://platform.openai.com/docs/pricing ("Image generation", "Audio", "Transcription and
// speech generation"), recorded 2026-11-28 from the published tables; per-image output token counts from
// OpenAI's image generation guide ("Cost and latency"). Models not listed cost null: refused for budgeted
// tokens, never guessed.
// ---------------------------------------------------------------------------------------------------------
export const MEDIA_PRICES_AS_OF = "2026-11-28";

export type ImageRate = {
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
