import { ApiError } from "../lib/errors";
import type { Ceilings, NewToken, PeriodBudget } from "../storage/schema";
import { modelAllowed } from "../tokens/decide";

/**
 * Ceilings of an issuing key (or of an identity provider's exchanged tokens): a token it creates must be at
 * least as limited. A limit the request leaves out is set to the ceiling; a limit set above it — or set to
 * "no limit" — is refused (403 `ceiling_exceeded`), never silently lowered: the caller learns its key's
 * bounds. Pure, tested without HTTP.
 */

const exceeded = (param: string, message: string) =>
  new ApiError(403, "ceiling_exceeded", message, { param, retryable: false });

/** Whether every model a list admits is admitted by `outer` (null = all models). */
export function modelsWithin(inner: readonly string[] | null, outer: readonly string[] | null): boolean {
  if (outer === null) return true;
  if (inner === null) return false;
  return inner.every((m) => {
    if (m === "*") return outer.includes("*");
    if (m.endsWith("*")) {
      const prefix = m.slice(0, -1);
      return outer.some((o) => o === "*" || (o.endsWith("*") && prefix.startsWith(o.slice(0, -1))));
    }
    return modelAllowed(outer, m);
  });
}

type Field = "maxRequests" | "maxTotalTokens" | "maxCostUsd";
const LIFETIME: [Field, keyof Ceilings & ("max_requests" | "max_tokens" | "max_cost_usd"), string][] = [
  ["maxRequests", "max_requests", "max_requests"],
  ["maxTotalTokens", "max_tokens", "max_tokens"],
  ["maxCostUsd", "max_cost_usd", "max_cost_usd"],
];
const PERIOD_FIELDS = ["max_requests", "max_tokens", "max_cost_usd"] as const;

/** The values a token is about to be created with, as far as ceilings are concerned. */
export type Bounded = Pick<
  NewToken,
  | "expiresAt"
  | "maxRequests"
  | "maxTotalTokens"
  | "maxCostUsd"
  | "allowedModels"
  | "periodBudgets"
  | "canMint"
>;

/**
 * Checks (and fills in) a token's limits against ceilings. `explicit` names the fields the request set
 * itself: those are refused when above the ceiling; the others (left out, or from the project's defaults)
 * are lowered to it.
 */
export function applyCeilings(
  values: Bounded,
  ceilings: Ceilings,
  explicit: ReadonlySet<string>,
  now: number,
): Bounded {
  const out: Bounded = { ...values };
  const maxMinutes = ceilings.max_duration_minutes ?? null;
  if (maxMinutes !== null) {
    const latest = now + maxMinutes * 60_000;
    if ((out.expiresAt as number) > latest + 1_000) {
      if (explicit.has("duration_minutes") || explicit.has("expires_at")) {
        throw exceeded("duration_minutes", `This key issues tokens for at most ${maxMinutes} minutes.`);
      }
      out.expiresAt = latest;
    }
  }
  for (const [field, ceiling, param] of LIFETIME) {
    const max = ceilings[ceiling] ?? null;
    if (max === null) continue;
    const v = out[field] ?? null;
    if (v !== null && v <= max) continue;
    if (explicit.has(param)) {
      throw exceeded(
        param,
        `This key issues tokens with ${param} of at most ${max}${v === null ? " (not unlimited)" : ""}.`,
      );
    }
    out[field] = max;
  }
  const allowedCeiling = ceilings.allowed_models ?? null;
  if (allowedCeiling !== null && !modelsWithin(out.allowedModels ?? null, allowedCeiling)) {
    if (explicit.has("allowed_models") && out.allowedModels !== null) {
      throw exceeded(
        "allowed_models",
        `This key issues tokens for these models only: ${allowedCeiling.join(", ")}.`,
      );
    }
    out.allowedModels = [...allowedCeiling];
  }
  out.periodBudgets = periodWithin(out, ceilings.period_budgets ?? null, explicit.has("period_budgets"));
  if (out.canMint && !ceilings.allow_minting) {
    throw exceeded("can_mint", "This key cannot issue tokens that mint child tokens.");
  }
  return out;
}

/** Each budget per period of the ceilings must be met by the token's budget of the same period or its lifetime budget. */
function periodWithin(
  values: Bounded,
  ceilings: PeriodBudget[] | null,
  explicit: boolean,
): PeriodBudget[] | null {
  if (!ceilings) return values.periodBudgets ?? null;
  const budgets = (values.periodBudgets ?? []).map((b) => ({ ...b }));
  const lifetime = {
    max_requests: values.maxRequests,
    max_tokens: values.maxTotalTokens,
    max_cost_usd: values.maxCostUsd,
  };
  for (const c of ceilings) {
    for (const f of PERIOD_FIELDS) {
      const max = c[f] ?? null;
      if (max === null) continue;
      const life = lifetime[f] ?? null;
      if (life !== null && life <= max) continue;
      let b = budgets.find((x) => x.period === c.period);
      const v = b?.[f] ?? null;
      if (v !== null && v <= max) continue;
      if (explicit && b) {
        throw exceeded("period_budgets", `This key issues tokens with a ${c.period} ${f} of at most ${max}.`);
      }
      if (!b) {
        b = { period: c.period };
        budgets.push(b);
      }
      b[f] = max;
    }
  }
  return budgets.length > 0 ? budgets : null;
}

/** A key's ceilings must fit its project: models within the project's. */
export function checkCeilingsFitProject(ceilings: Ceilings, projectModels: string[] | null): void {
  if (ceilings.allowed_models && !modelsWithin(ceilings.allowed_models, projectModels)) {
    throw new ApiError(
      400,
      "validation_error",
      "The key's allowed_models must be within the project's allowed models.",
      {
        param: "ceilings.allowed_models",
      },
    );
  }
}
