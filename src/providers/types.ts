import type { ProviderName, ProviderSettings } from "./settings";

export type { ProviderName, ProviderSettings } from "./settings";

/**
 * What a client speaks, decided by the path: `openai` (`/v1/...`), `anthropic` (`/v1/messages`,
 * `/v1/messages/count_tokens`, `GET /v1/models` with `anthropic-version`), `gemini`
 * (`/v1beta/models/{model}:{method}`).
 */
export type Dialect = "openai" | "anthropic" | "gemini";

/** One request on its way to an upstream, already checked and stripped of the client's credential. */
export type UpstreamCall = {
  method: string;
  /** The client's dialect. A provider of another dialect translates (only OpenAI chat completions). */
  dialect: Dialect;
  /**
   * The endpoint in the client's dialect: the path below the dialect's root as the client encoded it
   * (`/chat/completions`, `/messages`, `/models/gemini-2.5-flash:generateContent`).
   */
  path: string;
  /** The query string including its `?`, or "" (a Gemini client's `key` is already removed). */
  search: string;
  /** The client's headers minus credentials, hop-by-hop and client-IP headers; the provider adds its auth. */
  headers: Headers;
  body: BodyInit | null;
  /** The parsed JSON body when the gateway read one (translation and model mapping need it). */
  json: Record<string, unknown> | null;
  /** The model the request names (body, or path for Gemini). */
  model: string | null;
  /** Aborts on client disconnect or upstream timeout. */
  signal: AbortSignal;
};

/** Where one attempt goes: decrypted only on the worker, never logged. */
export type UpstreamTarget = {
  upstreamId: string;
  /** null for an upstream without keys (a local server); `apiKey` is then "". */
  keyId: string | null;
  baseUrl: string;
  apiKey: string;
  /** Per provider, checked by `parseSettings` when stored (src/providers/settings.ts). */
  settings: ProviderSettings | null;
};

/**
 * An upstream API. The hot path only calls `serves` and `send`; what a provider does inside (auth header,
 * URL shape, translating an OpenAI chat request) is its own business. `send` resolves to the upstream's
 * own answer, in the provider's dialect: the proxy observes usage there (exactly as the upstream reported
 * it) and, for a translated call, turns it into the client's dialect with `responseAdapter` (translate/).
 */
export interface Provider {
  readonly name: ProviderName;
  /** The dialect it speaks natively: requests of that dialect pass through (auth swapped). */
  readonly dialect: Dialect;
  /** Honours `stream_options.include_usage` on OpenAI chat and legacy completions streams. */
  readonly streamUsage: boolean;
  /** Whether it can serve a request of `dialect` on `endpoint` (native, or translated from openai). */
  serves(dialect: Dialect, endpoint: string): boolean;
  /** Sends one attempt. */
  send(target: UpstreamTarget, call: UpstreamCall): Promise<Response>;
}
