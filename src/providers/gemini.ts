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
    const { chatToGemini } = await import("./translate/gemini");
    for (const name of OPENAI_ONLY) call.headers.delete(name);
    const json = call.json ?? {};
    const model = encodeURIComponent((call.model ?? "").replace(/^models\//, ""));
    const method = json.stream === true ? "streamGenerateContent?alt=sse" : "generateContent";
    const body = rewrittenJson(call, chatToGemini(json));
    return upstreamFetch(`${target.baseUrl}/models/${model}:${method}`, call, body);
  },
};
