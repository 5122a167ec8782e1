import type { Admitted, Refused } from "./admission";

const usd = (n: number) => Number(n.toFixed(6)).toString();

/**
 * Headers of our own telling the client what it has left after this request, named so they never
 * clobber the upstream's `x-ratelimit-*` headers. Each is sent only when the limit exists; where a
 * token and its project both cap something, the smaller remainder is given.
 *
 * - `x-llm-proxy-requests-remaining`: requests left under max_requests
 * - `x-llm-proxy-tokens-remaining`, `x-llm-proxy-cost-remaining-usd`: budgets left, open reservations
 *   (this request's included) counted as spent
 * - `x-llm-proxy-ratelimit-limit` (`<requests>;w=<seconds>`), `-remaining`, `-reset` (seconds until the
 *   window admits one more): the token's rate window with the least room left
 * - `x-llm-proxy-token-expires`: the token's expiry, ISO 8601
 */
export function allowanceHeaders(admitted: Admitted): Readonly<Record<string, string>> {
  // An admission the isolate reuses (admission-cache.ts: `reusable`) is one object for many requests, so
  // its headers are computed once; every other admission is used once and not worth remembering.
  if (!admitted.reusable) return computeAllowance(admitted);
  let headers = computed.get(admitted);
  if (!headers) {
    // Frozen: every request of the entry gets this one object, so a caller writing into it would leak.
    headers = Object.freeze(computeAllowance(admitted));
    computed.set(admitted, headers);
  }
  return headers;
}

const computed = new WeakMap<Admitted, Readonly<Record<string, string>>>();

function computeAllowance(admitted: Admitted): Record<string, string> {
  const headers: Record<string, string> = {};
  const a = admitted.allowance;
  const requests = a?.requests ?? admitted.remainingRequests;
  if (requests !== null && requests !== undefined)
    headers["x-llm-proxy-requests-remaining"] = String(requests);
  if (!a) return headers;
  if (a.tokens !== null) headers["x-llm-proxy-tokens-remaining"] = String(Math.floor(a.tokens));
  if (a.costUsd !== null) headers["x-llm-proxy-cost-remaining-usd"] = usd(a.costUsd);
  if (a.window) {
    headers["x-llm-proxy-ratelimit-limit"] = `${a.window.requests};w=${a.window.window_seconds}`;
    headers["x-llm-proxy-ratelimit-remaining"] = String(a.window.remaining);
    headers["x-llm-proxy-ratelimit-reset"] = String(a.window.reset_seconds);
  }
  headers["x-llm-proxy-token-expires"] = new Date(a.expiresAt).toISOString();
  return headers;
}

/**
 * Headers for a refusal: `retry-after` (whole seconds, rounded up) and `retry-after-ms` for a full rate
 * window, or a budget per period that renews within a minute — OpenAI SDKs wait that long before their
 * retry. Other quota refusals carry `x-should-retry: false` through the error envelope instead; a budget
 * per period says when it renews in `x-llm-proxy-renews-at` (ISO 8601).
 */
export function refusalHeaders(refused: Refused): Record<string, string> {
  const headers: Record<string, string> = {};
  if (refused.retryAfterSeconds !== undefined) headers["retry-after"] = String(refused.retryAfterSeconds);
  if (refused.retryAfterMs !== undefined) headers["retry-after-ms"] = String(Math.ceil(refused.retryAfterMs));
  if (refused.renewsAt !== undefined)
    headers["x-llm-proxy-renews-at"] = new Date(refused.renewsAt).toISOString();
  return headers;
}
