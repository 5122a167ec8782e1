import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { Capability, ObjectScope } from "../ownership/capabilities";

/** One rate window: at most `requests` requests in any `window_seconds`-long window. */
export type RateWindow = { requests: number; window_seconds: number };
/** One tokens-per-minute style window: at most `tokens` tokens in any `window_seconds`-long window. */
export type TokenWindow = { tokens: number; window_seconds: number };
export type Period = "hour" | "day" | "week" | "month";
/** Budgets that renew at the start of every calendar `period` (in the holder's time zone). */
export type PeriodBudget = {
  period: Period;
  max_requests?: number | null;
  max_tokens?: number | null;
  max_cost_usd?: number | null;
};
/** A project's response cache (src/cache/): on when set. Stored as the management API spells it. */
export type CacheSettingsJson = { ttl_seconds: number; exclude: string[]; hits_skip_rate_limits: boolean };
export type JsonObject = Record<string, unknown>;

// Timestamps are epoch milliseconds: cheap to compare in the Durable Object and in SQL.
const now = sql`(cast(unixepoch('subsecond') * 1000 as integer))`;

export const projects = sqliteTable(
  "projects",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    // Where requests go (provider, base URL, keys) lives in `upstreams` and `upstream_keys`.
    description: text("description"),
    metadata: text("metadata", { mode: "json" }).$type<JsonObject>(),
    /** Browser origins allowed to call the proxy with this project's tokens; null = any. */
    allowedOrigins: text("allowed_origins", { mode: "json" }).$type<string[]>(),
    /** Models every token of the project may use; null = all. */
    allowedModels: text("allowed_models", { mode: "json" }).$type<string[]>(),
    /** Project-wide caps across all its tokens; null = none. */
    maxRequests: integer("max_requests"),
    maxTotalTokens: integer("max_total_tokens"),
    maxCostUsd: real("max_cost_usd"),
    /** Project-wide budgets per calendar period, renewing by themselves; null = none. */
    periodBudgets: text("period_budgets", { mode: "json" }).$type<PeriodBudget[]>(),
    /** IANA time zone of the period budgets' calendar; null = UTC. */
    budgetTimeZone: text("budget_time_zone"),
    /** Project-wide tokens-per-window limits; null = none. */
    tokenRateLimits: text("token_rate_limits", { mode: "json" }).$type<TokenWindow[]>(),
    /** Defaults applied to new tokens of the project (duration, limits). */
    tokenDefaults: text("token_defaults", { mode: "json" }).$type<JsonObject>(),
    /** The response cache's settings; null = off (the default). */
    cache: text("cache", { mode: "json" }).$type<CacheSettingsJson>(),
    /**
     * Part of every cache key of the project: a purge adds one, so every entry stored before becomes
     * unreachable at once (entries are never listed or deleted; they expire with their TTL).
     */
    cacheGeneration: integer("cache_generation").notNull().default(0),
    /** Account-wide capabilities its tokens may use (files, batches, …; src/ownership/capabilities.ts). */
    capabilities: text("capabilities", { mode: "json" }).$type<Capability[]>().notNull().default([]),
    /** Who reaches an object a token created: `token` (only that token) or `project` (all its tokens). */
    objectScope: text("object_scope").$type<ObjectScope>().notNull().default("token"),
    isActive: integer("is_active", { mode: "boolean" }).notNull().default(true),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [uniqueIndex("projects_name_unique").on(t.name), index("projects_is_active_idx").on(t.isActive)],
);

/**
 * Where a project's requests can go: one provider at one base URL, with one or more keys. A project's first
 * upstream (lowest position) is its default: the old project fields (`provider`, `base_url`, `api_key`) act
 * on it.
 */
