// What clients send to manage tokens: create (one or a batch), patch, rotate, revoke by value, list. What the
// API answers about a token is in response.ts.
import { z } from "zod";
import { Metadata, ModelList, Name, Timestamp, Uuid } from "../lib/schemas";
import { renewingFields } from "../limits/schemas";
import type { RateWindow } from "../storage/schema";

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
