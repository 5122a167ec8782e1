import { hitHolds } from "../cache/settings";
import type { ErrorCode } from "../lib/errors";
import { type Amount, type Ledger, limitRefusal, toNanos } from "../limits/budget";
import { periodRefusal } from "../limits/period-budgets";
import type { RenewingUsage } from "../limits/renewing";
import { repriceFor } from "../limits/reserve";
import { checkTokenWindows, tokenWindowRefusal } from "../limits/token-windows";
import { checkWindows, retryAfterSeconds } from "../limits/windows";
import { CAPABILITY_ENDPOINTS, type Capability } from "../ownership/capabilities";
import { modelListMatches } from "../routing/model-match";
import { routeModels } from "../routing/resolve";
import { type AdmitInput, FORM_NEEDED, type Refused, TOKEN_NOT_FOUND } from "./admission";
import { standingRefusal } from "./standing";
import {
  hasCostBudget,
  hasTokenBudget,
  isBudgeted,
  isRestricted,
  type TokenConfig,
  tokenCache,
  tokenLimits,
} from "./token-config";

// The admission decision: pure functions of the token's configuration, what its object counted and the
// request, so the object can decide and count in one synchronous step and the isolate can replay a
// decision for a token with nothing to count (admission-cache.ts). No storage, no clock of its own.

/** What the token's Durable Object has counted, as admission sees it. */
export type TokenUsage = {
  ledger: Ledger;
  /** Recent admission times (ms, ascending) for the rate windows. */
  windowLog: readonly number[];
  /** Ledgers of the current periods and the token-window log; absent = nothing counted. */
  renewing?: RenewingUsage;
};

function originAllowed(allowed: string[] | null, origin: string | null | undefined): boolean {
  if (!origin || !allowed) return true;
  return allowed.includes("*") || allowed.includes(origin);
}

/**
 * Whether an allowed-models list admits a model: an exact id; an id also admits its dated snapshots
 * (`gpt-4o` admits `gpt-4o-2024-08-06`, never `gpt-4o-mini`; `claude-sonnet-4-5` admits
 * `claude-sonnet-4-5-20250929`); an entry ending in `*` is a prefix
 * (`gpt-4o*` admits both). null = every model.
 */
export const modelAllowed = modelListMatches;

/** Whether the request's cache-hit claim holds for this token now (see `AdmitInput.cacheHit`). */
export const cacheHitValid = (c: TokenConfig, input: AdmitInput, now: number): boolean =>
  input.cacheHit !== undefined &&
  hitHolds(tokenCache(c), input.cacheHit, now) &&
  // Keyed with the route of another routing table (the project's upstreams changed since): not this answer.
  (input.cacheHit.routingVersion === undefined ||
    input.cacheHit.routingVersion === c.project.routing.version);

/** The amount to hold for a request: its reserve with an unknown cost counted as zero (see decide). */
export const holdOf = (reserve: AdmitInput["reserve"]): Amount | null =>
  reserve
    ? {
        tokens: Math.max(0, Math.ceil(reserve.tokens ?? 0)),
        costNanos: Math.max(0, toNanos(reserve.costUsd ?? 0)),
      }
    : null;

/** The refusal of an account-wide endpoint the token's project has not enabled: it says how to enable it. */
function notEnabled(capability: Capability): string {
  return (
    `This endpoint (${CAPABILITY_ENDPOINTS[capability]}) is not enabled for this token's project. ` +
    `The gateway's operator can enable it by adding '${capability}' to the project's capabilities ` +
    "(management API, admin pages or `llm-proxy project update --capabilities`)."
  );
}

/**
 * Why this request cannot be admitted for this token although it may be for others: what it may cost is
 * unbounded (batches, background responses, file inputs, …) and the token has a budget — or, for a request
 * whose models the gateway cannot see (a batch), allowed models; or it is not countable in the unit of a
 * budget the token has (images in tokens, an unpriced model in dollars).
 */
function restrictionRefusal(
  config: TokenConfig,
  input: AdmitInput,
): { code: ErrorCode; message: string; param?: string } | null {
  const tokenBudget = hasTokenBudget(config);
  const costBudget = hasCostBudget(config);
  const modelList = config.allowedModels !== null || config.project.allowedModels !== null;
  const u = input.unbounded;
  if (u?.models && modelList) {
    const message = `${u.message} This token may only use some models, so the request is refused.`;
    return { code: "model_not_allowed", message, param: u.param ?? undefined };
  }
  if (!tokenBudget && !costBudget) return null;
  if (u && (!u.costOnly || costBudget)) {
    const message = `${u.message} This token has a ${costBudget ? "cost" : "token"} budget, so the request is refused.`;
    return { code: "unpriceable_request", message, param: u.param ?? undefined };
  }
  const reserve = input.reserve;
  if (!reserve) return null;
  // Not finite (NaN from a price table gone wrong): never a hold that compares false with every limit.
  if (costBudget && (reserve.costUsd === null || !Number.isFinite(reserve.costUsd))) {
    if (input.model) {
      const message = `Model '${input.model}' has no known price for this request, and this token has a cost budget: it can only use priced models.`;
      return { code: "model_not_allowed", message, param: "model" };
    }
    return {
      code: "unpriceable_request",
      message: "The gateway cannot price this request, and this token has a cost budget.",
    };
  }
  if (tokenBudget && (reserve.tokens === null || !Number.isFinite(reserve.tokens))) {
    const message =
      "This request is not billed in tokens, and this token has a token budget that could not count it.";
    return { code: "unpriceable_request", message };
  }
  return null;
}

