import { z } from "zod";
import { iso, ModelList, Name, Timestamp, Uuid } from "../../lib/schemas";
import { PeriodBudgets } from "../../limits/schemas";
import type { Ceilings as CeilingsRow, IssuingKey as IssuingKeyRow } from "../../storage/schema";

export const CeilingsInput = z
  .strictObject({
    max_duration_minutes: z.number().int().min(1).max(525_600).nullable(),
    max_requests: z.number().int().min(1).max(1_000_000_000).nullable(),
    max_tokens: z.number().int().min(1).nullable(),
    max_cost_usd: z.number().positive().max(1_000_000).nullable(),
    period_budgets: PeriodBudgets.nullable(),
    allowed_models: ModelList.nullable(),
    allow_minting: z.boolean(),
  })
  .partial()
  .transform((c): CeilingsRow => c)
  .describe(
    "The most a token created with the key may get: every limit given here must be met by each token " +
      "(left out: set to the ceiling; asked above it: refused with 403 ceiling_exceeded)",
  );

export const IssuingKeyCreate = z.strictObject({
  project_id: Uuid,
  name: Name,
  ceilings: CeilingsInput.default({}),
  expires_at: Timestamp.optional().describe("The key stops working then (default: never)"),
});
export type IssuingKeyCreate = z.infer<typeof IssuingKeyCreate>;

export const IssuingKeyListQuery = z.object({
  project_id: Uuid.optional(),
  status: z.enum(["active", "revoked", "expired"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(400).optional(),
});

export const IssuingKey = z.object({
  id: z.uuid(),
  project_id: z.uuid(),
  name: z.string(),
  key_hint: z.string(),
  status: z.enum(["active", "revoked", "expired"]),
  ceilings: z.record(z.string(), z.unknown()),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  created_at: z.string(),
});
export type IssuingKey = z.infer<typeof IssuingKey>;

export const CreatedIssuingKey = IssuingKey.extend({
  key: z.string().describe("The key (ik_…). Shown only in this response: store it now."),
});

export function keyStatus(k: Pick<IssuingKeyRow, "revokedAt" | "expiresAt">, now = Date.now()) {
  if (k.revokedAt !== null) return "revoked" as const;
  if (k.expiresAt !== null && k.expiresAt <= now) return "expired" as const;
  return "active" as const;
}

export function toIssuingKey(k: IssuingKeyRow): IssuingKey {
  return {
    id: k.id,
    project_id: k.projectId,
    name: k.name,
    key_hint: k.keyHint,
    status: keyStatus(k),
    ceilings: k.ceilings,
    expires_at: iso(k.expiresAt),
    revoked_at: iso(k.revokedAt),
    last_used_at: iso(k.lastUsedAt),
    created_at: iso(k.createdAt)!,
  };
}
