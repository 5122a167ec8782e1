import type { Health } from "./health";
import { type AttemptFailure, backoffMs, classify, type RetryPolicy, type Verdict } from "./retry";
import type { KeyConfig, Target, UpstreamConfig } from "./types";

/** One try of a request: where it goes, with which key (null: the upstream takes none). */
export type Attempt = { target: Target; key: KeyConfig | null; n: number };

/** What one attempt came back with: an HTTP answer (any status), or no answer at all. */
export type AttemptResult<R> =
  | { kind: "answer"; value: R; status: number; retryAfterMs: number | null }
  | { kind: "network" }
  | { kind: "timeout" }
  | { kind: "aborted" };

/** Why an attempt that was not the one served failed (event field `attempt_errors`). */
export type AttemptError = {
  upstream: string;
  upstream_id: string;
  key_id: string | null;
  status: number | null;
  error: string;
  ms: number;
};

export type RunResult<R> =
  /** An answer the client gets (success, or an error that was not retried or could not be). */
  | { kind: "answer"; value: R; attempt: Attempt; attempts: number; errors: AttemptError[] }
  /** The last attempt got no answer (connection refused or broken, or no first byte in time). */
  | {
      kind: "failed";
      error: "network" | "timeout";
      attempt: Attempt;
      attempts: number;
      errors: AttemptError[];
    }
  /** The client went away. */
  | { kind: "aborted"; attempts: number; errors: AttemptError[] }
  /** Nothing could be tried: every target's breaker is open or its keys are resting. */
  | { kind: "unavailable"; retryAfterMs: number; attempts: 0; errors: AttemptError[] };

export type RunOptions<R> = {
  targets: readonly Target[];
  health: Health;
  policy: RetryPolicy;
  /** When the request arrived (the retry budget counts from here). */
  started: number;
  /** The request can be sent more than once (its body was read, or it has none). */
  replayable: boolean;
  attempt(a: Attempt): Promise<AttemptResult<R>>;
  /** Frees an answer that will not be used (cancels its body). */
  discard(value: R): void;
  /** Waits before a retry; resolves early (false) when the client left. */
  sleep(ms: number): Promise<boolean>;
  now?: () => number;
  random?: () => number;
  /** The upstream refused a key (401/403): persist it so the admin pages show it as failing. */
  onKeyRejected?(upstream: UpstreamConfig, key: KeyConfig, status: number): void;
  /** This isolate opened an upstream's breaker: share it with the location. */
  onBreakerOpened?(upstream: UpstreamConfig, until: number): void;
};

const failureOf = <R>(r: Exclude<AttemptResult<R>, { kind: "aborted" }>): AttemptFailure =>
  r.kind === "answer" ? { kind: "status", status: r.status, retryAfterMs: r.retryAfterMs } : r;

/**
 * Sends a request to its route's targets until one answers for good: the first target first; a key the
 * upstream rate-limits (429) rests and another key of the same upstream is tried; a key it refuses
 * (401/403) is taken out; an upstream that fails (connection, timeout, a retryable 5xx) counts towards its
 * breaker and the next target is tried, or the same one after a backoff when it is the last. A 400 (and
 * any status outside the upstream's `retry_on`) is the answer. Bounded by the policy's attempts and time.
 * The last retryable answer is kept until another attempt really starts, so when none can, the client
 * gets it unchanged (with its `retry-after`).
 */
