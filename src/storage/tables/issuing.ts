// Who may create tokens besides the operator: issuing keys, identity providers and their end users.
import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { now, type PeriodBudget, type RateWindow, type TokenWindow } from "./common";
import { projects } from "./projects";

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

export type IssuingKey = typeof issuingKeys.$inferSelect;
export type IdentityProvider = typeof identityProviders.$inferSelect;
export type EndUser = typeof endUsers.$inferSelect;