export const upstreams = sqliteTable(
  "upstreams",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    /** Unique per project; alias targets name upstreams by it. */
    name: text("name").notNull(),
    provider: text("provider").notNull(),
    baseUrl: text("base_url").notNull(),
    /** Model ids (exact, or `prefix*`) the upstream serves; null = any. */
    models: text("models", { mode: "json" }).$type<string[]>(),
    /** Provider-specific settings (Azure's api_version and deployments, …); null = none. */
    settings: text("settings", { mode: "json" }).$type<JsonObject>(),
    /** Time to the first byte of an answer before an attempt is given up; null = UPSTREAM_TIMEOUT_MS. */
    firstByteTimeoutMs: integer("first_byte_timeout_ms"),
    /** Upstream statuses retried on another key or target; null = 429, 500, 502, 503, 504, 529. */
    retryOn: text("retry_on", { mode: "json" }).$type<number[]>(),
    position: integer("position").notNull().default(0),
    isActive: integer("is_active", { mode: "boolean" }).notNull().default(true),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [uniqueIndex("upstreams_project_name_unique").on(t.projectId, t.name)],
);

/** An upstream's API keys, used by weight. Write-only: only the hint is ever shown. */
export const upstreamKeys = sqliteTable(
  "upstream_keys",
  {
    id: text("id").primaryKey(),
    upstreamId: text("upstream_id")
      .notNull()
      .references(() => upstreams.id, { onDelete: "cascade" }),
    /** `v1:<iv>:<ciphertext>` — AES-256-GCM under ENCRYPTION_KEY; never returned by any API. */
    keyEncrypted: text("key_encrypted").notNull(),
    keyHint: text("key_hint").notNull(),
    weight: integer("weight").notNull().default(1),
    isActive: integer("is_active", { mode: "boolean" }).notNull().default(true),
    /** Set when the upstream refused the key (401/403): it is taken out until rotated or re-enabled. */
    failingAt: integer("failing_at"),
    failingReason: text("failing_reason"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [index("upstream_keys_upstream_idx").on(t.upstreamId)],
);

/** One alias target: a model on one of the project's upstreams (by name). */
export type AliasTarget = { upstream: string; model: string; weight?: number };

/** A model name clients may ask for that the gateway maps to ordered or weighted targets. */
export const modelAliases = sqliteTable(
  "model_aliases",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    strategy: text("strategy", { enum: ["ordered", "weighted"] })
      .notNull()
      .default("ordered"),
    targets: text("targets", { mode: "json" }).notNull().$type<AliasTarget[]>(),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [uniqueIndex("model_aliases_project_name_unique").on(t.projectId, t.name)],
);

export const tokens = sqliteTable(
  "tokens",
  {
    id: text("id").primaryKey(),
    /** SHA-256 (hex) of the token secret; the secret itself is never stored. */
    tokenHash: text("token_hash").notNull(),
    tokenHint: text("token_hint").notNull(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    name: text("name"),
    expiresAt: integer("expires_at").notNull(),
    isActive: integer("is_active", { mode: "boolean" }).notNull().default(true),
    revokedAt: integer("revoked_at"),
    maxRequests: integer("max_requests"),
    rateLimits: text("rate_limits", { mode: "json" }).$type<RateWindow[]>(),
    maxTotalTokens: integer("max_total_tokens"),
    maxCostUsd: real("max_cost_usd"),
    allowedModels: text("allowed_models", { mode: "json" }).$type<string[]>(),
    /** false: the token never uses its project's response cache (no hits, nothing stored). */
    cacheAllowed: integer("cache_allowed", { mode: "boolean" }).notNull().default(true),
    metadata: text("metadata", { mode: "json" }).$type<JsonObject>(),
    /** Budgets per calendar period, renewing by themselves; null = none. */
    periodBudgets: text("period_budgets", { mode: "json" }).$type<PeriodBudget[]>(),
    /** IANA time zone of the period budgets' calendar; null = UTC. */
    budgetTimeZone: text("budget_time_zone"),
    /** Tokens-per-window limits (e.g. tokens per minute); null = none. */
    tokenRateLimits: text("token_rate_limits", { mode: "json" }).$type<TokenWindow[]>(),
    /**
     * Name of the Durable Object that admits this token's requests: the hash of its first secret (a token's
     * own object), or its end user's object. It never changes, so a rotated secret keeps the same counters.
     */
    objectKey: text("object_key").notNull().default(""),
    /** The secret replaced by the last rotation, accepted until `previous_valid_until`. */
    previousHash: text("previous_hash"),
    previousValidUntil: integer("previous_valid_until"),
    /** The token whose allowance this one was carved from (child tokens). */
    parentId: text("parent_id"),
    /** Whether the token may mint child tokens out of its own allowance. */
    canMint: integer("can_mint", { mode: "boolean" }).notNull().default(false),
    /** Who created it: `management_token`, `admin`, `issuing_key:<id>`, `token:<parent id>`, `identity:<id>`. */
    issuedBy: text("issued_by"),
    issuingKeyId: text("issuing_key_id"),
    /** The end user (identity provider subject) a token exchanged for a JWT belongs to. */
    endUserId: text("end_user_id"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
    /**
     * Set by the token's Durable Object when it first loads the token. Until then no object exists
     * for the token, and management calls must not create one (that would pin it to the admin's region).
     */
    firstUsedAt: integer("first_used_at"),
    /**
     * When the token's Durable Object last read its configuration from D1 (it re-reads it at least every
     * CONFIG_MAX_AGE_SECONDS while in use). A management change pushes itself only to objects that read
     * theirs since then: an object with an older copy reads D1 again before its next decision.
     */
    configLoadedAt: integer("config_loaded_at"),
    /** Mirrored from the Durable Object (source of truth) shortly after use. */
    lastUsedAt: integer("last_used_at"),
    requestCount: integer("request_count").notNull().default(0),
    totalTokensUsed: integer("total_tokens_used").notNull().default(0),
    costUsedUsd: real("cost_used_usd").notNull().default(0),
  },
  (t) => [
    uniqueIndex("tokens_hash_unique").on(t.tokenHash),
    index("tokens_project_idx").on(t.projectId),
    index("tokens_project_loaded_idx").on(t.projectId, t.configLoadedAt),
    index("tokens_expires_idx").on(t.expiresAt),
    index("tokens_active_idx").on(t.isActive),
    index("tokens_created_idx").on(t.createdAt, t.id),
    index("tokens_object_idx").on(t.objectKey),
    index("tokens_previous_hash_idx").on(t.previousHash),
    index("tokens_parent_idx").on(t.parentId),
    index("tokens_end_user_idx").on(t.endUserId),
  ],
);

export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull().default(now),
    /** `management_token`, `admin`, … */
    actor: text("actor").notNull(),
    /** e.g. `project.create`, `token.revoke` */
    action: text("action").notNull(),
    targetType: text("target_type"),
    targetId: text("target_id"),
    /** `ok` or the error code */
    result: text("result").notNull(),
    status: integer("status").notNull(),
    ip: text("ip"),
    details: text("details", { mode: "json" }).$type<JsonObject>(),
  },
  (t) => [index("audit_at_idx").on(t.at), index("audit_target_idx").on(t.targetId)],
);

/** Hourly usage rollups, one row per (hour, project, token, model); days and months are sums of hours. */
export const usageHourly = sqliteTable(
  "usage_hourly",
  {
    /** Start of the hour, epoch ms. */
    hour: integer("hour").notNull(),
    projectId: text("project_id").notNull(),
    /** Empty string for requests with no identified token. */
    tokenId: text("token_id").notNull(),
    /** Empty string when the model is unknown. */
    model: text("model").notNull(),
    requests: integer("requests").notNull().default(0),
    errors: integer("errors").notNull().default(0),
    promptTokens: integer("prompt_tokens").notNull().default(0),
    completionTokens: integer("completion_tokens").notNull().default(0),
    cachedTokens: integer("cached_tokens").notNull().default(0),
    reasoningTokens: integer("reasoning_tokens").notNull().default(0),
    estimatedRequests: integer("estimated_requests").notNull().default(0),
    costUsd: real("cost_usd").notNull().default(0),
    durationMsSum: integer("duration_ms_sum").notNull().default(0),
    /** Requests answered from the response cache (counted in `requests`, cost 0). */
    cacheHits: integer("cache_hits").notNull().default(0),
    /** Requests the cache could have answered but did not (sent upstream, then stored when cacheable). */
    cacheMisses: integer("cache_misses").notNull().default(0),
    /** What the cache hits would have cost: the price of the usage their original answers reported. */
    savedUsd: real("saved_usd").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.hour, t.projectId, t.tokenId, t.model] }),
    index("usage_project_hour_idx").on(t.projectId, t.hour),
    index("usage_token_hour_idx").on(t.tokenId, t.hour),
  ],
);

