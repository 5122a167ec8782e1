import type { UsageEvent } from "./event";
import { type UpstreamRow, upstreamDelta } from "./upstream-rollups";

/**
 * What a batch of events adds to the hourly rollups, summed in the worker: a handful of rows per batch
 * instead of SQL reading every event's JSON line back (see event-ledger.ts, which applies these only when
 * every event of the batch is new, and otherwise sums the ledger rows the attempt inserted, as before).
 * The definitions here are the same as the ledger SQL's; the tests hold both to the same figures.
 */

export const HOUR_MS = 3_600_000;

/** Gateway refusals: the token did not get to use the upstream, so they do not touch `last_used_at`. */
const REFUSALS = [
  "invalid_token",
  "token_not_found",
  "token_expired",
  "token_inactive",
  "project_inactive",
  "model_not_allowed",
  "origin_not_allowed",
  "endpoint_not_found",
  "method_not_allowed",
  "request_too_large",
  "rate_limit_exceeded",
  "quota_exceeded",
  "model_not_found",
];
const REFUSED = new Set(REFUSALS);

/**
 * An error, in the rollups and the events API: status >= 400 or an error code — except `client_closed`
 * (the client left a stream that was going fine: its choice, not a failure).
 */
export const isError = (e: Pick<UsageEvent, "status" | "error">): boolean =>
  e.status >= 400 || (e.error !== null && e.error !== "client_closed");

/** An event with its instant (ms) already read off its timestamp. */
export type Timed = { event: UsageEvent; at: number };

/** Rows for json_each: arrays, so the JSON is short and the SQL reads them by position. */
export type RollupDelta = {
  /**
   * [hour, project_id, token_id ('' = none), model ('' = none), requests, errors, prompt, completion, cached,
   * reasoning, estimated, cost, duration, cache hits, cache misses, saved]
   */
  usage: (string | number)[][];
  /** [hour, code, count] of unidentified requests. */
  rejections: (string | number)[][];
  /** [token_id, latest instant] of requests that used the upstream. */
  lastUsed: (string | number)[][];
  /** Per upstream and key (upstream-rollups.ts). */
  upstream: UpstreamRow[];
  /**
   * False when an event cannot be summed here exactly as SQL would (an instant before 1970, where SQL's
   * integer division rounds the other way): the ledger rows are summed in SQL instead.
   */
  exact: boolean;
};

/**
 * SQLite's sum() of doubles (Kahan–Babuška–Neumaier, since 3.43), so a group summed here matches the same
 * group summed by SQL.
 */
class Sum {
  private sum = 0;
  private err = 0;
  add(r: number): void {
    const s = this.sum;
    const t = s + r;
    this.err += Math.abs(s) > Math.abs(r) ? s - t + r : r - t + s;
    this.sum = t;
  }
  get value(): number {
    return this.sum + this.err;
  }
}

type Group = { row: (string | number)[]; cost: Sum; saved: Sum };

export function rollupDelta(events: readonly Timed[]): RollupDelta {
  const usage = new Map<string, Group>();
  const rejections = new Map<string, (string | number)[]>();
  const lastUsed = new Map<string, number>();
  const hours: { event: UsageEvent; hour: number }[] = [];
  let exact = true;
  for (const { event: e, at } of events) {
    if (!(at >= 0)) exact = false;
    const hour = Math.floor(at / HOUR_MS) * HOUR_MS;
    hours.push({ event: e, hour });
    if (e.project_id !== null) {
      const token = e.token_id ?? "";
      const model = e.model ?? "";
      const key = `${hour}\n${e.project_id}\n${token}\n${model}`;
      let g = usage.get(key);
      if (!g) {
        const row = [hour, e.project_id, token, model, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        g = { row, cost: new Sum(), saved: new Sum() };
        usage.set(key, g);
      }
      const r = g.row as number[];
      r[4]! += 1;
      if (isError(e)) r[5]! += 1;
      const u = e.usage;
      if (u) {
        r[6]! += u.prompt_tokens;
        r[7]! += u.completion_tokens;
        r[8]! += u.cached_tokens ?? 0;
        r[9]! += u.reasoning_tokens ?? 0;
      }
      if (e.usage_source === "estimated") r[10]! += 1;
      g.cost.add(e.cost_usd ?? 0);
      r[12]! += Math.trunc(e.duration_ms);
      if (e.cache === "hit") r[13]! += 1;
      else if (e.cache === "miss") r[14]! += 1;
      g.saved.add(e.saved_usd ?? 0);
    }
    if (e.token_id === null) {
      // A JWT used directly names a project and a user but no token: counted in usage, not a rejection.
      if (e.project_id !== null) continue;
      const code = e.error ?? `http_${e.status}`;
      const key = `${hour}\n${code}`;
      const row = rejections.get(key);
      if (row) (row as number[])[2]! += 1;
      else rejections.set(key, [hour, code, 1]);
    } else if (!REFUSED.has(e.error ?? "")) {
      const prev = lastUsed.get(e.token_id);
      if (prev === undefined || at > prev) lastUsed.set(e.token_id, at);
    }
  }
  return {
    usage: [...usage.values()].map((g) => {
      g.row[11] = g.cost.value;
      g.row[15] = g.saved.value;
      return g.row;
    }),
    rejections: [...rejections.values()],
    lastUsed: [...lastUsed],
    upstream: upstreamDelta(hours),
    exact,
  };
}
