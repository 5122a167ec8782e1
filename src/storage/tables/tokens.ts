import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { type JsonObject, now, type PeriodBudget, type RateWindow, type TokenWindow } from "./common";
import { projects } from "./projects";

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

export type Token = typeof tokens.$inferSelect;
export type NewToken = typeof tokens.$inferInsert;
