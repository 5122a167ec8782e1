import type { TokenWindow } from "../storage/schema";
import { retryAfterSeconds } from "./windows";

/**
 * Token windows (tokens per minute, per hour…) as a sliding log of admitted requests and their tokens:
 * what a request holds when admitted, replaced by what it really used when it settles. A request at `now`
 * holding `need` passes window {tokens: N, window_seconds: W} iff the entries in (now − W, now] plus `need`
 * stay within N. Decided and logged in one synchronous step of the object, so no concurrency overshoots
 * (as long as a request uses no more than it held, which the reservation's upper bound makes true for text).
 */

const SECOND = 1000;

export type TokenEntry = { id: string; at: number; tokens: number };

/** The log as admission reads it: entries ascending by time, and the sum of those in (now − span, now]. */
export type TokenLogView = {
  readonly entries: readonly TokenEntry[];
  used(spanMs: number, now: number): number;
};

export type TokenWindowCheck =
  | { ok: true }
  | { ok: false; window: TokenWindow; retryAfterMs: number | null; used: number };

/** When enough entries have left the window for `need` more tokens, or null if `need` alone is too many. */
function waitFor(log: TokenLogView, w: TokenWindow, need: number, now: number): number | null {
  if (need > w.tokens) return null;
  const span = w.window_seconds * SECOND;
  let excess = log.used(span, now) + need - w.tokens;
  if (excess <= 0) return 0;
  for (const e of log.entries) {
    if (e.at <= now - span) continue;
    excess -= e.tokens;
    if (excess <= 0) return e.at + span - now;
  }
  return 0;
}

export function checkTokenWindows(
  log: TokenLogView,
  windows: readonly TokenWindow[] | null,
  need: number,
  now: number,
): TokenWindowCheck {
  let worst: TokenWindowCheck = { ok: true };
  for (const w of windows ?? []) {
    const used = log.used(w.window_seconds * SECOND, now);
    // A request that holds nothing (no model read) still needs room left, like the budgets.
    if (used + need <= w.tokens && (need > 0 || used < w.tokens)) continue;
    const retryAfterMs = waitFor(log, w, Math.max(need, 1), now);
    if (
      worst.ok ||
      retryAfterMs === null ||
      (worst.retryAfterMs !== null && retryAfterMs > worst.retryAfterMs)
    )
      worst = { ok: false, window: w, retryAfterMs, used };
  }
  return worst;
}

export type TokenWindowState = TokenWindow & { used: number; remaining: number; reset_seconds: number };

export function tokenWindowStates(
  log: TokenLogView,
  windows: readonly TokenWindow[] | null,
  now: number,
): TokenWindowState[] {
  return (windows ?? []).map((w) => {
    const used = log.used(w.window_seconds * SECOND, now);
    const wait = used >= w.tokens ? (waitFor(log, w, 1, now) ?? 0) : 0;
    return { ...w, used, remaining: Math.max(0, w.tokens - used), reset_seconds: Math.ceil(wait / SECOND) };
  });
}

/** The longest window, in ms: entries older than that can never count again. */
export const longestWindowMs = (windows: readonly TokenWindow[] | null): number =>
  Math.max(0, ...(windows ?? []).map((w) => w.window_seconds * SECOND));

/** A full token window's refusal (429). */
export type TokenWindowRefusal = {
  ok: false;
  status: 429;
  code: "quota_exceeded" | "rate_limit_exceeded";
  message: string;
  retryAfterSeconds?: number;
  retryAfterMs?: number;
};

/**
 * A full token window (a token's, or with `who` a project's): retry when enough tokens left it, or never if
 * this request alone is too large.
 */
export function tokenWindowRefusal(
  check: { window: { tokens: number; window_seconds: number }; retryAfterMs: number | null },
  who = "token",
): TokenWindowRefusal {
  const { tokens, window_seconds } = check.window;
  const limit = `${tokens} tokens per ${window_seconds} s`;
  if (check.retryAfterMs === null) {
    return {
      ok: false,
      status: 429,
      code: "quota_exceeded",
      message: `This request may use more than the ${who}'s limit of ${limit} on its own: lower max_tokens to fit.`,
    };
  }
  const seconds = retryAfterSeconds(check.retryAfterMs);
  return {
    ok: false,
    status: 429,
    code: "rate_limit_exceeded",
    message: `The ${who}'s limit of ${limit} is reached; retry in ${seconds} s.`,
    retryAfterSeconds: seconds,
    retryAfterMs: check.retryAfterMs,
  };
}
