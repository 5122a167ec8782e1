// Loaded only for translated calls (an OpenAI chat completion on a Claude or Gemini upstream): plain OpenAI
// traffic never evaluates this code.

import * as anthropic from "./anthropic";
import type { Json } from "./chat";
import * as gemini from "./gemini";

export { Untranslatable } from "./chat";

/** Turns a provider's native answer to a translated call into the client's OpenAI chat answer. */
export type ResponseAdapter = {
  json(body: Json, requestedModel: string): Json;
  stream(requestedModel: string, includeUsage: boolean): TransformStream<Uint8Array, Uint8Array>;
  error(body: unknown, status: number): Json;
};

const ADAPTERS: Record<"anthropic" | "gemini", ResponseAdapter> = {
  anthropic: { json: anthropic.messageToChat, stream: anthropic.streamToChat, error: anthropic.errorToChat },
  gemini: { json: gemini.geminiToChat, stream: gemini.streamToChat, error: gemini.errorToChat },
};

export function responseAdapter(providerDialect: "anthropic" | "gemini"): ResponseAdapter {
  return ADAPTERS[providerDialect];
}
