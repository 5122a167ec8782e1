import type { PeriodBudget } from "../storage/schema";
import { type Amount, type Limits, limitRefusal, type Remaining, remaining, toNanos } from "./budget";
import type { PeriodUse } from "./period-store";

/** A renewal this close is worth waiting for: the refusal carries `retry-after` and may be retried. */
export const SOON_MS = 60_000;

const ADJECTIVE = { hour: "Hourly", day: "Daily", week: "Weekly", month: "Monthly" } as const;

export const periodLimits = (b: PeriodBudget): Limits => ({
  maxRequests: b.max_requests ?? null,
  maxTotalTokens: b.max_tokens ?? null,
  maxCostUsd: b.max_cost_usd ?? null,
});

/** A budget with a token or cost limit: requests of its holder need a hold settled with real usage. */
export const periodNeedsHold = (budgets: readonly PeriodBudget[] | null): boolean =>
  (budgets ?? []).some((b) => (b.max_tokens ?? null) !== null || (b.max_cost_usd ?? null) !== null);

export type PeriodRefusal = {
  code: "quota_exceeded";
  message: string;
  /** When the period renews (epoch ms). */
  renewsAt: number;
  /** Set when the renewal is soon and this request would fit a fresh period. */
  retryAfterMs?: number;
};

function human(ms: number): string {
  const minutes = Math.ceil(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} days`;
}

/** Whether this request alone is larger than a budget: no renewal will ever admit it. */
function neverFits(limits: Limits, hold: Amount | null): boolean {
  if (!hold) return false;
  if (limits.maxTotalTokens !== null && hold.tokens > limits.maxTotalTokens) return true;
  return limits.maxCostUsd !== null && hold.costNanos > toNanos(limits.maxCostUsd);
}

/**
 * Whether one more request reserving `hold` fits every period budget, given the current periods' ledgers
 * (same order as the budgets). The same exact rule as the lifetime budgets, per period.
 */
export function periodRefusal(
  budgets: readonly PeriodBudget[] | null,
  uses: readonly PeriodUse[],
  hold: Amount | null,
  who: string,
  now: number,
): PeriodRefusal | null {
  if (!budgets) return null;
  for (let i = 0; i < budgets.length; i++) {
    const b = budgets[i] as PeriodBudget;
    const use = uses[i];
    if (!use) continue;
    const limits = periodLimits(b);
    const refusal = limitRefusal(limits, use, hold, who);
    if (!refusal) continue;
    const wait = use.end - now;
    const never = neverFits(limits, hold);
    const when = never
      ? "This request is larger than the whole budget: lower max_tokens to fit."
      : `It renews at ${new Date(use.end).toISOString()} (in ${human(wait)}).`;
    return {
      code: "quota_exceeded",
      message: `${ADJECTIVE[b.period]} budget: ${refusal.message} ${when}`,
      renewsAt: use.end,
      ...(!never && wait <= SOON_MS ? { retryAfterMs: Math.max(0, wait) } : {}),
    };
  }
  return null;
}

/** What is left in every current period, for headers and the management API. */
export function periodRemaining(
  budgets: readonly PeriodBudget[] | null,
  uses: readonly PeriodUse[],
): Remaining[] {
  return (budgets ?? []).map((b, i) => {
    const use = uses[i];
    return use ? remaining(periodLimits(b), use) : { requests: null, tokens: null, costUsd: null };
  });
}
