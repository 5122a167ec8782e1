import type { Token } from "../tokens/response";
import {
  type Form,
  jsonObject,
  list,
  num,
  numValue,
  rateWindows,
  rateWindowValues,
  text,
  utcInstant,
} from "./forms";
import { renewingInput, renewingPatch, renewingValues } from "./renewing-form";

/** The create form as the management API's body, so the API's schema validates it. */
export function tokenInput(f: Form) {
  return {
    project_id: text(f, "project_id") ?? "",
    name: text(f, "name"),
    duration_minutes: num(f, "duration_minutes"),
    expires_at: utcInstant(text(f, "expires_at")),
    max_requests: num(f, "max_requests"),
    rate_limit: rateWindows(f),
    max_tokens: num(f, "max_tokens"),
    max_cost_usd: num(f, "max_cost_usd"),
    allowed_models: list(f, "allowed_models"),
    metadata: jsonObject(f, "metadata"),
    ...renewingInput(f),
    can_mint: f.can_mint === "true" ? true : undefined,
    cache: f.cache === undefined ? undefined : f.cache === "true",
  };
}

/** The edit form as a PATCH body: an emptied field clears (null), an empty expiry keeps the current one. */
export function tokenPatchInput(f: Form) {
  return {
    name: text(f, "name") ?? null,
    metadata: jsonObject(f, "metadata") ?? null,
    duration_minutes: num(f, "duration_minutes"),
    expires_at: utcInstant(text(f, "expires_at")),
    max_requests: num(f, "max_requests") ?? null,
    rate_limit: rateWindows(f) ?? null,
    max_tokens: num(f, "max_tokens") ?? null,
    max_cost_usd: num(f, "max_cost_usd") ?? null,
    allowed_models: list(f, "allowed_models") ?? null,
    is_active: f.is_active === undefined ? undefined : f.is_active === "true",
    ...renewingPatch(f),
    can_mint: f.can_mint === "true",
    cache: f.cache === undefined ? undefined : f.cache === "true",
  };
}

/** The edit form filled with the token's current values. */
export function tokenValues(t: Token): Form {
  return {
    name: t.name ?? "",
    is_active: String(t.is_active),
    cache: String(t.cache),
    max_requests: numValue(t.max_requests),
    max_tokens: numValue(t.max_tokens),
    max_cost_usd: numValue(t.max_cost_usd),
    ...rateWindowValues(t.rate_limit),
    allowed_models: (t.allowed_models ?? []).join("\n"),
    metadata: t.metadata ? JSON.stringify(t.metadata, null, 2) : "",
    ...renewingValues({
      ...t,
      period_budgets: t.period_budgets as Parameters<typeof renewingValues>[0]["period_budgets"],
    }),
    can_mint: t.can_mint ? "true" : "",
  };
}
