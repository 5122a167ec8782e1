import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { Capability, ObjectScope } from "../../ownership/capabilities";
import { type JsonObject, now, type PeriodBudget, type TokenWindow } from "./common";

/** A project's response cache (src/cache/): on when set. Stored as the management API spells it. */
export type CacheSettingsJson = { ttl_seconds: number; exclude: string[]; hits_skip_rate_limits: boolean };

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

export type Project = typeof projects.$inferSelect;
export type NewProject = typeof projects.$inferInsert;
