// Where a project's requests go: its upstreams, their keys, and the model aliases that pick among them.
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { type JsonObject, now } from "./common";
import { projects } from "./projects";

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

export type Upstream = typeof upstreams.$inferSelect;
export type NewUpstream = typeof upstreams.$inferInsert;
export type UpstreamKey = typeof upstreamKeys.$inferSelect;
export type NewUpstreamKey = typeof upstreamKeys.$inferInsert;
export type ModelAlias = typeof modelAliases.$inferSelect;
export type NewModelAlias = typeof modelAliases.$inferInsert;
