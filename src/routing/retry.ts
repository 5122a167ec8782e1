/**
 * Upstream statuses retried on another key or target unless an upstream configures its own list. 529 is
 * Anthropic's "overloaded" (its most common transient failure); no other provider sends it.
 */
export const DEFAULT_RETRY_ON: readonly number[] = [429, 500, 502, 503, 504, 529];

export type RetryPolicy = {
  /** Attempts per request, the first included. */
  maxAttempts: number;
  /** No attempt starts (and no wait ends) later than this after the request arrived. */
  budgetMs: number;
  /** Backoff before another attempt on the same upstream: base × 2^(n-1), capped, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
};

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 3,
  budgetMs: 30_000,
  baseDelayMs: 200,
  maxDelayMs: 2_000,
};

/** How one attempt went, as the retry logic needs to know it. */
export type AttemptFailure =
  | { kind: "status"; status: number; retryAfterMs: number | null }
  | { kind: "network" }
  | { kind: "timeout" };

/**
 * What a failed attempt means. `done`: the answer stands (a 400 is never retried, nor any status outside
 * `retryOn`). `key-rest`: the key is rate-limited (429) — it rests while other keys serve. `key-out`: the
 * upstream refused the key (401/403) — it is taken out. `upstream`: the upstream failed (connection,
 * timeout, 5xx in `retryOn`) — it counts towards its circuit breaker.
 */
export type Verdict = "done" | "key-rest" | "key-out" | "upstream";

export function classify(failure: AttemptFailure, retryOn: readonly number[] | null): Verdict {
  if (failure.kind !== "status") return "upstream";
  const { status } = failure;
  if (status === 400) return "done";
  if (status === 401 || status === 403) return "key-out";
  if (!(retryOn ?? DEFAULT_RETRY_ON).includes(status)) return "done";
  return status === 429 ? "key-rest" : "upstream";
}

/** Exponential backoff with "equal jitter": between half and all of base × 2^(n-1), capped. n ≥ 1. */
export function backoffMs(n: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.baseDelayMs * 2 ** Math.max(0, n - 1), policy.maxDelayMs);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The wait an upstream asked for, in ms: `retry-after-ms` (OpenAI), else `retry-after` in seconds or as an
 * HTTP date. null when absent or unreadable.
 */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | null {
  const ms = headers.get("retry-after-ms");
  if (ms !== null && ms.trim() !== "") {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  }
  const value = headers.get("retry-after");
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.ceil(seconds * 1000) : null;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
