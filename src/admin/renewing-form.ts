import type { PeriodBudget, TokenWindow } from "../storage/schema";
import { type Form, num, text } from "./forms";

// Budgets per period and token windows as form fields (views/renewing.tsx) and back: one row per period
// (`<prefix>pb_<period>_requests|tokens|cost`), one token window (`<prefix>tpm_tokens`, `<prefix>tpm_window`),
// the time zone (`<prefix>budget_time_zone`). Empty fields are no limit; what is typed goes to the API's
// schema as typed, so its messages name the field.

export const PERIOD_ROWS = ["hour", "day", "week", "month"] as const;

/** The period budgets of a form, or undefined when none is filled in. */
export function periodBudgetsOf(f: Form, prefix = "") {
  const rows = PERIOD_ROWS.map((period) => {
    const b: Record<string, unknown> = { period };
    const r = num(f, `${prefix}pb_${period}_requests`);
    const t = num(f, `${prefix}pb_${period}_tokens`);
    const c = num(f, `${prefix}pb_${period}_cost`);
    if (r !== undefined) b.max_requests = r;
    if (t !== undefined) b.max_tokens = t;
    if (c !== undefined) b.max_cost_usd = c;
    return Object.keys(b).length > 1 ? b : null;
  }).filter((b) => b !== null);
  return rows.length ? rows : undefined;
}

export function tokenWindowOf(f: Form, prefix = "") {
  const tokens = num(f, `${prefix}tpm_tokens`);
  const window_seconds = num(f, `${prefix}tpm_window`);
  if (tokens === undefined && window_seconds === undefined) return undefined;
  return [{ tokens, window_seconds: window_seconds ?? 60 }];
}

export const timeZoneOf = (f: Form, prefix = "") => text(f, `${prefix}budget_time_zone`);

/** The renewing fields of a create body (absent when empty). */
export function renewingInput(f: Form, prefix = "") {
  return {
    period_budgets: periodBudgetsOf(f, prefix),
    budget_time_zone: timeZoneOf(f, prefix),
    token_rate_limit: tokenWindowOf(f, prefix),
  };
}

/** The same for a PATCH: an emptied field clears (null). */
export function renewingPatch(f: Form, prefix = "") {
  return {
    period_budgets: periodBudgetsOf(f, prefix) ?? null,
    budget_time_zone: timeZoneOf(f, prefix) ?? null,
    token_rate_limit: tokenWindowOf(f, prefix) ?? null,
  };
}

/** Form values of stored renewing limits, the inverse of the above. */
export function renewingValues(
  r: {
    period_budgets?: PeriodBudget[] | null;
    budget_time_zone?: string | null;
    token_rate_limit?: TokenWindow[] | null;
  },
  prefix = "",
): Form {
  const out: Form = {};
  for (const b of r.period_budgets ?? []) {
    if (b.max_requests != null) out[`${prefix}pb_${b.period}_requests`] = String(b.max_requests);
    if (b.max_tokens != null) out[`${prefix}pb_${b.period}_tokens`] = String(b.max_tokens);
    if (b.max_cost_usd != null) out[`${prefix}pb_${b.period}_cost`] = String(b.max_cost_usd);
  }
  if (r.budget_time_zone) out[`${prefix}budget_time_zone`] = r.budget_time_zone;
  const w = r.token_rate_limit?.[0];
  if (w) {
    out[`${prefix}tpm_tokens`] = String(w.tokens);
    out[`${prefix}tpm_window`] = String(w.window_seconds);
  }
  return out;
}
