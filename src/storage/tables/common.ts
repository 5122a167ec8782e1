import { sql } from "drizzle-orm";

// Shapes shared by several table groups (limits live on projects, tokens and end users alike), and the
// default every `created_at`/`updated_at` column uses.

/** One rate window: at most `requests` requests in any `window_seconds`-long window. */
export type RateWindow = { requests: number; window_seconds: number };
/** One tokens-per-minute style window: at most `tokens` tokens in any `window_seconds`-long window. */
export type TokenWindow = { tokens: number; window_seconds: number };
export type Period = "hour" | "day" | "week" | "month";
/** Budgets that renew at the start of every calendar `period` (in the holder's time zone). */
export type PeriodBudget = {
  period: Period;
  max_requests?: number | null;
  max_tokens?: number | null;
  max_cost_usd?: number | null;
};
export type JsonObject = Record<string, unknown>;

// Timestamps are epoch milliseconds: cheap to compare in the Durable Object and in SQL.
export const now = sql`(cast(unixepoch('subsecond') * 1000 as integer))`;
