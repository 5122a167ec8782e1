import type { CacheHitClaim, CacheSettings } from "../cache/settings";
import type { ErrorCode } from "../lib/errors";
import type { Remaining } from "../limits/budget";
import type { Reserve, Unbounded } from "../limits/meter";
import type { WindowState } from "../limits/windows";
import type { Capability, ObjectScope } from "../ownership/capabilities";
import type { Routing } from "../routing/types";
import { type TokenConfig, tokenCache } from "./token-config";

// What the worker and a token's Durable Object exchange: what a request asks (`AdmitInput`), the answer
// (`Admitted` or `Refused`) and the settlement of its reservation. The decision itself is decide.ts; the
// configuration it decides under is token-config.ts.

/**
 * The credential a request presented, as the object checks it: the hash of a withering token's secret,
 * or the verified claims of an identity provider's JWT used as the API key (src/issuing/identity).
 */
export type Credential =
  | { kind: "secret"; hash: string }
  | { kind: "jwt"; providerId: string; providerVersion: number; subject: string; expiresAt: number };

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

export const TOKEN_NOT_FOUND: Refused = {
  ok: false,
  status: 401,
  code: "token_not_found",
  message: "The token is not known to this gateway.",
};

/** What the object counted for one request of a token with limits. */
export type Counted = Pick<Admitted, "remainingRequests" | "reservationId" | "allowance">;

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
