import { type CacheHitClaim, type CacheSettings, hitHolds } from "../cache/settings";
import type { ErrorCode } from "../lib/errors";
import {
  type Amount,
  type Ledger,
  type Limits,
  limitRefusal,
  type Remaining,
  toNanos,
} from "../limits/budget";
import type { Reserve, Unbounded } from "../limits/meter";
import { periodRefusal } from "../limits/period-budgets";
import { hasRenewing, type RenewingLimits, type RenewingUsage } from "../limits/renewing";
import { repriceFor } from "../limits/reserve";
import { checkTokenWindows } from "../limits/token-windows";
import { checkWindows, retryAfterSeconds, type WindowState } from "../limits/windows";
import { CAPABILITY_ENDPOINTS, type Capability, type ObjectScope } from "../ownership/capabilities";
import { modelListMatches } from "../routing/model-match";
import { routeModels } from "../routing/resolve";
import type { Routing } from "../routing/types";
import type { RateWindow } from "../storage/schema";

/** What a token's Durable Object knows about the token's project (the same for all its tokens). */
export type ProjectConfig = {
  /** The project row's `updated_at`, which only grows: a pushed copy older than the one held is ignored. */
  version: number;
  isActive: boolean;
  allowedOrigins: string[] | null;
  allowedModels: string[] | null;
  /** The project's caps across all its tokens; null when it has none (no project object is consulted). */
  limits: Limits | null;
  /** The project's renewing caps (budgets per period, token windows); null when it has none. */
  renewing: RenewingLimits | null;
  /** The project's response cache; null or absent when off. */
  cache?: CacheSettings | null;
  /** Account-wide capabilities the project enabled (files, batches, …); none = inference only. */
  capabilities: Capability[];
  /** Who reaches an object a token of the project created (src/ownership/). */
  objectScope: ObjectScope;
  /** Where the project's requests go: upstreams, keys (ciphertexts), aliases. */
  routing: Routing;
};

/** What the token's Durable Object knows about its token and project, loaded from D1. */
export type TokenConfig = {
  tokenId: string;
  projectId: string;
  expiresAt: number;
  isActive: boolean;
  revokedAt: number | null;
  maxRequests: number | null;
  rateLimits: RateWindow[] | null;
  maxTotalTokens: number | null;
  maxCostUsd: number | null;
  allowedModels: string[] | null;
  /** Budgets per calendar period and token windows (src/limits/renewing.ts). */
  renewing: RenewingLimits;
  /**
   * Hashes of the secrets this object accepts for the token: its current secret (no end) and, after a
   * rotation, the previous one until its grace period ends.
   */
  secrets: AcceptedSecret[];
  /** The token may mint child tokens out of its allowance (held in escrow by this object). */
  canMint: boolean;
  /** false: the token was denied its project's response cache (absent: allowed). */
  cacheAllowed?: boolean;
  project: ProjectConfig;
};

export type AcceptedSecret = { hash: string; until: number | null };

/**
 * The credential a request presented, as the object checks it: the hash of a withering token's secret,
 * or the verified claims of an identity provider's JWT used as the API key (src/issuing/identity).
 */
export type Credential =
  | { kind: "secret"; hash: string }
  | { kind: "jwt"; providerId: string; providerVersion: number; subject: string; expiresAt: number };

/** What the token's Durable Object has counted, as admission sees it. */
export type TokenUsage = {
  ledger: Ledger;
  /** Recent admission times (ms, ascending) for the rate windows. */
  windowLog: readonly number[];
  /** Ledgers of the current periods and the token-window log; absent = nothing counted. */
  renewing?: RenewingUsage;
};

