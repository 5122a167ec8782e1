import { isObject } from "../lib/json";
import type { Dialect } from "../providers";
import {
  imageRate,
  imageWorstCase,
  modelPrice,
  speechPricePerMillionChars,
  transcriptionPricePerSecond,
  transcriptionTokenRate,
} from "../usage/pricing";
import { ratesFor, reserveFor } from "./reserve";

// What a request may cost, decided before it is forwarded, for every endpoint the gateway serves: the
// budgets of a token bind every endpoint that costs money (issue 10). Each request is one of
// - free (nothing to reserve: listings, deletions, uploads, moderations, token counting, cancellations),
// - metered: a reservation in tokens and/or dollars (text generation and embeddings, images, speech,
//   transcription), null in a unit the endpoint cannot be counted in,
// - unbounded: the gateway cannot bound what it may cost (batches, background or stateful Responses,
//   file inputs, hosted tools, an unknown POST), refused for a budgeted token (403 `unpriceable_request`).

export type Reserve = {
  /** Tokens the request may use at most; null when the endpoint is not billed in tokens. */
  tokens: number | null;
  /** Dollars it may cost at most; null when the gateway has no price for it. */
  costUsd: number | null;
  /** Prompt and output tokens apart, so the cost can be priced again for another model (alias targets). */
  units?: { prompt: number; output: number };
};

export type Unbounded = {
  message: string;
  /** The request field that makes it so, for the error's `param`. */
  param: string | null;
  /** Only a cost budget refuses it (a token budget can still count it). */
  costOnly?: boolean;
  /** The models it uses are out of the gateway's sight (a batch's input file): allowed models refuse it too. */
  models?: boolean;
};

export type Meter = {
  /** Absent: the request costs nothing. */
  reserve?: Reserve;
  unbounded?: Unbounded;
  /** A price the request itself fixes (images, speech): charged on a complete answer. */
  fixed?: { totalTokens: number; costUsd: number | null };
  /** Transcription billed per second: the answer's reported duration is charged at this rate. */
  perSecondUsd?: number;
};

export type MeterInput = {
  method: string;
  dialect: Dialect;
  /** The canonical endpoint below the dialect's root, e.g. `/chat/completions`. */
  endpoint: string;
  model: string | null;
  json: Record<string, unknown> | null;
  /** Bytes of the JSON body read, or of the whole multipart body. */
  bodyBytes: number | null;
  /** Text fields of a multipart form. */
  form: Map<string, string[]> | null;
};

export type MeterOptions = {
  defaultMaxOutputTokens: number;
  /** Tokens reserved per image in a prompt (IMAGE_INPUT_RESERVE_TOKENS). */
  imageInputTokens: number;
  /** The lowest audio bitrate assumed when bounding a file's duration (AUDIO_MIN_BYTES_PER_SECOND). */
  audioBytesPerSecond: number;
  /** Largest body the gateway forwards: the bound of a multipart body of unknown length. */
  maxBodyBytes: number;
};

/** POST endpoints that never cost anything (OpenAI, Anthropic and Gemini dialects). */
const FREE_POSTS: readonly RegExp[] = [
  /^\/moderations$/,
  /^\/files$/,
  /^\/uploads(\/.*)?$/,
  /^\/batches\/[^/]+\/cancel$/,
  /^\/responses\/[^/]+\/cancel$/,
  /^\/responses\/input_tokens$/,
  /^\/chat\/completions\/[^/]+$/,
  /^\/conversations(\/.*)?$/,
  /^\/messages\/count_tokens$/,
  /^\/models\/[^/]+:countTokens$/,
];

