import { z } from "zod";
import type { PeriodBudget, TokenWindow } from "../storage/schema";
import type { Remaining } from "./budget";
import { toUsd } from "./budget";
import type { PeriodUse } from "./period-store";
import { canonicalTimeZone, PERIODS } from "./periods";
import type { TokenWindowState } from "./token-windows";

/** API schemas of the renewing limits (budgets per period, token windows), shared by tokens, projects, users. */

const PeriodBudgetInput = z
  .strictObject({
    period: z.enum(PERIODS),
    max_requests: z.number().int().min(1).max(1_000_000_000).nullable().optional(),
    max_tokens: z.number().int().min(1).nullable().optional(),
    max_cost_usd: z.number().positive().max(1_000_000).nullable().optional(),
  })
  .refine((b) => b.max_requests != null || b.max_tokens != null || b.max_cost_usd != null, {
    message: "a period budget needs max_requests, max_tokens or max_cost_usd",
  });

export const PeriodBudgets = z
  .array(PeriodBudgetInput)
  .min(1)
  .max(PERIODS.length)
  .refine((list) => new Set(list.map((b) => b.period)).size === list.length, "one budget per period")
  .transform((list): PeriodBudget[] => list)
  .describe("Budgets that renew at the start of every hour, day, week (from Monday) or month");

export const TimeZone = z
  .string()
  .max(100)
  .transform((name, ctx) => {
    const canonical = canonicalTimeZone(name);
    if (!canonical) {
      ctx.addIssue({ code: "custom", message: "must be an IANA time zone such as 'Europe/Berlin' or 'UTC'" });
      return z.NEVER;
    }
    return canonical;
  })
  .describe("IANA time zone of the budgets' calendar (default UTC)");

/** Longest token window: the log keeps one entry per request inside it, so longer spans are budgets per period. */
export const MAX_TOKEN_WINDOW_SECONDS = 3_600;

const TokenWindowInput = z.strictObject({
  tokens: z.number().int().min(1).max(1_000_000_000),
  window_seconds: z.number().int().min(1).max(MAX_TOKEN_WINDOW_SECONDS),
});

export const TokenRateLimit = z
  .union([TokenWindowInput, z.array(TokenWindowInput).min(1).max(5)])
  .transform((v): TokenWindow[] => (Array.isArray(v) ? v : [v]))
  .describe("Tokens per window, e.g. {tokens: 40000, window_seconds: 60} for 40k tokens per minute");

/** The renewing limit fields, as tokens, token defaults, projects and end users accept them. */
export const renewingFields = {
  period_budgets: PeriodBudgets.nullable(),
  budget_time_zone: TimeZone.nullable(),
  token_rate_limit: TokenRateLimit.nullable(),
};

const Budget = z.object({
  used: z.number().describe("Settled real usage in this period"),
  reserved: z.number().describe("Held by requests of this period still running"),
  remaining: z.number().nullable(),
});

export const PeriodState = z.object({
  period: z.enum(PERIODS),
  started_at: z.string().describe("Start of the current period"),
  renews_at: z.string().describe("When the budget renews (the next period starts)"),
  requests: z.object({ used: z.number(), remaining: z.number().nullable() }),
  tokens: Budget,
  cost_usd: Budget,
});

export const TokenWindowStateOut = z.object({
  tokens: z.number(),
  window_seconds: z.number(),
  used: z.number().describe("Tokens held or used by requests of the last window_seconds"),
  remaining: z.number(),
  reset_seconds: z.number().describe("Seconds until one more token fits; 0 = now"),
});

export function periodStates(
  periods: (PeriodUse & { remaining: Remaining })[],
): z.infer<typeof PeriodState>[] {
  return periods.map((p) => ({
    period: p.period,
    started_at: new Date(p.start).toISOString(),
    renews_at: new Date(p.end).toISOString(),
    requests: { used: p.requests, remaining: p.remaining.requests },
    tokens: { used: p.tokensUsed, reserved: p.tokensReserved, remaining: p.remaining.tokens },
    cost_usd: {
      used: toUsd(p.costUsedNanos),
      reserved: toUsd(p.costReservedNanos),
      remaining: p.remaining.costUsd,
    },
  }));
}

export const tokenWindowStatesOut = (w: TokenWindowState[]) => w;