export type AdmitInput = {
  /** The model named in the request body, if any. */
  model?: string | null;
  /** The browser's Origin header, if any. */
  origin?: string | null;
  /**
   * What the request may use at most, to reserve against budgets before forwarding (settled later with
   * `settle`); absent for a request that costs nothing (limits/meter.ts). A null in a unit means the request
   * cannot be counted in it: refused for a token with a budget in that unit.
   */
  reserve?: Reserve;
  /** Why a budget cannot bound this request (refused for a budgeted token: 403 `unpriceable_request`). */
  unbounded?: Unbounded;
  /**
   * Why the gateway could not read the model of a request to an endpoint that takes one: a restricted token
   * (allowed models or a budget, its own or its project's) is refused with it (400). `form: true`: the
   * multipart form was not read yet — a restricted token asks the proxy to read it (`FORM_NEEDED`).
   */
  unread?: Unread;
  /** Requests an isolate admitted from its short-lived cache since it last asked (see admission-cache.ts). */
  alsoCounted?: number;
  /** What the request presented; absent = the secret whose hash names the object. */
  credential?: Credential;
  /** The version of the project's routing table the isolate holds: the answer leaves the table out if current. */
  routingVersion?: number;
  /**
   * The worker holds a cached answer to this request: if the claim holds under the project's current cache
   * settings (generation, endpoint, age) the request is admitted as a hit — counted, nothing held against
   * budgets, and no rate-window slot where the project exempts hits. Otherwise `reserve` applies as usual.
   */
  cacheHit?: CacheHitClaim;
  /** The account-wide capability the request's endpoint needs (src/ownership/endpoints.ts); absent: none. */
  capability?: Capability | null;
};

/**
 * The usage of a finished request, to settle its reservation. `reported: false` (the upstream's usage never
 * arrived): an upper bound of what the gateway saw, and the object charges the hold instead when larger.
 */
export type Settlement = { totalTokens: number; costUsd: number | null; reported?: boolean };

/** What the client has left after an admitted request (null = unlimited), for headers and the API. */
export type Allowance = Remaining & {
  /** The rate window with the least room left after this request, if the token has any. */
  window: WindowState | null;
  expiresAt: number;
};

export type Admitted = {
  ok: true;
  /** Empty for a JWT used directly as the API key (no token involved). */
  tokenId: string;
  projectId: string;
  /** The end user an identity provider vouched for, when the request was counted for one. */
  userId?: string;
  /**
   * The project's routing table; left out of an object's answer when the isolate said it holds this
   * version (admission-cache.ts puts its copy back).
   */
  routing?: Routing;
  routingVersion: number;
  allowedOrigins: string[] | null;
  /** The token's and the project's allowed models (null = all), for `GET /v1/models`. */
  allowedModels: { token: string[] | null; project: string[] | null };
  /** The project's account-wide capabilities and who reaches its tokens' objects (src/ownership/). */
  objects: { capabilities: readonly Capability[]; scope: ObjectScope };
  /** Requests left under max_requests after this one; null when unlimited. */
  remainingRequests: number | null;
  /** Set when the object reserved budget for this request: settle it when the request ends, on every path. */
  reservationId?: string;
  allowance: Allowance;
  /** The project's response cache as this token may use it: null (or absent) when off or denied to it. */
  cache?: CacheSettings | null;
  /** Admitted as a cache hit (the request's `cacheHit` claim held): answer from the cache, not upstream. */
  cacheHit?: boolean;
  /**
   * Set for a token with nothing to count (no request, window or budget limit, no project caps): its
   * admission depends only on this configuration, so an isolate may reuse it for a moment (admission-cache.ts).
   */
  reusable?: TokenConfig;
};

/** The reason a restricted token's request is refused when the gateway could not read its model. */
export type Unread = {
  code: ErrorCode;
  message: string;
  param: string | null;
  /** The multipart form was not read yet: the proxy reads it and asks again (FORM_NEEDED). */
  form?: boolean;
  /** Only a budget needs what was not read (Gemini names its model in the path). */
  budgetOnly?: boolean;
};

