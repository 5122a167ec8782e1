import { z } from "zod";
import { iso, ModelList, Name, Uuid } from "../../lib/schemas";
import { renewingFields } from "../../limits/schemas";
import type {
  EndUser as EndUserRow,
  IdentityProvider as ProviderRow,
  UserLimits as UserLimitsRow,
} from "../../storage/schema";
import { RateLimit } from "../../tokens/schema";

export const JWKS_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"] as const;
export const SECRET_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;
/** A shared secret shorter than this is guessable offline from one JWT. */
export const MIN_SECRET_CHARS = 32;

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

const JwksUrl = z
  .url({ protocol: /^https?$/, message: "must be an https URL" })
  .max(2000)
  .refine((u) => {
    const url = new URL(u);
    return url.protocol === "https:" || LOOPBACK.test(url.hostname);
  }, "must be https (http only for localhost, for local development)");

/** Limits of every end user of the provider, across all of the user's tokens and JWTs. */
export const UserLimitsInput = z
  .strictObject({
    max_requests: z.number().int().min(1).max(1_000_000_000).nullable(),
    rate_limit: RateLimit.nullable(),
    max_tokens: z.number().int().min(1).nullable(),
    max_cost_usd: z.number().positive().max(1_000_000).nullable(),
    allowed_models: ModelList.nullable(),
    ...renewingFields,
  })
  .partial()
  .transform((l): UserLimitsRow => l);

const providerFields = {
  name: Name,
  issuer: z.string().trim().min(1).max(500).describe("The JWTs' `iss`, exactly"),
  audience: z.string().trim().min(1).max(500).describe("The `aud` the JWTs must carry"),
  jwks_url: JwksUrl.describe("Where the provider publishes its keys (RS/ES/PS/EdDSA)"),
  hs256_secret: z
    .string()
    .min(MIN_SECRET_CHARS, `must be at least ${MIN_SECRET_CHARS} characters`)
    .max(4096)
    .describe("A shared secret for HS256/384/512 JWTs; stored encrypted, never returned"),
  algorithms: z
    .array(z.enum([...JWKS_ALGORITHMS, ...SECRET_ALGORITHMS]))
    .min(1)
    .max(10),
  allow_direct: z.boolean().describe("Accept the JWT itself as the API key on /v1"),
  user_limits: UserLimitsInput.nullable().describe("Limits per end user across all their tokens"),
  token_duration_minutes: z
    .number()
    .int()
    .min(1)
    .max(525_600)
    .describe("Life of an exchanged token (default 60)"),
  max_token_duration_minutes: z
    .number()
    .int()
    .min(1)
    .max(525_600)
    .describe("The longest an exchange may ask for (default 1440)"),
  max_active_tokens_per_user: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .describe("Exchanged tokens alive at once per user"),
  jwks_cache_seconds: z.number().int().min(0).max(86_400).describe("How long a fetched key set is trusted"),
};

const kindRules = <
  T extends { jwks_url?: string | null; hs256_secret?: string | null; algorithms?: string[] },
>(
  p: T,
  ctx: z.RefinementCtx,
) => {
  const secret = (SECRET_ALGORITHMS as readonly string[]).includes.bind(SECRET_ALGORITHMS);
  if (p.jwks_url && p.hs256_secret) {
    ctx.addIssue({
      code: "custom",
      message: "give jwks_url or hs256_secret, not both",
      path: ["hs256_secret"],
    });
  }
  if (p.algorithms && p.jwks_url && p.algorithms.some(secret)) {
    ctx.addIssue({
      code: "custom",
      message: "a JWKS provider uses asymmetric algorithms only",
      path: ["algorithms"],
    });
  }
  if (p.algorithms && p.hs256_secret && !p.algorithms.every(secret)) {
    ctx.addIssue({
      code: "custom",
      message: "a shared-secret provider uses HS256/384/512 only",
      path: ["algorithms"],
    });
  }
};

export const IdentityProviderCreate = z
  .strictObject({ project_id: Uuid, ...providerFields })
  .partial({
    jwks_url: true,
    hs256_secret: true,
    algorithms: true,
    allow_direct: true,
    user_limits: true,
    token_duration_minutes: true,
    max_token_duration_minutes: true,
    max_active_tokens_per_user: true,
    jwks_cache_seconds: true,
  })
  .superRefine((p, ctx) => {
    if (!p.jwks_url && !p.hs256_secret) {
      ctx.addIssue({ code: "custom", message: "give jwks_url or hs256_secret", path: ["jwks_url"] });
    }
    kindRules(p, ctx);
  });
