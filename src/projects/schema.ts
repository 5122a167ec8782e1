import { z } from "zod";
import { CACHEABLE_ENDPOINTS, MAX_TTL_SECONDS, MIN_TTL_SECONDS } from "../cache/settings";
import { Description, iso, Metadata, ModelList, Name, Uuid } from "../lib/schemas";
import { toUsd } from "../limits/budget";
import { PeriodState, periodStates, renewingFields, TokenWindowStateOut } from "../limits/schemas";
import { CAPABILITIES, CAPABILITY_ENDPOINTS, OBJECT_SCOPES } from "../ownership/capabilities";
import { SettingsInput } from "../providers/settings";
import { limitFields, MAX_DURATION_MINUTES } from "../tokens/schema";
import { ApiKey, BaseUrl, PROVIDERS } from "../upstreams/schema";
import type { ProjectLiveState } from "./durable";
import type { ProjectWithUpstream } from "./repo";

const Origin = z
  .string()
  .max(500)
  .refine(
    (o) => o === "*" || /^https?:\/\/[^/\s]+$/.test(o),
    "must be '*' or an origin like https://app.example.com",
  );

/** Limits given to new tokens of the project unless the create request sets them itself. */
export const TokenDefaults = z
  .strictObject({
    duration_minutes: z.number().int().min(1).max(MAX_DURATION_MINUTES),
    ...limitFields,
  })
  .partial();
export type TokenDefaults = z.infer<typeof TokenDefaults>;

/** Caps across all tokens of the project (null = none); checked by the project's Durable Object. */
const projectLimitFields = {
  max_requests: z.number().int().min(1).max(1_000_000_000).nullable(),
  max_tokens: z
    .number()
    .int()
    .min(1)
    .nullable()
    .describe("Budget of total tokens across the project's tokens"),
  max_cost_usd: z
    .number()
    .positive()
    .max(1_000_000)
    .nullable()
    .describe("Budget in US dollars across the project's tokens"),
  ...renewingFields,
};

/** The project's response cache (docs/cache.md). */
export const CacheSettings = z
  .strictObject({
    ttl_seconds: z
      .number()
      .int()
      .min(MIN_TTL_SECONDS)
      .max(MAX_TTL_SECONDS)
      .describe("How long an answer is served from the cache, in seconds (at most 30 days)"),
    exclude: z
      .array(z.enum(CACHEABLE_ENDPOINTS))
      .max(CACHEABLE_ENDPOINTS.length)
      .default([])
      .describe("Endpoints kept out of the cache"),
    hits_skip_rate_limits: z
      .boolean()
      .default(false)
      .describe("Cache hits take no slot in tokens' rate windows (they still count against max_requests)"),
  })
  .describe("The response cache: on with these settings; null = off (the default)");
const Capabilities = z
  .array(z.enum(CAPABILITIES))
  .max(CAPABILITIES.length)
  .transform((list) => [...new Set(list)])
  .describe(
    "Account-wide capabilities the project's tokens may use; [] (the default) = inference only. " +
      Object.entries(CAPABILITY_ENDPOINTS)
        .map(([name, what]) => `${name}: ${what}`)
        .join("; "),
  );

const ObjectScope = z
  .enum(OBJECT_SCOPES)
  .describe(
    "Who reaches an object (file, batch, vector store, response, …) a token created: 'token' (the default) " +
      "only that token, 'project' every token of the project. Never another project's tokens.",
  );

export const ProjectCreate = z.strictObject({
  name: Name,
  api_key: ApiKey.describe("The upstream provider's API key; stored encrypted, never returned"),
  provider: z.enum(PROVIDERS).default("openai").describe("Of the project's `default` upstream"),
  base_url: BaseUrl.optional().describe(
    "Of the project's `default` upstream. Default per provider: openai https://api.openai.com/v1, anthropic " +
      "https://api.anthropic.com/v1, gemini https://generativelanguage.googleapis.com/v1beta; azure: the " +
      "resource endpoint (required)",
  ),
  provider_settings: SettingsInput.nullable().optional().describe("Of the project's `default` upstream"),
  description: Description.optional(),
  metadata: Metadata.optional(),
  allowed_origins: z.array(Origin).max(100).nullable().optional(),
  allowed_models: ModelList.nullable().optional(),
  token_defaults: TokenDefaults.nullable().optional(),
  max_requests: projectLimitFields.max_requests.optional(),
  max_tokens: projectLimitFields.max_tokens.optional(),
  max_cost_usd: projectLimitFields.max_cost_usd.optional(),
  period_budgets: projectLimitFields.period_budgets.optional(),
  budget_time_zone: projectLimitFields.budget_time_zone.optional(),
  token_rate_limit: projectLimitFields.token_rate_limit.optional(),
  cache: CacheSettings.nullable().optional(),
  capabilities: Capabilities.optional(),
  object_scope: ObjectScope.optional(),
});
export type ProjectCreate = z.infer<typeof ProjectCreate>;