export type Refused = {
  ok: false;
  status: 400 | 401 | 403 | 404 | 429 | 503;
  code: ErrorCode;
  message: string;
  /** The request field at fault, for the error envelope's `param`. */
  param?: string;
  tokenId?: string;
  projectId?: string;
  allowedOrigins?: string[] | null;
  retryAfterSeconds?: number;
  /** The same wait in milliseconds, for `retry-after-ms` (OpenAI SDKs honour it). */
  retryAfterMs?: number;
  /** When a budget per period renews (epoch ms), for `x-llm-proxy-renews-at`. */
  renewsAt?: number;
  /** Whether a client retry may help (default: per status, see ApiError; a period that renews within a minute: yes). */
  retryable?: boolean;
};

export type Admission = Admitted | Refused;

/**
 * Not a refusal the client sees: the token is restricted and its multipart request's form must be read before
 * it can be decided (`needs`: just the model, or every field a budget needs). Nothing was counted.
 */
export const FORM_NEEDED = "form_needed";

/** Whether a token (or its project) restricts models or has a token or cost budget. */
export function isRestricted(c: TokenConfig): boolean {
  return c.allowedModels !== null || c.project.allowedModels !== null || isBudgeted(c);
}

/** Whether renewing limits count tokens (a token budget per period, or a token window) or cost. */
const renewingCounts = (r: RenewingLimits | null | undefined, unit: "tokens" | "cost"): boolean => {
  if (!r) return false;
  if (unit === "tokens" && (r.tokenWindows?.length ?? 0) > 0) return true;
  const field = unit === "tokens" ? "max_tokens" : "max_cost_usd";
  return (r.periodBudgets ?? []).some((b) => b[field] != null);
};

/**
 * Whether a token budget applies (lifetime or per period, the token's own or its project's, or a token
 * window: each must count a request's tokens).
 */
export const hasTokenBudget = (c: TokenConfig): boolean =>
  c.maxTotalTokens !== null ||
  c.project.limits?.maxTotalTokens != null ||
  renewingCounts(c.renewing, "tokens") ||
  renewingCounts(c.project.renewing, "tokens");

/** Whether a cost budget applies (lifetime or per period, the token's own or its project's). */
export const hasCostBudget = (c: TokenConfig): boolean =>
  c.maxCostUsd !== null ||
  c.project.limits?.maxCostUsd != null ||
  renewingCounts(c.renewing, "cost") ||
  renewingCounts(c.project.renewing, "cost");

/** Whether a token or cost budget applies (the token's own or its project's, lifetime or renewing). */
export const isBudgeted = (c: TokenConfig): boolean => hasTokenBudget(c) || hasCostBudget(c);