const TEXT =
  /^\/(chat\/completions|completions|responses|embeddings|messages)$|^\/models\/[^/]+:(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$/;

const unbounded = (message: string, param: string | null, more: Partial<Unbounded> = {}): Meter => ({
  reserve: { tokens: null, costUsd: null },
  unbounded: { message, param, ...more },
});

function positiveInt(v: unknown): number | null {
  const n = typeof v === "string" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.floor(n) : null;
}

const field = (form: Map<string, string[]> | null, name: string): string | undefined => form?.get(name)?.[0];

/** What the request may cost at most, or why that cannot be bounded. */
export function meterFor(req: MeterInput, options: MeterOptions): Meter {
  if (req.method !== "POST") return {};
  const { endpoint } = req;
  if (FREE_POSTS.some((re) => re.test(endpoint))) return {};
  if (TEXT.test(endpoint)) return textMeter(req, options);
  if (endpoint === "/images/generations" || endpoint === "/images/edits" || endpoint === "/images/variations")
    return imageMeter(req);
  if (endpoint === "/audio/speech") return speechMeter(req);
  if (endpoint === "/audio/transcriptions" || endpoint === "/audio/translations")
    return transcriptionMeter(req, options);
  if (endpoint === "/batches")
    return unbounded(
      "A batch's requests (their models and cost) are in its input file, which the gateway does not read.",
      "input_file_id",
      { models: true },
    );
  return unbounded(`The gateway has no price for POST ${endpoint}.`, null);
}

/** Text generation and embeddings: the body's bytes and the declared maximum (reserve.ts), plus what they miss. */
function textMeter(req: MeterInput, options: MeterOptions): Meter {
  const json = req.json ?? {};
  const stateful = statefulInput(json);
  if (stateful) return stateful;
  const found = inputParts(req.dialect, json);
  if (found.file) return unbounded(found.file, "input");
  if (found.tool) return unbounded(found.tool, "tools");
  const tier = json.service_tier;
  if (tier === "priority" || tier === "scale")
    return unbounded(
      `service_tier '${tier}' is priced above the standard tier the budget counts.`,
      "service_tier",
      {
        costOnly: true,
      },
    );
  const reserve = reserveFor(
    { path: req.endpoint, model: req.model, body: req.json, bodyBytes: req.bodyBytes ?? undefined },
    { defaultMaxOutputTokens: options.defaultMaxOutputTokens },
  );
  if (!reserve) return {};
  if (found.images === 0) return { reserve };
  // Each image in the prompt may cost more tokens than its bytes (a URL, or a tiny image at high detail).
  const extra = found.images * options.imageInputTokens;
  const rates = ratesFor(modelPrice(req.model), reserve.tokens + extra);
  return {
    reserve: {
      tokens: reserve.tokens + extra,
      costUsd: reserve.costUsd === null || !rates ? null : reserve.costUsd + (extra * rates.prompt) / 1e6,
      ...(reserve.units ? { units: { ...reserve.units, prompt: reserve.units.prompt + extra } } : {}),
    },
  };
}

/** Responses that run on state the gateway cannot see (earlier responses, conversations, stored prompts). */
function statefulInput(json: Record<string, unknown>): Meter | null {
  if (json.background === true)
    return unbounded(
      "A background response is fetched later and its usage never passes the gateway, so it cannot be settled.",
      "background",
    );
  if (json.previous_response_id !== undefined && json.previous_response_id !== null)
    return unbounded(
      "A response that continues previous_response_id carries context the gateway cannot size.",
      "previous_response_id",
    );
  if (json.conversation !== undefined && json.conversation !== null)
    return unbounded(
      "A response in a stored conversation carries context the gateway cannot size.",
      "conversation",
    );
  if (json.prompt !== undefined && isObject(json.prompt))
    return unbounded("A stored prompt template carries text the gateway cannot size.", "prompt");
  return null;
}

/** Content part types that refer to files (whose tokens — extracted text, page images — have no bound here). */
const FILE_PARTS = new Set(["file", "input_file", "document", "container_upload"]);
const IMAGE_PARTS = new Set(["image_url", "input_image", "image"]);
/** Tool types billed per call or adding content the gateway cannot size; plain functions are fine. */
const PLAIN_TOOLS = new Set(["function", "custom"]);

type Parts = { images: number; file: string | null; tool: string | null };

/** Images, file references and hosted tools in a text request, walking only where they can be. */
function inputParts(dialect: Dialect, json: Record<string, unknown>): Parts {
  const found: Parts = { images: 0, file: null, tool: null };
  const part = (p: unknown) => {
    if (!isObject(p)) return;
    const type = typeof p.type === "string" ? p.type : null;
    if (type && FILE_PARTS.has(type))
      found.file ??= `A '${type}' input's tokens cannot be bounded by the gateway.`;
    else if (type && IMAGE_PARTS.has(type)) found.images++;
    // Gemini: files by URI (uploaded or remote) have no size here. Inline data is in the body's bytes, but a
    // small image may cost more tokens than its bytes (258 per tile): each is reserved as an image.
    if (isObject(p.fileData) || isObject(p.file_data))
      found.file ??= "A fileData part's tokens cannot be bounded by the gateway.";
    if (isObject(p.inlineData) || isObject(p.inline_data)) found.images++;
  };
  const content = (c: unknown) => {
    if (Array.isArray(c)) for (const p of c) part(p);
    else part(c);
  };
  const items = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const item of list) {
      if (!isObject(item)) continue;
      part(item);
      content(item.content);
      if (Array.isArray(item.parts)) content(item.parts);
    }
  };
  items(json.messages);
  items(json.input);
  items(json.contents);
  if (json.system !== undefined) content(json.system);
  if (Array.isArray(json.tools)) {
    for (const tool of json.tools) {
      if (!isObject(tool)) continue;
      const type = typeof tool.type === "string" ? tool.type : null;
      const hosted =
        dialect === "gemini"
          ? !Array.isArray(tool.functionDeclarations)
          : type !== null && !PLAIN_TOOLS.has(type) && !(dialect === "anthropic" && type === "custom");
      if (hosted)
        found.tool ??= `The hosted tool '${type ?? Object.keys(tool)[0]}' has fees or content the gateway cannot bound.`;
    }
  }
  if (json.web_search_options !== undefined)
    found.tool ??= "web_search_options adds search fees and content the gateway cannot bound.";
  return found;
}