/**
 * The admission decision, in the documented order (docs/proxy.md): exists → active → not expired → project
 * active → endpoint enabled for the project → origin → model → limits (quotas before rate windows: a client
 * told to retry later should be able to). Pure, so the Durable Object can call it and count in the same
 * synchronous step. Project-wide caps are decided by the project's object, after this. A valid cache hit
 * passes every check a miss would, except that it needs no budget room for a reservation (it holds none; a
 * used-up budget still refuses it) and, where the project says so, no rate-window slot.
 */
export function decide(
  config: TokenConfig | null,
  usage: TokenUsage,
  input: AdmitInput,
  now: number,
): Refused | null {
  if (!config) return TOKEN_NOT_FOUND;
  const standing = standingRefusal(config, input.credential, now);
  if (standing) return standing;
  const ids = {
    tokenId: config.tokenId,
    projectId: config.projectId,
    allowedOrigins: config.project.allowedOrigins,
  };
  if (input.capability && !config.project.capabilities.includes(input.capability)) {
    // Before anything is counted: a refused endpoint costs the token nothing.
    return {
      ok: false,
      status: 404,
      code: "endpoint_not_found",
      message: notEnabled(input.capability),
      ...ids,
    };
  }
  if (!originAllowed(config.project.allowedOrigins, input.origin)) {
    const message = `Origin '${input.origin}' is not allowed for this project.`;
    return { ok: false, status: 403, code: "origin_not_allowed", message, ...ids };
  }
  if (input.unread && (input.unread.budgetOnly ? isBudgeted(config) : isRestricted(config))) {
    if (input.unread.form) {
      const needs = isBudgeted(config) ? "form" : "model";
      return { ok: false, status: 400, code: FORM_NEEDED, message: needs, ...ids };
    }
    const { code, message, param } = input.unread;
    return { ok: false, status: 400, code, message, param: param ?? undefined, ...ids };
  }
  const hit = cacheHitValid(config, input, now);
  if (input.model) {
    const lists = [
      ["token", config.allowedModels],
      ["project", config.project.allowedModels],
    ] as const;
    for (const [who, list] of lists) {
      if (!modelAllowed(list, input.model)) {
        const message = `Model '${input.model}' is not allowed for this ${who}. Allowed: ${list?.join(", ")}.`;
        return { ok: false, status: 403, code: "model_not_allowed", message, param: "model", ...ids };
      }
    }
    if (config.project.routing.upstreams.length > 0 && !routeModels(config.project.routing, input.model)) {
      const message = `No upstream of this project serves model '${input.model}', and it is not an alias.`;
      return {
        ok: false,
        status: 404,
        code: "model_not_found",
        message,
        param: "model",
        retryable: false,
        ...ids,
      };
    }
  }
  if (config.project.routing.upstreams.length === 0) {
    const message = "The token's project has no active upstream to send requests to.";
    return { ok: false, status: 503, code: "upstream_unavailable", message, retryable: false, ...ids };
  }
  // A hit costs nothing and holds nothing: only what is not about its price still applies to it.
  const restricted = restrictionRefusal(config, hit ? { ...input, reserve: undefined } : input);
  if (restricted) return { ok: false, status: 403, ...restricted, ...ids };
  const hold = hit ? null : holdOf(input.reserve);
  const quota = limitRefusal(tokenLimits(config), usage.ledger, hold, "token");
  if (quota) return { ok: false, status: 429, ...quota, ...ids };
  const renewing = usage.renewing;
  const period =
    renewing && periodRefusal(config.renewing.periodBudgets, renewing.periods, hold, "token", now);
  if (period) {
    const soon = period.retryAfterMs;
    return {
      ok: false,
      status: 429,
      code: period.code,
      message: period.message,
      renewsAt: period.renewsAt,
      ...(soon !== undefined
        ? { retryAfterSeconds: retryAfterSeconds(soon), retryAfterMs: soon, retryable: true }
        : {}),
      ...ids,
    };
  }
  if (hit && config.project.cache?.hitsSkipRateLimits) return null;
  const window = checkWindows(usage.windowLog, config.rateLimits, now);
  if (!window.ok) {
    const seconds = retryAfterSeconds(window.retryAfterMs);
    const { requests, window_seconds } = window.window;
    const message = `Rate limit of ${requests} requests per ${window_seconds} s reached; retry in ${seconds} s.`;
    return {
      ok: false,
      status: 429,
      code: "rate_limit_exceeded",
      message,
      retryAfterSeconds: seconds,
      retryAfterMs: window.retryAfterMs,
      ...ids,
    };
  }
  if (renewing && config.renewing.tokenWindows) {
    const tokens = checkTokenWindows(renewing.tokenLog, config.renewing.tokenWindows, hold?.tokens ?? 0, now);
    if (!tokens.ok) return { ...tokenWindowRefusal(tokens), ...ids };
  }
  return null;
}

/**
 * The admission input with its reservation priced for the route: an alias may be served by any of its
 * targets' models, so the hold is the priciest of them (settle then prices the model that served).
 */
export function routedInput(config: TokenConfig, input: AdmitInput): AdmitInput {
  if (!input.model || !input.reserve?.units) return input;
  const models = routeModels(config.project.routing, input.model);
  if (!models || (models.length === 1 && models[0] === input.model)) return input;
  return { ...input, reserve: repriceFor(input.reserve, models) };
}