export const TOKEN_NOT_FOUND: Refused = {
  ok: false,
  status: 401,
  code: "token_not_found",
  message: "The token is not known to this gateway.",
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

export const tokenLimits = (c: TokenConfig): Limits => ({
  maxRequests: c.maxRequests,
  maxTotalTokens: c.maxTotalTokens,
  maxCostUsd: c.maxCostUsd,
});

/** Whether admission must count each request in the object (a limit that counts, or project caps). */
export const countsRequests = (c: TokenConfig): boolean =>
  c.maxRequests !== null ||
  c.maxTotalTokens !== null ||
  c.maxCostUsd !== null ||
  (c.rateLimits?.length ?? 0) > 0 ||
  hasRenewing(c.renewing) ||
  c.canMint ||
  c.project.limits !== null ||
  c.project.renewing !== null;

/** What the object counted for one request of a token with limits. */
export type Counted = Pick<Admitted, "remainingRequests" | "reservationId" | "allowance">;

/** The project's cache as the token may use it (null: off, or the token was denied it). */
export const tokenCache = (c: TokenConfig): CacheSettings | null =>
  c.cacheAllowed === false ? null : (c.project.cache ?? null);

/** Whether the request's cache-hit claim holds for this token now (see `AdmitInput.cacheHit`). */
export const cacheHitValid = (c: TokenConfig, input: AdmitInput, now: number): boolean =>
  input.cacheHit !== undefined && hitHolds(tokenCache(c), input.cacheHit, now);

/**
 * The admission of a token. With `counted`: what the object counted for this request. Without: a token with
 * nothing to count, built from its configuration alone (and reusable by the isolate). `cacheHit`: the
 * request's cache-hit claim held.
 */
export function admittedFrom(c: TokenConfig, counted?: Counted, cacheHit = false): Admitted {
  const admitted = {
    ok: true as const,
    tokenId: c.tokenId,
    projectId: c.projectId,
    routing: c.project.routing,
    routingVersion: c.project.routing.version,
    allowedOrigins: c.project.allowedOrigins,
    allowedModels: { token: c.allowedModels, project: c.project.allowedModels },
    cache: tokenCache(c),
    ...(cacheHit ? { cacheHit } : {}),
    objects: { capabilities: c.project.capabilities, scope: c.project.objectScope },
  };
  if (counted) return { ...admitted, ...counted };
  const allowance = { requests: null, tokens: null, costUsd: null, window: null, expiresAt: c.expiresAt };
  return { ...admitted, remainingRequests: null, allowance, reusable: c };
}

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
 * Whether the presented secret is one the token accepts now: its current secret, or the one a rotation
 * replaced while its grace period lasts. A JWT never opens a token's object.
 */
export function secretRefusal(config: TokenConfig, credential: Credential, now: number): Refused | null {
  if (credential.kind !== "secret") return TOKEN_NOT_FOUND;
  const accepted = config.secrets.find((s) => s.hash === credential.hash);
  if (!accepted) return TOKEN_NOT_FOUND;
  if (accepted.until !== null && accepted.until <= now) {
    const at = new Date(accepted.until).toISOString();
    return {
      ok: false,
      status: 401,
      code: "token_inactive",
      message: `This secret was replaced by a rotation; it stopped working at ${at}. Use the new secret.`,
    };
  }
  return null;
}

/** The token's standing, whatever the request: its secret, active, not expired, project active. */
export function standingRefusal(
  config: TokenConfig,
  credential: Credential | undefined,
  now: number,
): Refused | null {
  const ids = {
    tokenId: config.tokenId,
    projectId: config.projectId,
    allowedOrigins: config.project.allowedOrigins,
  };
  if (credential) {
    const refused = secretRefusal(config, credential, now);
    if (refused) return { ...refused, ...ids };
  }
  if (!config.isActive || config.revokedAt !== null) {
    const message =
      config.revokedAt !== null ? "The token has been revoked." : "The token has been deactivated.";
    return { ok: false, status: 401, code: "token_inactive", message, ...ids };
  }
  if (config.expiresAt <= now) {
    const at = new Date(config.expiresAt).toISOString();
    return { ok: false, status: 401, code: "token_expired", message: `The token expired at ${at}.`, ...ids };
  }
  if (!config.project.isActive) {
    return {
      ok: false,
      status: 403,
      code: "project_inactive",
      message: "The token's project is deactivated.",
      ...ids,
    };
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
    if (!tokens.ok) return tokenWindowRefusal(tokens, ids);
  }
  return null;
}

/** A full token window: retry when enough tokens left it, or never if this request alone is too large. */
export function tokenWindowRefusal(
  check: { window: { tokens: number; window_seconds: number }; retryAfterMs: number | null },
  ids: Pick<Refused, "tokenId" | "projectId" | "allowedOrigins">,
  who = "token",
): Refused {
  const { tokens, window_seconds } = check.window;
  const limit = `${tokens} tokens per ${window_seconds} s`;
  if (check.retryAfterMs === null) {
    return {
      ok: false,
      status: 429,
      code: "quota_exceeded",
      message: `This request may use more than the ${who}'s limit of ${limit} on its own: lower max_tokens to fit.`,
      ...ids,
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
    ...ids,
  };
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
