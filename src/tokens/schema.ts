import { z } from "zod";
import { iso, Metadata, ModelList, Name, Timestamp, Uuid } from "../lib/schemas";
import { toUsd } from "../limits/budget";
import { PeriodState, periodStates, renewingFields, TokenWindowStateOut } from "../limits/schemas";
import type { RateWindow, Token as TokenRow } from "../storage/schema";
import type { TokenLiveState } from "./durable-counters";
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
  ...renewingFields,
};

/** The limit fields a create request may leave out (the project's defaults, or no limit). */
const optionalLimits = {
  max_requests: true,
  rate_limit: true,
  max_tokens: true,
  max_cost_usd: true,
  allowed_models: true,
  period_budgets: true,
  budget_time_zone: true,
  token_rate_limit: true,
} as const;

const CanMint = z
  .boolean()
  .describe("The token may mint child tokens out of its own budgets (POST /issue/children)");

/** Whether the token may use its project's response cache (when the project has it on). */
const CacheAllowed = z
  .boolean()
  .describe("false: the token never uses its project's response cache (default true)");

/** The fields of one token to create, without its project (shared by single and batch creation). */
export const tokenTemplate = {
  duration_minutes: DurationMinutes.optional(),
  expires_at: Timestamp.optional(),
  name: Name.optional(),
  metadata: Metadata.optional(),
  can_mint: CanMint.optional(),
  cache: CacheAllowed.optional(),
  ...limitFields,
};

export const TokenCreate = z
  .strictObject({
    project_id: Uuid.optional().describe(
      "Required with the management token; an issuing key's own project by default",
    ),
    ...tokenTemplate,
  })
  .partial(optionalLimits)
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
    can_mint: CanMint,
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

export const MAX_BATCH = 1_000;

export const TokenBatchCreate = z
  .strictObject({
    project_id: Uuid.optional().describe(
      "Required with the management token; an issuing key's own project by default",
    ),
    count: z.number().int().min(1).max(MAX_BATCH).optional().describe("How many tokens (or names.length)"),
    names: z.array(Name).min(1).max(MAX_BATCH).optional().describe("One name per token"),
    ...tokenTemplate,
    name: Name.optional().describe("A name prefix: tokens are named <name>-1, <name>-2, …"),
  })
  .partial(optionalLimits)
  .refine((b) => b.count !== undefined || b.names !== undefined, {
    message: "give count or names",
    path: ["count"],
  })
  .refine((b) => b.count === undefined || b.names === undefined || b.names.length === b.count, {
    message: "count must equal the number of names",
    path: ["count"],
  })
  .refine((b) => b.name === undefined || b.names === undefined, {
    message: "give either a name prefix or names",
    path: ["names"],
  })
  .refine((t) => t.duration_minutes === undefined || t.expires_at === undefined, {
    message: "give either duration_minutes or expires_at, not both",
    path: ["expires_at"],
  });
export type TokenBatchCreate = z.infer<typeof TokenBatchCreate>;

export const MAX_GRACE_SECONDS = 7 * 86_400;

export const TokenRotate = z.strictObject({
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(MAX_GRACE_SECONDS)
    .default(3_600)
    .describe("How long the previous secret keeps working (default 1 hour, at most 7 days; 0 = stop now)"),
});

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
  periods: z.array(PeriodState).describe("Budgets per period: the current period's use and when it renews"),
  token_windows: z.array(TokenWindowStateOut),
  escrow: z
    .object({
      children: z.number().describe("Child tokens whose allowance is still held"),
      requests: z.number(),
      tokens: z.number(),
      cost_usd: z.number(),
    })
    .describe("What child tokens hold of this token's budgets (counted as committed here)"),
  project: z
    .object({
      requests: z.object({ used: z.number(), remaining: z.number().nullable() }),
      tokens: BudgetState,
      cost_usd: BudgetState,
      periods: z.array(PeriodState),
      token_windows: z.array(TokenWindowStateOut),
    })
    .nullable()
    .describe("The project's caps across all its tokens, when it has any"),
});
type Allowance = z.infer<typeof Allowance>;

function budget(used: number, reserved: number, left: number | null) {
  return { used, reserved, remaining: left };
}

export function allowanceOf(live: TokenLiveState): Allowance {
  const { ledger } = live;
  const project = live.project;
  const own = live.ownRemaining;
  return {
    requests: { used: ledger.requests, remaining: own.requests },
    windows: live.windows,
    tokens: budget(ledger.tokensUsed, ledger.tokensReserved, own.tokens),
    cost_usd: budget(toUsd(ledger.costUsedNanos), toUsd(ledger.costReservedNanos), own.costUsd),
    open_reservations: live.openReservations,
    periods: periodStates(live.periods),
    token_windows: live.tokenWindows,
    escrow: {
      children: live.escrow.children,
      requests: live.escrow.requests,
      tokens: live.escrow.tokens,
      cost_usd: toUsd(live.escrow.costNanos),
    },
    project: project
      ? {
          periods: periodStates(project.periods),
          token_windows: project.tokenWindows,
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
  period_budgets: z
    .array(
      z.object({
        period: z.string(),
        max_requests: z.number().nullable().optional(),
        max_tokens: z.number().nullable().optional(),
        max_cost_usd: z.number().nullable().optional(),
      }),
    )
    .nullable(),
  budget_time_zone: z.string().nullable(),
  token_rate_limit: z.array(z.object({ tokens: z.number(), window_seconds: z.number() })).nullable(),
  can_mint: z.boolean(),
  parent_id: z.string().nullable().describe("The token this one was carved from"),
  issued_by: z
    .string()
    .nullable()
    .describe("management_token, admin, issuing_key:<id>, token:<id> or identity:<id>"),
  end_user_id: z.string().nullable().describe("The end user a token exchanged for a JWT belongs to"),
  previous_secret_valid_until: z
    .string()
    .nullable()
    .describe("After a rotation: until when the previous secret still works"),
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

export const CreatedTokens = z.object({ data: z.array(CreatedToken) });

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
    period_budgets: t.periodBudgets,
    budget_time_zone: t.budgetTimeZone,
    token_rate_limit: t.tokenRateLimits,
    can_mint: t.canMint,
    parent_id: t.parentId,
    issued_by: t.issuedBy,
    end_user_id: t.endUserId,
    previous_secret_valid_until: t.previousHash ? iso(t.previousValidUntil) : null,
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
