import type { Admitted } from "./admission";

/**
 * Headers of our own telling the client what it has left, named so they never clobber the upstream's
 * `x-ratelimit-*` headers. The limits work extends this with windows and budgets.
 */
export function allowanceHeaders(admitted: Admitted): Record<string, string> {
  const headers: Record<string, string> = {};
  if (admitted.remainingRequests !== null)
    headers["x-llm-proxy-requests-remaining"] = String(admitted.remainingRequests);
  return headers;
}