export async function runAttempts<R>(o: RunOptions<R>): Promise<RunResult<R>> {
  const now = o.now ?? Date.now;
  const random = o.random ?? Math.random;
  const { targets, health, policy } = o;
  const errors: AttemptError[] = [];
  // Made on a request's first failure only: the warm path (one attempt that succeeds) allocates none.
  let tried: Map<string, Set<string>> | null = null;
  /** Upstreams whose breaker already heard of a failure of this request: one request counts once. */
  let blamed: Set<string> | null = null;
  let attempts = 0;
  let sameUpstream = 0;
  let previous: Attempt | null = null;
  let lastVerdict: Verdict = "done";
  let pending: { value: R; attempt: Attempt } | null = null;
  let lastFailure: { error: "network" | "timeout"; attempt: Attempt } | null = null;
  let soonest = Number.POSITIVE_INFINITY;
  let ti = 0;

  while (ti < targets.length && attempts < policy.maxAttempts) {
    if (attempts > 0 && !o.replayable) break;
    const target = targets[ti]!;
    const { upstream } = target;
    const at = now();
    const key = health.chooseKey(upstream, at, tried?.get(upstream.id) ?? null, random);
    if (key === undefined) {
      soonest = Math.min(soonest, health.nextKeyAt(upstream));
      ti++;
      continue;
    }
    const breaker = health.peekBreaker(upstream.id);
    if (breaker && breaker.admit(at) === "open") {
      soonest = Math.min(soonest, breaker.openUntil);
      ti++;
      continue;
    }
    if (previous) {
      // Another key, or another upstream, is tried at once; the same upstream after it failed, after a backoff.
      const again = previous.target.upstream.id === upstream.id && lastVerdict === "upstream";
      const wait = again ? backoffMs(sameUpstream, policy, random) : 0;
      if (at + wait - o.started > policy.budgetMs) break;
      if (wait > 0 && !(await o.sleep(wait))) {
        if (pending) o.discard(pending.value);
        return { kind: "aborted", attempts, errors };
      }
    }
    sameUpstream = previous?.target.upstream.id === upstream.id ? sameUpstream + 1 : 1;
    if (pending) {
      o.discard(pending.value);
      pending = null;
    }
    lastFailure = null;
    const attempt: Attempt = { target, key, n: ++attempts };
    previous = attempt;
    const started = now();
    const result = await o.attempt(attempt);
    if (result.kind === "aborted") return { kind: "aborted", attempts, errors };
    const ended = now();
    const verdict =
      result.kind === "answer" && result.status < 400
        ? "done"
        : classify(failureOf(result), upstream.retryOn);
    if (verdict === "done") {
      // The upstream answered and the answer stands: it is alive (even a 400 says so).
      health.breaker(upstream.id).success(ended);
      if (key) health.keyOk(key.id);
      if (result.kind !== "answer") throw new Error("unreachable: a non-answer is always retryable");
      return { kind: "answer", value: result.value, attempt, attempts, errors };
    }
    lastVerdict = verdict;
    errors.push({
      upstream: upstream.name,
      upstream_id: upstream.id,
      key_id: key?.id ?? null,
      status: result.kind === "answer" ? result.status : null,
      error:
        result.kind === "answer"
          ? `upstream_${result.status}`
          : result.kind === "timeout"
            ? "upstream_timeout"
            : "upstream_error",
      ms: ended - started,
    });
    if (verdict === "key-rest" || verdict === "key-out") {
      if (key) {
        tried ??= new Map();
        const set = tried.get(upstream.id) ?? new Set<string>();
        tried.set(upstream.id, set);
        set.add(key.id);
        if (verdict === "key-rest") {
          health.rest(key.id, ended, result.kind === "answer" ? result.retryAfterMs : null);
        } else {
          health.out(key.id, ended, key.keyEncrypted);
          if (result.kind === "answer") o.onKeyRejected?.(upstream, key, result.status);
        }
      } else {
        // A keyless upstream that rate-limits or refuses: nothing to rotate, try the next target.
        ti++;
      }
    } else {
      // A request retried on the same upstream is one bad request, not several: the breaker counts failures
      // of distinct requests, so no single request (a poison body, say) can open it.
      blamed ??= new Set();
      if (!blamed.has(upstream.id)) {
        blamed.add(upstream.id);
        const b = health.breaker(upstream.id);
        if (b.failure(ended)) o.onBreakerOpened?.(upstream, b.openUntil);
      }
      if (ti < targets.length - 1) ti++;
    }
    if (result.kind === "answer") pending = { value: result.value, attempt };
    else lastFailure = { error: result.kind, attempt };
  }

  if (pending) {
    // Retryable, but nothing more could be tried: the client gets the upstream's own answer.
    errors.pop();
    return { kind: "answer", value: pending.value, attempt: pending.attempt, attempts, errors };
  }
  if (lastFailure) {
    errors.pop();
    return { kind: "failed", error: lastFailure.error, attempt: lastFailure.attempt, attempts, errors };
  }
  const wait = Number.isFinite(soonest) ? Math.max(0, soonest - now()) : policy.budgetMs;
  return { kind: "unavailable", retryAfterMs: wait, attempts: 0, errors };
}
