import { OPENAI_ONLY, rewrittenJson, upstreamFetch } from "./http";
import type { Dialect, Provider, UpstreamCall, UpstreamTarget } from "./types";

/** The Gemini methods the gateway forwards (`/v1beta/models/{model}:{method}`). */
export const GEMINI_METHODS = [
  "generateContent",
  "streamGenerateContent",
  "countTokens",
  "embedContent",
  // What @google/genai's models.embedContent calls on the Gemini API.
  "batchEmbedContents",
];

/**
 * A Gemini model name as it may stand in the path (`/models/{model}:{method}`): the native dialect's path
 * and a translated call's model are held to it alike, so no name becomes another path upstream.
 */
export const GEMINI_MODEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Where a Gemini request's body names a model besides its path (each must be the path's, Google says):
 * `model` (embedContent), `requests[].model` (batchEmbedContents) and countTokens' inner request, under either
 * of its JSON spellings — Google's parser takes a proto field by its original name too. The check
 * (proxy/inspect.ts) and an alias's rewrite (proxy/route-target.ts) read the same places.
 */
export const GEMINI_INNER_REQUEST_KEYS = ["generateContentRequest", "generate_content_request"] as const;

/** Whether a body's model field names `model`, in either spelling Google takes (`x` or `models/x`). */
export const namesGeminiModel = (value: unknown, model: string): boolean =>
  value === model || value === `models/${model}`;

/** Google's own answer to a malformed model name, in its envelope (the translation maps it to OpenAI's). */
function notAModel(model: string | null): Response {
  const error = {
    code: 400,
    message: `'${model ?? ""}' is not a Gemini model name.`,
    status: "INVALID_ARGUMENT",
  };
  return new Response(JSON.stringify({ error }), {
    status: 400,
    headers: { "content-type": "application/json", "x-should-retry": "false" },
  });
}

/**
 * Google's Generative Language API at `base_url` (`https://generativelanguage.googleapis.com/v1beta`),
 * authenticated with `x-goog-api-key` (never a `key` query parameter: URLs end up in logs). An OpenAI chat
 * completions call is translated (translate/gemini.ts, loaded on first use).
 */
export const gemini: Provider = {
  name: "gemini",
  dialect: "gemini",
  streamUsage: true,
  serves(dialect: Dialect, endpoint: string): boolean {
    if (dialect === "gemini") return GEMINI_METHODS.some((m) => endpoint.endsWith(`:${m}`));
    return dialect === "openai" && endpoint === "/chat/completions";
  },
  async send(target: UpstreamTarget, call: UpstreamCall): Promise<Response> {
    call.headers.set("x-goog-api-key", target.apiKey);
    if (call.dialect === "gemini") return upstreamFetch(target.baseUrl + call.path + call.search, call);
    const model = (call.model ?? "").replace(/^models\//, "");
    // The model becomes a path segment: a name Gemini cannot have (`a/../b`, `a%2F..`) is not sent at all.
    if (!GEMINI_MODEL.test(model)) return notAModel(call.model);
    const { chatToGemini } = await import("./translate/gemini");
    for (const name of OPENAI_ONLY) call.headers.delete(name);
    const json = call.json ?? {};
    const method = json.stream === true ? "streamGenerateContent?alt=sse" : "generateContent";
    const body = rewrittenJson(call, chatToGemini(json));
    return upstreamFetch(`${target.baseUrl}/models/${model}:${method}`, call, body);
  },
};
