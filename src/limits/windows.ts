import type { RateWindow } from "../storage/schema";

/**
 * Rate windows as a sliding log. A window `{requests: N, window_seconds: W}` means: in every half-open
 * interval (t − W, t] at most N requests are admitted, for every t — not per fixed calendar bucket.
 * The log holds the admission times (ms, ascending) of the most recent admissions; a request at `now`
 * passes window i iff fewer than N_i logged admissions lie in (now − W_i, now], i.e. iff the N_i-th most
 * recent admission is at or before now − W_i. That decision is exact: if some interval of length W held
 * N + 1 admissions, the last of them would have seen N in its own window and been refused.
 *
 * Only the last max(N_i) entries matter, so the log never needs to be longer than that.
 */

const SECOND = 1000;

export type WindowCheck = { ok: true } | { ok: false; window: RateWindow; retryAfterMs: number };

/** How many admission times the log must keep for these windows. */
export function logCapacity(windows: readonly RateWindow[] | null): number {
  if (!windows || windows.length === 0) return 0;
  return Math.max(...windows.map((w) => w.requests));
}

/** The admission time that must leave window `w` before one more request fits, or null if it fits now. */
function blocker(log: readonly number[], w: RateWindow, now: number): number | null {
  const nth = log[log.length - w.requests];
  if (nth === undefined) return null;
  return nth > now - w.window_seconds * SECOND ? nth : null;
}

/**
 * Whether one more request may pass now. When not: the fullest window and the exact wait until the next
 * admission would pass every window (nothing admitted meanwhile only ever makes windows emptier, so the
 * latest of the per-window waits is when all of them pass).
 */
export function checkWindows(
  log: readonly number[],
  windows: readonly RateWindow[] | null,
  now: number,
): WindowCheck {
  let worst: WindowCheck = { ok: true };
  for (const w of windows ?? []) {
    const nth = blocker(log, w, now);
    if (nth === null) continue;
    const retryAfterMs = nth + w.window_seconds * SECOND - now;
    if (worst.ok || retryAfterMs > worst.retryAfterMs) worst = { ok: false, window: w, retryAfterMs };
  }
  return worst;
}

export type WindowState = RateWindow & {
  /** Admissions inside (now − W, now]. */
  used: number;
  remaining: number;
  /** Seconds until the window admits one more request; 0 when it has room now. */
  reset_seconds: number;
};

/** Index of the first entry later than `t` in an ascending log (binary search: windows may be long). */
function firstAfter(log: readonly number[], t: number): number {
  let lo = 0;
  let hi = log.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((log[mid] as number) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The state of every window at `now`, for the management API and the allowance headers. */
export function windowStates(
  log: readonly number[],
  windows: readonly RateWindow[] | null,
  now: number,
): WindowState[] {
  return (windows ?? []).map((w) => {
    const used = Math.min(w.requests, log.length - firstAfter(log, now - w.window_seconds * SECOND));
    const nth = blocker(log, w, now);
    const reset = nth === null ? 0 : Math.ceil((nth + w.window_seconds * SECOND - now) / SECOND);
    return { ...w, used, remaining: Math.max(0, w.requests - used), reset_seconds: reset };
  });
}

/** Retry-After in whole seconds, rounded up so a client that waits exactly that long passes. */
export const retryAfterSeconds = (ms: number): number => Math.max(1, Math.ceil(ms / SECOND));
