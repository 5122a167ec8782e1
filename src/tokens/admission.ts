import type { ErrorCode } from "../lib/errors";
import { isSnapshotOf } from "../lib/model-id";
import {
  type Amount,
  type Ledger,
  type Limits,
  limitRefusal,
  type Remaining,
  toNanos,
} from "../limits/budget";
import { periodRefusal } from "../limits/period-budgets";
import { hasRenewing, type RenewingLimits, type RenewingUsage } from "../limits/renewing";
import { checkTokenWindows } from "../limits/token-windows";
import { checkWindows, retryAfterSeconds, type WindowState } from "../limits/windows";
import type { ProviderSettings } from "../providers/settings";
import type { RateWindow } from "../storage/schema";

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
  project: {
    isActive: boolean;
    provider: string;
    baseUrl: string;
    apiKeyEncrypted: string;
    /** Checked against the provider's schema when stored (src/providers/settings.ts). */
    providerSettings: ProviderSettings | null;
    allowedOrigins: string[] | null;
    allowedModels: string[] | null;
    /** The project's caps across all its tokens; null when it has none (no project object is consulted). */
    limits: Limits | null;
    /** The project's renewing caps; null when it has none. */
    renewing: RenewingLimits | null;
  };
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
   * `settle`). Absent when the proxy could not tell (not JSON, no model).
   */
  reserve?: { tokens: number; costUsd: number | null };
  /** Requests an isolate admitted from its short-lived cache since it last asked (see admission-cache.ts). */
  alsoCounted?: number;
  /** What the request presented; absent = the secret whose hash names the object. */
  credential?: Credential;
};

/** The real usage of a finished request, to settle its reservation. */
export type Settlement = { totalTokens: number; costUsd: number | null };

/** What the client has left after an admitted request (null = unlimited), for headers and the API. */
export type Allowance = Remaining & {
  /** The rate window with the least room left after this request, if the token has any. */
  window: WindowState | null;
  expiresAt: number;
};

export type Upstream = {
  provider: string;
  baseUrl: string;
  apiKeyEncrypted: string;
  settings: ProviderSettings | null;
};

export type Admitted = {
  ok: true;
  /** Empty for a JWT used directly as the API key (no token involved). */
  tokenId: string;
  projectId: string;
  /** The end user an identity provider vouched for, when the request was counted for one. */
  userId?: string;
  upstream: Upstream;
  allowedOrigins: string[] | null;
  /** Requests left under max_requests after this one; null when unlimited. */
  remainingRequests: number | null;
  /** Set when the object reserved budget for this request: settle it when the request ends, on every path. */
  reservationId?: string;
  allowance: Allowance;
  /**
   * Set for a token with nothing to count (no request, window or budget limit, no project caps): its
   * admission depends only on this configuration, so an isolate may reuse it for a moment (admission-cache.ts).
   */
  reusable?: TokenConfig;
};

export type Refused = {
  ok: false;
  status: 401 | 403 | 429;
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
  /** Overrides whether an SDK may retry (a period that renews within a minute: yes). */
  retryable?: boolean;
};

export type Admission = Admitted | Refused;

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
export function modelAllowed(list: readonly string[] | null, model: string): boolean {
  if (!list) return true;
  return list.some((entry) => {
    if (entry === model || entry === "*") return true;
    if (entry.endsWith("*")) return model.startsWith(entry.slice(0, -1));
    return isSnapshotOf(model, entry);
  });
}

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

/**
 * The admission of a token. With `counted`: what the object counted for this request. Without: a token with
 * nothing to count, built from its configuration alone (and reusable by the isolate).
 */
export function admittedFrom(c: TokenConfig, counted?: Counted): Admitted {
  const admitted = {
    ok: true as const,
    tokenId: c.tokenId,
    projectId: c.projectId,
    upstream: {
      provider: c.project.provider,
      baseUrl: c.project.baseUrl,
      apiKeyEncrypted: c.project.apiKeyEncrypted,
      settings: c.project.providerSettings,
    },
    allowedOrigins: c.project.allowedOrigins,
  };
  if (counted) return { ...admitted, ...counted };
  const allowance = { requests: null, tokens: null, costUsd: null, window: null, expiresAt: c.expiresAt };
  return { ...admitted, remainingRequests: null, allowance, reusable: c };
}

/** The amount to hold for a request: its reserve with an unknown cost counted as zero (see decide). */
export const holdOf = (reserve: AdmitInput["reserve"]): Amount | null =>
  reserve
    ? {
        tokens: Math.max(0, Math.ceil(reserve.tokens)),
        costNanos: Math.max(0, toNanos(reserve.costUsd ?? 0)),
      }
    : null;

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
 * active → origin → model → limits (quotas before rate windows: a client told to retry later should be able
 * to). Pure, so the Durable Object can call it and count in the same synchronous step. Project-wide caps are
 * decided by the project's object, after this.
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
  if (!originAllowed(config.project.allowedOrigins, input.origin)) {
    const message = `Origin '${input.origin}' is not allowed for this project.`;
    return { ok: false, status: 403, code: "origin_not_allowed", message, ...ids };
  }
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
    const periodCost = (r: RenewingLimits | null) =>
      (r?.periodBudgets ?? []).some((b) => b.max_cost_usd != null);
    const costBudget =
      config.maxCostUsd !== null ||
      config.project.limits?.maxCostUsd != null ||
      periodCost(config.renewing) ||
      periodCost(config.project.renewing);
    if (costBudget && input.reserve && input.reserve.costUsd === null) {
      const message = `Model '${input.model}' has no known price, and this token has a cost budget: it can only use priced models.`;
      return { ok: false, status: 403, code: "model_not_allowed", message, param: "model", ...ids };
    }
  }
  const hold = holdOf(input.reserve);
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