/** Images: a price per image by model, quality and size, times `n` (plus output tokens for token-billed models). */
function imageMeter(req: MeterInput): Meter {
  const get = (name: string): unknown => (req.json ? req.json[name] : field(req.form, name));
  const rate = imageRate(req.model);
  if (!rate) return { reserve: { tokens: null, costUsd: null } };
  // Edits of a token-billed model also bill the input images' tokens, which the gateway does not measure.
  if (req.endpoint === "/images/edits" && rate.tokens)
    return unbounded("Image edits bill their input images' tokens, which the gateway cannot bound.", "image");
  const worst = imageWorstCase(req.model, get("quality"), get("size"));
  if (!worst) return { reserve: { tokens: null, costUsd: null } };
  const n = positiveInt(get("n")) ?? 1;
  const partial = positiveInt(get("partial_images")) ?? 0;
  if (!rate.tokens) {
    const costUsd = worst.usd * n;
    return { reserve: { tokens: null, costUsd }, fixed: { totalTokens: 0, costUsd } };
  }
  // Token-billed: settled from the usage the answer reports; reserved at the table's worst case.
  const prompt = req.bodyBytes ?? 0;
  const output = ((worst.outputTokens ?? 0) + partial * 100) * n;
  return {
    reserve: {
      tokens: prompt + output,
      costUsd:
        worst.usd * n + (prompt * rate.tokens.imageInput + partial * 100 * n * rate.tokens.output) / 1e6,
    },
  };
}

/** Speech from text: billed per input character (a token budget cannot count it). */
function speechMeter(req: MeterInput): Meter {
  const price = speechPricePerMillionChars(req.model);
  const input = req.json?.input;
  if (price === null || typeof input !== "string") return { reserve: { tokens: null, costUsd: null } };
  // UTF-16 length: at least the number of characters billed.
  const costUsd = (input.length * price) / 1e6;
  return { reserve: { tokens: null, costUsd }, fixed: { totalTokens: 0, costUsd } };
}

/**
 * Transcription billed per second of audio (whisper-1): the file's duration is bounded by its bytes at the
 * lowest bitrate assumed (AUDIO_MIN_BYTES_PER_SECOND); the answer's reported duration settles it. Billed by
 * tokens (gpt-4o-transcribe): the model's context window and output ceiling bound them, at the dearer input
 * rate; the tokens the answer reports settle it.
 */
function transcriptionMeter(req: MeterInput, options: MeterOptions): Meter {
  const tokenRate = transcriptionTokenRate(req.model);
  if (tokenRate) {
    const input = tokenRate.contextTokens;
    const output = tokenRate.maxOutputTokens;
    const inputRate = Math.max(tokenRate.audioInput, tokenRate.textInput);
    return {
      reserve: { tokens: input + output, costUsd: (input * inputRate + output * tokenRate.output) / 1e6 },
    };
  }
  const perSecond = transcriptionPricePerSecond(req.model);
  if (perSecond === null) return { reserve: { tokens: null, costUsd: null } };
  const bytes = req.bodyBytes ?? options.maxBodyBytes;
  const seconds = Math.ceil(bytes / options.audioBytesPerSecond);
  return { reserve: { tokens: null, costUsd: seconds * perSecond }, perSecondUsd: perSecond };
}
