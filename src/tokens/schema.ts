import { z } from "zod";
import { iso, Metadata, ModelList, Name, Timestamp, Uuid } from "../lib/schemas";
import { toUsd } from "../limits/budget";
import type { RateWindow, Token as TokenRow } from "../storage/schema";
import type { TokenLiveState } from "./durable";
import { tokenStatus } from "./status";

export const MAX_DURATION_MINUTES = 525_600;

const DurationMinutes = z
  .number({ message: "must be a number of minutes" })
  .int("must be a whole number of minutes")
  .min(1, "must be at least 1 minute")
  .max(MAX_DURATION_MINUTES, `must be at most ${MAX_DURATION_MINUTES} minutes (one year)`);

/** The most requests one rate window may allow: the window keeps one timestamp per request it may count. */
export const MAX_WINDOW_REQUESTS = 100_000;

const RateWindowInput = z.strictObject({
  requests: z.number().int().min(1).max(MAX_WINDOW_REQUESTS),
  window_seconds: z
    .number()
    .int()
    .min(1)
    .max(31 * 86_400),
});

/** One window or several: `{requests, window_seconds}` or a list of them. */
export const RateLimit = z
  .union([RateWindowInput, z.array(RateWindowInput).min(1).max(10)])
  .transform((v): RateWindow[] => (Array.isArray(v) ? v : [v]));

/** Limit fields of a token, shared with the project's `token_defaults`. */
export const limitFields = {
  max_requests: z.number().int().min(1).max(1_000_000_000).nullable(),
  rate_limit: RateLimit.nullable(),
  max_tokens: z.number().int().min(1).nullable().describe("Budget of total tokens (prompt + completion)"),
  max_cost_usd: z.number().positive().max(1_000_000).nullable().describe("Budget in US dollars"),
  allowed_models: ModelList.nullable(),
};

/** Whether the token may use its project's response cache (when the project has it on). */
const CacheAllowed = z
  .boolean()
  .describe("false: the token never uses its project's response cache (default true)");

export const TokenCreate = z
  .strictObject({
    project_id: Uuid,
    duration_minutes: DurationMinutes.optional(),
    expires_at: Timestamp.optional(),
    name: Name.optional(),
    metadata: Metadata.optional(),
    cache: CacheAllowed.optional(),
    ...limitFields,
  })
  .partial({
    max_requests: true,
    rate_limit: true,
    max_tokens: true,
    max_cost_usd: true,
    allowed_models: true,
  })
  .refine((t) => t.duration_minutes === undefined || t.expires_at === undefined, {
    message: "give either duration_minutes or expires_at, not both",
    path: ["expires_at"],
  });
export type TokenCreate = z.infer<typeof TokenCreate>;

export const TokenPatch = z
  .strictObject({
    name: Name.nullable(),
    metadata: Metadata.nullable(),
    duration_minutes: DurationMinutes.describe("New expiry, counted from now"),
    expires_at: Timestamp,
    is_active: z.boolean(),
    cache: CacheAllowed,
    ...limitFields,
  })
  .partial()
  .refine((p) => Object.keys(p).length > 0, "the patch has no fields to change")
  .refine((t) => t.duration_minutes === undefined || t.expires_at === undefined, {
    message: "give either duration_minutes or expires_at, not both",
    path: ["expires_at"],
  });
export type TokenPatch = z.infer<typeof TokenPatch>;

export const RevokeByValue = z.strictObject({ token: z.string().min(1).max(200) });

export const TokenListQuery = z.object({
  project_id: Uuid.optional(),
  status: z.enum(["active", "expired", "revoked", "inactive"]).optional(),
  search: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(400).optional(),
});

const WindowState = z.object({
  requests: z.number(),
  window_seconds: z.number(),
  used: z.number().describe("Requests admitted in the last window_seconds"),
  remaining: z.number(),
  reset_seconds: z.number().describe("Seconds until the window admits one more request; 0 = now"),
});

const BudgetState = z.object({
  used: z.number().describe("Settled real usage"),
  reserved: z.number().describe("Held by requests still running"),
  remaining: z.number().nullable().describe("Limit minus used minus reserved; null = unlimited"),
});

