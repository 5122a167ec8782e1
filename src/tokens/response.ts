// What the API answers about a token: its fields, and its live allowance from the token's Durable Object.
// The request schemas are in schema.ts.
import { z } from "zod";
import { iso } from "../lib/schemas";
import { toUsd } from "../limits/budget";
import { PeriodState, periodStates, TokenWindowStateOut } from "../limits/schemas";
import type { Token as TokenRow } from "../storage/schema";
import type { TokenLiveState } from "./durable-counters";
import { tokenStatus } from "./status";

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
