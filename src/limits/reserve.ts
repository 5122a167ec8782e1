import type { ModelPrice } from "../usage/prices";
import { modelPrice } from "../usage/pricing";
import type { Reserve } from "./meter";

/** The parts of a JSON request body that admission cares about. */
export type ParsedRequest = {
  /** The API path below /v1, e.g. `/chat/completions`. */
  path: string;
  model: string | null;
  /** The parsed JSON body, if the proxy read one. */
  body: Record<string, unknown> | null;
  /**
   * The raw body's length in bytes, when the proxy has it (it read the body to parse it): spares
   * re-serialising a large body on the hot path. Raw JSON is at least as long as the text it carries.
   */
  bodyBytes?: number;
};

export type ReserveOptions = {
  /** Completion tokens to assume when the request declares no maximum (`defaultReserveOutput(env)`). */
  defaultMaxOutputTokens?: number;
  price?: (model: string | null) => ModelPrice | null;
};

const FALLBACK_DEFAULT_OUTPUT = 4096;

/**
 * Endpoints whose responses are billed in tokens and report usage; everything else reserves nothing (the
 * token-counting endpoints of Anthropic and Gemini are free). Gemini's are `/models/{model}:{method}`.
 */
const GENERATES = new Set(["/chat/completions", "/completions", "/responses", "/messages"]);
const GEMINI_GENERATES = /^\/models\/[^/]+:(generateContent|streamGenerateContent)$/;
const EMBEDS = /^\/embeddings$|^\/models\/[^/]+:(embedContent|batchEmbedContents)$/;

/**
 * UTF-8 length of a string without allocating. Byte-level BPE tokenizers (every OpenAI tokenizer) split
 * a text's bytes into tokens of at least one byte each, so a text never has more tokens than bytes.
 */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function positiveInt(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : null;
}

const generationConfig = (body: Record<string, unknown>): Record<string, unknown> =>
  typeof body.generationConfig === "object" && body.generationConfig !== null
    ? (body.generationConfig as Record<string, unknown>)
    : {};

/**
 * The declared output ceiling: chat's max_completion_tokens / max_tokens (Anthropic's max_tokens too), the
 * Responses API's max_output_tokens, or Gemini's generationConfig.maxOutputTokens.
 */
export function declaredMaxOutput(body: Record<string, unknown>): number | null {
  return (
    positiveInt(body.max_completion_tokens) ??
    positiveInt(body.max_tokens) ??
    positiveInt(body.max_output_tokens) ??
    positiveInt(generationConfig(body).maxOutputTokens)
  );
}

/** DEFAULT_RESERVE_OUTPUT_TOKENS, or 4096 when it is unset or not a positive number. */
export function defaultReserveOutput(env: Pick<Env, "DEFAULT_RESERVE_OUTPUT_TOKENS">): number {
  const v = Number(env.DEFAULT_RESERVE_OUTPUT_TOKENS);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : FALLBACK_DEFAULT_OUTPUT;
}

/**
 * What to reserve against budgets before forwarding: the most this request may use, cheaply (no tokenizer on
 * the hot path). Prompt: the UTF-8 length of the whole JSON body — an upper bound of the prompt's tokens for
 * text, since every message's role, content and the chat template's few special tokens are each covered by
 * at least as many bytes of JSON. Output: the declared maximum times the number of choices (`n`), else the
 * configured default (DEFAULT_RESERVE_OUTPUT_TOKENS). Cost: both at the model's price (cached input at the
 * full input price, an upper bound); null when the price is unknown. Undefined for paths that use no tokens.
 */
export function reserveFor(
  request: ParsedRequest,
  options: ReserveOptions = {},
): (Reserve & { tokens: number }) | undefined {
  const path = request.path.replace(/\/+$/, "");
  const embeds = EMBEDS.test(path);
  if (!embeds && !GENERATES.has(path) && !GEMINI_GENERATES.test(path)) return undefined;
  const body = request.body ?? {};
  const prompt = request.bodyBytes ?? (request.body ? utf8Length(JSON.stringify(request.body)) : 0);
  let output = 0;
  if (!embeds) {
    const choices = Math.max(
      positiveInt(body.n) ?? 1,
      positiveInt(body.best_of) ?? 1,
      positiveInt(generationConfig(body).candidateCount) ?? 1,
    );
    output = (declaredMaxOutput(body) ?? options.defaultMaxOutputTokens ?? FALLBACK_DEFAULT_OUTPUT) * choices;
  }
  const rates = ratesFor((options.price ?? modelPrice)(request.model), prompt);
  const costUsd = rates ? (prompt * rates.prompt + output * rates.output) / 1_000_000 : null;
  return { tokens: prompt + output, costUsd, units: { prompt, output } };
}

/**
 * The same reservation for a request whose route may be served by any of `models` (an alias's targets):
 * the cost of the priciest, null when any of them has no known price. Tokens do not depend on the model.
 */
export function repriceFor(
  reserve: Reserve | undefined,
  models: readonly string[],
  price: (model: string | null) => ModelPrice | null = modelPrice,
): Reserve | undefined {
  if (!reserve?.units) return reserve;
  const { prompt, output } = reserve.units;
  let costUsd: number | null = 0;
  for (const model of models) {
    const rates = ratesFor(price(model), prompt);
    if (!rates) {
      costUsd = null;
      break;
    }
    costUsd = Math.max(costUsd, (prompt * rates.prompt + output * rates.output) / 1_000_000);
  }
  return { ...reserve, costUsd };
}

/**
 * The rates (USD per 1M tokens) a reservation holds a prompt of `prompt` tokens and its output at: a price
 * with a long-prompt tier (Gemini Pro) at the higher rate once the prompt may pass it; prompt tokens as if
 * all were cache writes (Anthropic bills those above the input rate, 1-hour ones most).
 */
export function ratesFor(
  price: ModelPrice | null,
  prompt: number,
): { prompt: number; output: number } | null {
  const rates = price?.longPrompt && prompt > price.longPrompt.above ? price.longPrompt : price;
  if (!rates) return null;
  return {
    prompt: Math.max(rates.input, rates.cacheWrite1h ?? 0, rates.cacheWrite ?? 0),
    output: rates.output,
  };
}