export const ProjectPatch = z
  .strictObject({
    name: Name,
    api_key: ApiKey.describe("Rotates the first key of the project's first upstream"),
    provider: z.enum(PROVIDERS).describe("Of the project's first upstream"),
    base_url: BaseUrl.describe(
      "Of the project's first upstream. Another host (scheme, host or port) only together with api_key: the stored key is never sent to a new host",
    ),
    provider_settings: SettingsInput.nullable(),
    description: Description.nullable(),
    metadata: Metadata.nullable(),
    allowed_origins: z.array(Origin).max(100).nullable(),
    allowed_models: ModelList.nullable(),
    token_defaults: TokenDefaults.nullable(),
    is_active: z.boolean(),
    cache: CacheSettings.nullable(),
    capabilities: Capabilities,
    object_scope: ObjectScope,
    ...projectLimitFields,
  })
  .partial()
  .refine((p) => Object.keys(p).length > 0, "the patch has no fields to change");
export type ProjectPatch = z.infer<typeof ProjectPatch>;

export const ProjectId = Uuid;

const Budget = z.object({ used: z.number(), reserved: z.number(), remaining: z.number().nullable() });

const ProjectUsage = z.object({
  requests: z.object({ used: z.number(), remaining: z.number().nullable() }),
  tokens: Budget,
  cost_usd: Budget,
  open_reservations: z.number(),
  periods: z.array(PeriodState).optional().describe("Budgets per period (present when the project has any)"),
  token_windows: z.array(TokenWindowStateOut).optional().describe("Token windows (present when it has any)"),
});

function usageOf(live: ProjectLiveState): z.infer<typeof ProjectUsage> {
  const { ledger, remaining } = live;
  return {
    requests: { used: ledger.requests, remaining: remaining?.requests ?? null },
    tokens: {
      used: ledger.tokensUsed,
      reserved: ledger.tokensReserved,
      remaining: remaining?.tokens ?? null,
    },
    cost_usd: {
      used: toUsd(ledger.costUsedNanos),
      reserved: toUsd(ledger.costReservedNanos),
      remaining: remaining?.costUsd ?? null,
    },
    open_reservations: live.openReservations,
    ...(live.periods.length > 0 ? { periods: periodStates(live.periods) } : {}),
    ...(live.tokenWindows.length > 0 ? { token_windows: live.tokenWindows } : {}),
  };
}

export const Project = z.object({
  id: z.uuid(),
  name: z.string(),
  provider: z.string().nullable().describe("Of the project's first upstream (null when it has none)"),
  base_url: z.string().nullable().describe("Of the project's first upstream"),
  provider_settings: z.record(z.string(), z.unknown()).nullable().describe("Of the project's first upstream"),
  api_key_hint: z.string().nullable().describe("A masked hint of the first upstream's first key"),
  description: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  allowed_origins: z.array(z.string()).nullable(),
  allowed_models: z.array(z.string()).nullable(),
  token_defaults: z.record(z.string(), z.unknown()).nullable(),
  max_requests: z.number().nullable(),
  max_tokens: z.number().nullable(),
  max_cost_usd: z.number().nullable(),
  period_budgets: z.array(z.record(z.string(), z.unknown())).nullable(),
  budget_time_zone: z.string().nullable(),
  token_rate_limit: z.array(z.object({ tokens: z.number(), window_seconds: z.number() })).nullable(),
  cache: z
    .object({ ttl_seconds: z.number(), exclude: z.array(z.string()), hits_skip_rate_limits: z.boolean() })
    .nullable()
    .describe("The response cache's settings; null = off"),
  cache_generation: z
    .number()
    .int()
    .describe("Part of every cache key of the project; each purge adds one (older entries are unreachable)"),
  capabilities: z.array(z.enum(CAPABILITIES)),
  object_scope: z.enum(OBJECT_SCOPES),
  usage: ProjectUsage.nullable().describe(
    "Live counters of the project-wide caps; null when the project has none or no token was used",
  ),
  is_active: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type Project = z.infer<typeof Project>;

export const ProjectListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  // The last name of the previous page: 200 characters of CJK or emoji are up to 800 bytes of UTF-8.
  cursor: z.string().max(1200).optional(),
  is_active: z.enum(["true", "false"]).optional(),
});

/** The answer to revoking every token of a project. */
export const RevokedCount = z.object({ revoked_count: z.number().int() });

/** The answer to purging a project's cache. */
export const CachePurged = z.object({
  cache_generation: z.number().int().describe("The project's new cache generation"),
});

export function toProject(p: ProjectWithUpstream, live?: ProjectLiveState | null): Project {
  return {
    id: p.id,
    name: p.name,
    provider: p.upstream?.provider ?? null,
    base_url: p.upstream?.baseUrl ?? null,
    provider_settings: p.upstream?.settings ?? null,
    api_key_hint: p.upstream?.keyHint ?? null,
    description: p.description,
    metadata: p.metadata,
    allowed_origins: p.allowedOrigins,
    allowed_models: p.allowedModels,
    token_defaults: p.tokenDefaults,
    max_requests: p.maxRequests,
    max_tokens: p.maxTotalTokens,
    max_cost_usd: p.maxCostUsd,
    period_budgets: p.periodBudgets,
    budget_time_zone: p.budgetTimeZone,
    token_rate_limit: p.tokenRateLimits,
    cache: p.cache,
    cache_generation: p.cacheGeneration,
    capabilities: p.capabilities,
    object_scope: p.objectScope,
    usage: live ? usageOf(live) : null,
    is_active: p.isActive,
    created_at: iso(p.createdAt)!,
    updated_at: iso(p.updatedAt)!,
  };
}
