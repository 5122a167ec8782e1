// Browser clients are first-class users of withering tokens. The origin is echoed (never `*` with a
// credential-bearing request in mind) and checked per project by the token's Durable Object, which refuses
// with 403 `origin_not_allowed`; gateway errors carry these headers too so the page can read them.

const EXPOSE = [
  "x-request-id",
  "request-id",
  "x-upstream-request-id",
  "x-should-retry",
  "retry-after",
  "retry-after-ms",
  "openai-processing-ms",
  "openai-version",
  "openai-organization",
  "openai-project",
  "x-ratelimit-limit-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-requests",
  "x-ratelimit-reset-tokens",
  "x-llm-proxy-cache",
  "age",
].join(", ");

const DEFAULT_ALLOW_HEADERS =
  "authorization, api-key, x-api-key, content-type, openai-organization, openai-project, openai-beta, " +
  "x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version, x-stainless-retry-count, " +
  "x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout, cache-control, x-llm-proxy-cache, " +
  // Anthropic's and Google's SDKs in a browser.
  "anthropic-version, anthropic-beta, anthropic-dangerous-direct-browser-access, x-goog-api-key, x-goog-api-client";

/**
 * Adds the CORS headers of a response to a request from `origin` (nothing without an Origin header).
 * `*` exposes everything to non-credentialed requests (what SDKs send); the names cover credentialed ones.
 */
export function addCors(headers: Headers, origin: string | null, extraExposed: string[] = []): void {
  if (!origin) return;
  headers.set("access-control-allow-origin", origin);
  const extra = extraExposed.length ? `, ${extraExposed.join(", ")}` : "";
  headers.set("access-control-expose-headers", `*, ${EXPOSE}${extra}`);
  headers.append("vary", "Origin");
}

/** The answer to a preflight: no auth (browsers send none), the per-project check happens on the real request. */
export function preflight(request: Request, requestId: string): Response {
  const headers = new Headers({
    "access-control-allow-origin": request.headers.get("origin") ?? "*",
    "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
    "access-control-allow-headers":
      request.headers.get("access-control-request-headers") ?? DEFAULT_ALLOW_HEADERS,
    "access-control-max-age": "86400",
    vary: "Origin, Access-Control-Request-Headers",
    "x-request-id": requestId,
  });
  return new Response(null, { status: 204, headers });
}
