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
  project: {
    isActive: boolean;
    provider: string;
    baseUrl: string;
    apiKeyEncrypted: string;
    allowedOrigins: string[] | null;
    allowedModels: string[] | null;
  };
};

/** Durable counters of a token, kept in its Durable Object's storage. */
export type TokenCounters = {
  requests: number;
  lastUsedAt: number | null;
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
};

/** The real usage of a finished request, to settle its reservation. */
export type Settlement = { totalTokens: number; costUsd: number | null };

export type Upstream = { provider: string; baseUrl: string; apiKeyEncrypted: string };

export type Admitted = {
  ok: true;
  tokenId: string;
  projectId: string;
  upstream: Upstream;
  allowedOrigins: string[] | null;
  /** Requests left under max_requests after this one; null when unlimited. */
  remainingRequests: number | null;
  /** Set when the object reserved budget for this request: settle it when the request ends, on every path. */
  reservationId?: string;
};

export type Refused = {
  ok: false;
  status: 401 | 403 | 429;
  code: string;
  message: string;
  tokenId?: string;
  projectId?: string;
  allowedOrigins?: string[] | null;
  retryAfterSeconds?: number;
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
 * The admission decision, in the SPEC's order: exists → active → not expired → project active → origin →
 * model → limits. Pure, so the Durable Object can call it and count in the same synchronous step.
 */
export function decide(
  config: TokenConfig | null,
  counters: TokenCounters,
  input: AdmitInput,
  now: number,
): Refused | null {
  if (!config) return TOKEN_NOT_FOUND;
  const ids = {
    tokenId: config.tokenId,
    projectId: config.projectId,
    allowedOrigins: config.project.allowedOrigins,
  };
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
  if (!originAllowed(config.project.allowedOrigins, input.origin)) {
    const message = `Origin '${input.origin}' is not allowed for this project.`;
    return { ok: false, status: 403, code: "origin_not_allowed", message, ...ids };
  }
  if (input.model) {
    for (const list of [config.allowedModels, config.project.allowedModels]) {
      if (list && !list.includes(input.model)) {
        const message = `Model '${input.model}' is not allowed for this token. Allowed: ${list.join(", ")}.`;
        return { ok: false, status: 403, code: "model_not_allowed", message, ...ids };
      }
    }
  }
  if (config.maxRequests !== null && counters.requests >= config.maxRequests) {
    const message = `The token has used all ${config.maxRequests} of its requests.`;
    return { ok: false, status: 429, code: "quota_exceeded", message, ...ids };
  }
  return null;
}