/**
 * Hourly health of upstreams and their keys, one row per (hour, project, upstream, key): requests they
 * served, how those ended, and attempts that failed there before another target or key answered.
 */
export const upstreamHourly = sqliteTable(
  "upstream_hourly",
  {
    hour: integer("hour").notNull(),
    projectId: text("project_id").notNull(),
    upstreamId: text("upstream_id").notNull(),
    /** Empty string for an upstream without keys. */
    keyId: text("key_id").notNull(),
    /** Requests this upstream and key answered (or failed last). */
    requests: integer("requests").notNull().default(0),
    /** Of those, answers that were the upstream's failure (5xx, broken connection, timeout). */
    errors: integer("errors").notNull().default(0),
    /** Attempts answered with 429, served or not. */
    rateLimited: integer("rate_limited").notNull().default(0),
    /** Attempts that failed here before another key or target answered. */
    failedAttempts: integer("failed_attempts").notNull().default(0),
    /** Time to first byte of the requests answered here (sum and count: requests without one are left out). */
    ttfbMsSum: integer("ttfb_ms_sum").notNull().default(0),
    ttfbCount: integer("ttfb_count").notNull().default(0),
    durationMsSum: integer("duration_ms_sum").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.hour, t.projectId, t.upstreamId, t.keyId] }),
    index("upstream_hourly_upstream_idx").on(t.upstreamId, t.hour),
  ],
);

