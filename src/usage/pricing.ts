import { isSnapshotOf } from "../lib/model-id";
import type { Usage } from "./event";

/** Prices of a model in US dollars per million tokens. `cachedInput` null: the model has no cached rate. */
export type ModelPrice = { input: number; cachedInput: number | null; output: number };

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
  "gpt-4o-search-preview": p(2.5, null, 10),
  "gpt-4o-mini-search-preview": p(0.15, null, 0.6),
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
};

/**
 * The price of a model, or null when unknown (cost is then null, never a guess). Exact ids first; a dated
 * snapshot takes the price of the longest known id it extends by a date suffix only, so
 * `gpt-4o-mini-2024-07-18` is `gpt-4o-mini` while `gpt-4o-realtime-preview` or `ft:gpt-4o…` stay unknown.
 */
export function modelPrice(model: string | null | undefined): ModelPrice | null {
  if (!model) return null;
  const id = model.trim().toLowerCase();
  const exact = PRICES[id];
  if (exact) return exact;
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
 * input rate if the model has none), completion tokens — reasoning included, as OpenAI counts them — at
 * the output rate. Null when the model's price or the usage is unknown.
 */
export function costUsd(model: string | null | undefined, usage: Usage | null): number | null {
  const price = modelPrice(model);
  if (!price || !usage) return null;
  const cached = Math.min(usage.cached_tokens ?? 0, usage.prompt_tokens);
  const uncached = usage.prompt_tokens - cached;
  const dollars =
    uncached * price.input +
    cached * (price.cachedInput ?? price.input) +
    usage.completion_tokens * price.output;
  return round(dollars / 1e6);
}