export type IdentityProviderCreate = z.infer<typeof IdentityProviderCreate>;

export const IdentityProviderPatch = z
  .strictObject({ ...providerFields, is_active: z.boolean() })
  .partial()
  .refine((p) => Object.keys(p).length > 0, "the patch has no fields to change")
  .superRefine(kindRules);
export type IdentityProviderPatch = z.infer<typeof IdentityProviderPatch>;

export const IdentityProviderListQuery = z.object({
  project_id: Uuid.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(400).optional(),
});

export const IdentityProvider = z.object({
  id: z.uuid(),
  project_id: z.uuid(),
  name: z.string(),
  issuer: z.string(),
  audience: z.string(),
  kind: z.enum(["jwks", "secret"]),
  jwks_url: z.string().nullable(),
  algorithms: z.array(z.string()),
  allow_direct: z.boolean(),
  user_limits: z.record(z.string(), z.unknown()).nullable(),
  token_duration_minutes: z.number(),
  max_token_duration_minutes: z.number(),
  max_active_tokens_per_user: z.number(),
  jwks_cache_seconds: z.number(),
  is_active: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});

export function toIdentityProvider(p: ProviderRow): z.infer<typeof IdentityProvider> {
  return {
    id: p.id,
    project_id: p.projectId,
    name: p.name,
    issuer: p.issuer,
    audience: p.audience,
    kind: p.jwksUrl ? "jwks" : "secret",
    jwks_url: p.jwksUrl,
    algorithms: p.algorithms,
    allow_direct: p.allowDirect,
    user_limits: p.userLimits,
    token_duration_minutes: p.tokenDurationMinutes,
    max_token_duration_minutes: p.maxTokenDurationMinutes,
    max_active_tokens_per_user: p.maxActiveTokensPerUser,
    jwks_cache_seconds: p.jwksCacheSeconds,
    is_active: p.isActive,
    created_at: iso(p.createdAt)!,
    updated_at: iso(p.updatedAt)!,
  };
}

export const UserListQuery = z.object({
  project_id: Uuid.optional(),
  provider_id: Uuid.optional(),
  subject: z.string().max(255).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(400).optional(),
});

export const UserPatch = z
  .strictObject({
    is_active: z.boolean().describe("false revokes the user: all their tokens and JWTs stop"),
    limits: UserLimitsInput.nullable().describe("This user's own limits; null = the provider's user_limits"),
  })
  .partial()
  .refine((p) => Object.keys(p).length > 0, "the patch has no fields to change");
export type UserPatch = z.infer<typeof UserPatch>;

export const EndUser = z.object({
  id: z.uuid(),
  project_id: z.uuid(),
  provider_id: z.uuid(),
  subject: z.string(),
  is_active: z.boolean(),
  revoked_at: z.string().nullable(),
  limits: z.record(z.string(), z.unknown()).nullable(),
  request_count: z.number(),
  total_tokens_used: z.number(),
  cost_used_usd: z.number(),
  first_used_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  created_at: z.string(),
  allowance: z
    .unknown()
    .nullable()
    .describe("Live state from the user's Durable Object (same shape as a token's)"),
});

export function toEndUser(u: EndUserRow, allowance: unknown = null): z.infer<typeof EndUser> {
  return {
    id: u.id,
    project_id: u.projectId,
    provider_id: u.providerId,
    subject: u.subject,
    is_active: u.isActive,
    revoked_at: iso(u.revokedAt),
    limits: u.limits,
    request_count: u.requestCount,
    total_tokens_used: u.totalTokensUsed,
    cost_used_usd: u.costUsedUsd,
    first_used_at: iso(u.firstUsedAt),
    last_used_at: iso(u.lastUsedAt),
    created_at: iso(u.createdAt)!,
    allowance,
  };
}

export const ExchangeRequest = z
  .strictObject({
    project_id: Uuid.describe("Needed only when the JWT's audiences match several projects"),
    duration_minutes: z.number().int().min(1).max(525_600),
    name: Name,
    allowed_models: ModelList,
  })
  .partial();
export type ExchangeRequest = z.infer<typeof ExchangeRequest>;