/** Rejections without a valid token, counted by hour and error code (abuse monitoring). */
export const rejectionsHourly = sqliteTable(
  "rejections_hourly",
  {
    hour: integer("hour").notNull(),
    code: text("code").notNull(),
    count: integer("count").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.hour, t.code] })],
);

/**
 * Ledger of usage events already committed (rollups counted, R2 object key assigned): makes the queue
 * consumer idempotent when a batch is retried or redelivered.
 */
export const eventLedger = sqliteTable(
  "event_ledger",
  {
    eventId: text("event_id").primaryKey(),
    objectKey: text("object_key").notNull(),
    /** The JSON line, kept until the R2 object is confirmed written, then cleared. */
    line: text("line"),
    committedAt: integer("committed_at").notNull().default(now),
  },
  (t) => [
    index("event_ledger_object_idx").on(t.objectKey),
    index("event_ledger_committed_idx").on(t.committedAt),
  ],
);

/** Limits a token created by an issuing key (or exchanged for a JWT) may not go beyond. */
export type Ceilings = {
  max_duration_minutes?: number | null;
  max_requests?: number | null;
  max_tokens?: number | null;
  max_cost_usd?: number | null;
  period_budgets?: PeriodBudget[] | null;
  allowed_models?: string[] | null;
  /** Whether tokens it creates may mint children. */
  allow_minting?: boolean;
};

/**
 * Keys that create, list and revoke the tokens of one project, and nothing else, within ceilings: what an
 * app's backend holds instead of the MANAGEMENT_TOKEN. Stored as hashes, like tokens.
 */
export const issuingKeys = sqliteTable(
  "issuing_keys",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    keyHash: text("key_hash").notNull(),
    keyHint: text("key_hint").notNull(),
    ceilings: text("ceilings", { mode: "json" }).$type<Ceilings>().notNull(),
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
    lastUsedAt: integer("last_used_at"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("issuing_keys_hash_unique").on(t.keyHash),
    index("issuing_keys_project_idx").on(t.projectId),
  ],
);

/** The limits of one end user across all of their tokens (and JWTs used directly). */
export type UserLimits = {
  max_requests?: number | null;
  rate_limit?: RateWindow[] | null;
  max_tokens?: number | null;
  max_cost_usd?: number | null;
  period_budgets?: PeriodBudget[] | null;
  budget_time_zone?: string | null;
  token_rate_limit?: TokenWindow[] | null;
  allowed_models?: string[] | null;
};