const Allowance = z.object({
  requests: z.object({ used: z.number(), remaining: z.number().nullable() }),
  windows: z.array(WindowState),
  tokens: BudgetState,
  cost_usd: BudgetState,
  open_reservations: z.number(),
  project: z
    .object({
      requests: z.object({ used: z.number(), remaining: z.number().nullable() }),
      tokens: BudgetState,
      cost_usd: BudgetState,
    })
    .nullable()
    .describe("The project's caps across all its tokens, when it has any"),
});
type Allowance = z.infer<typeof Allowance>;

function budget(used: number, reserved: number, left: number | null) {
  return { used, reserved, remaining: left };
}

function allowanceOf(live: TokenLiveState): Allowance {
  const { ledger } = live;
  const project = live.project;
  const own = live.ownRemaining;
  return {
    requests: { used: ledger.requests, remaining: own.requests },
    windows: live.windows,
    tokens: budget(ledger.tokensUsed, ledger.tokensReserved, own.tokens),
    cost_usd: budget(toUsd(ledger.costUsedNanos), toUsd(ledger.costReservedNanos), own.costUsd),
    open_reservations: live.openReservations,
    project: project
      ? {
          requests: { used: project.ledger.requests, remaining: project.remaining?.requests ?? null },
          tokens: budget(
            project.ledger.tokensUsed,
            project.ledger.tokensReserved,
            project.remaining?.tokens ?? null,
          ),
          cost_usd: budget(
            toUsd(project.ledger.costUsedNanos),
            toUsd(project.ledger.costReservedNanos),
            project.remaining?.costUsd ?? null,
          ),
        }
      : null,
  };
}

export const Token = z.object({
  id: z.uuid(),
  token_hint: z.string(),
  project_id: z.uuid(),
  name: z.string().nullable(),
  status: z.enum(["active", "expired", "revoked", "inactive"]),
  expires_at: z.string(),
  is_active: z.boolean(),
  revoked_at: z.string().nullable(),
  max_requests: z.number().nullable(),
  rate_limit: z.array(z.object({ requests: z.number(), window_seconds: z.number() })).nullable(),
  max_tokens: z.number().nullable(),
  max_cost_usd: z.number().nullable(),
  allowed_models: z.array(z.string()).nullable(),
  cache: z.boolean().describe("Whether the token may use its project's response cache"),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  request_count: z.number(),
  remaining_requests: z.number().nullable(),
  total_tokens_used: z.number(),
  cost_used_usd: z.number(),
  allowance: Allowance.nullable().describe(
    "Live state from the token's Durable Object; null until the token is first used",
  ),
  created_at: z.string(),
  updated_at: z.string(),
  last_used_at: z.string().nullable(),
});
export type Token = z.infer<typeof Token>;

export const CreatedToken = Token.extend({
  token: z.string().describe("The token secret. Shown only in this response: store it now."),
});

export function toToken(t: TokenRow, live?: TokenLiveState): Token {
  const requestCount = Math.max(t.requestCount, live?.requests ?? 0);
  const lastUsedAt = live?.lastUsedAt ?? t.lastUsedAt;
  const remainingRequests =
    live?.remaining.requests ?? (t.maxRequests === null ? null : Math.max(0, t.maxRequests - requestCount));
  return {
    id: t.id,
    token_hint: t.tokenHint,
    project_id: t.projectId,
    name: t.name,
    status: tokenStatus(t),
    expires_at: iso(t.expiresAt)!,
    is_active: t.isActive,
    revoked_at: iso(t.revokedAt),
    max_requests: t.maxRequests,
    rate_limit: t.rateLimits,
    max_tokens: t.maxTotalTokens,
    max_cost_usd: t.maxCostUsd,
    allowed_models: t.allowedModels,
    cache: t.cacheAllowed,
    metadata: t.metadata,
    request_count: requestCount,
    remaining_requests: remainingRequests,
    total_tokens_used: live?.ledger.tokensUsed ?? t.totalTokensUsed,
    cost_used_usd: live ? toUsd(live.ledger.costUsedNanos) : t.costUsedUsd,
    allowance: live ? allowanceOf(live) : null,
    created_at: iso(t.createdAt)!,
    updated_at: iso(t.updatedAt)!,
    last_used_at: iso(lastUsedAt),
  };
}
