import type { AnswerObserver } from "../observe";

/** One request on its way to an upstream, already checked and stripped of the client's credential. */
export type UpstreamCall = {
  method: string;
  /** The path below the project's base URL, as the client encoded it, e.g. `/chat/completions`. */
  path: string;
  /** The query string including its `?`, or "". */
  search: string;
  /** The client's headers minus credentials, hop-by-hop and client-IP headers; the provider adds its auth. */
  headers: Headers;
  body: BodyInit | null;
  /** Aborts on client disconnect or upstream timeout. */
  signal: AbortSignal;
};

/** Where a project's requests go: decrypted only on the worker, never logged. */
export type UpstreamTarget = { baseUrl: string; apiKey: string };

/**
 * An upstream API. The hot path calls `send` (from proxy/send.ts) and reads the answer with `observer` (in
 * respond/); what a provider does inside `send` (auth header, URL shape, several keys) is its own business,
 * so Azure OpenAI or Anthropic's native API arrive as new providers without touching the proxy.
 */
export interface Provider {
  /** Honours `stream_options.include_usage` on chat and legacy completions streams. */
  readonly streamUsage: boolean;
  /** Reads model, usage, text and errors from this provider's SSE events and JSON answers. */
  readonly observer: AnswerObserver;
  send(target: UpstreamTarget, call: UpstreamCall): Promise<Response>;
}