/**
 * An identity provider a project trusts: its users' JWTs (verified against a JWKS URL or a shared HS256
 * secret, issuer and audience) are exchanged for withering tokens or, if allowed, used as API keys.
 */
export const identityProviders = sqliteTable(
  "identity_providers",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    issuer: text("issuer").notNull(),
    audience: text("audience").notNull(),
    jwksUrl: text("jwks_url"),
    /** `v1:<iv>:<ciphertext>` of the HS256 secret — AES-256-GCM under ENCRYPTION_KEY; never returned. */
    secretEncrypted: text("secret_encrypted"),
    algorithms: text("algorithms", { mode: "json" }).$type<string[]>().notNull(),
    /** How long a fetched key set is trusted before it is fetched again (an unknown key id refetches sooner). */
    jwksCacheSeconds: integer("jwks_cache_seconds").notNull().default(600),
    /** Whether the JWT itself may be used as the API key on /v1. */
    allowDirect: integer("allow_direct", { mode: "boolean" }).notNull().default(false),
    userLimits: text("user_limits", { mode: "json" }).$type<UserLimits>(),
    tokenDurationMinutes: integer("token_duration_minutes").notNull().default(60),
    maxTokenDurationMinutes: integer("max_token_duration_minutes").notNull().default(1440),
    maxActiveTokensPerUser: integer("max_active_tokens_per_user").notNull().default(10),
    isActive: integer("is_active", { mode: "boolean" }).notNull().default(true),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("identity_providers_issuer_audience_unique").on(t.issuer, t.audience),
    index("identity_providers_project_idx").on(t.projectId),
  ],
);

/** An end user of a project, known by an identity provider's subject: the key of their own limits. */
export const endUsers = sqliteTable(
  "end_users",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    providerId: text("provider_id")
      .notNull()
      .references(() => identityProviders.id, { onDelete: "cascade" }),
    subject: text("subject").notNull(),
    /** Name of the user's Durable Object: SHA-256 of project, issuer and subject. */
    objectKey: text("object_key").notNull(),
    /** Limits of this user instead of the provider's `user_limits`; null = the provider's. */
    limits: text("limits", { mode: "json" }).$type<UserLimits>(),
    isActive: integer("is_active", { mode: "boolean" }).notNull().default(true),
    revokedAt: integer("revoked_at"),
    firstUsedAt: integer("first_used_at"),
    /** When the user's object last read its configuration from D1 (see tokens.config_loaded_at). */
    configLoadedAt: integer("config_loaded_at"),
    lastUsedAt: integer("last_used_at"),
    requestCount: integer("request_count").notNull().default(0),
    totalTokensUsed: integer("total_tokens_used").notNull().default(0),
    costUsedUsd: real("cost_used_usd").notNull().default(0),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("end_users_object_unique").on(t.objectKey),
    index("end_users_project_loaded_idx").on(t.projectId, t.configLoadedAt),
    uniqueIndex("end_users_provider_subject_unique").on(t.providerId, t.subject),
    index("end_users_project_idx").on(t.projectId),
  ],
);

export type Project = typeof projects.$inferSelect;
export type NewProject = typeof projects.$inferInsert;
export type Token = typeof tokens.$inferSelect;
export type NewToken = typeof tokens.$inferInsert;
export type AuditEntry = typeof auditLog.$inferSelect;
export type IssuingKey = typeof issuingKeys.$inferSelect;
export type IdentityProvider = typeof identityProviders.$inferSelect;
export type EndUser = typeof endUsers.$inferSelect;
export type Upstream = typeof upstreams.$inferSelect;
export type NewUpstream = typeof upstreams.$inferInsert;
export type UpstreamKey = typeof upstreamKeys.$inferSelect;
export type NewUpstreamKey = typeof upstreamKeys.$inferInsert;
export type ModelAlias = typeof modelAliases.$inferSelect;
export type NewModelAlias = typeof modelAliases.$inferInsert;
