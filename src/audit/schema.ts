import { z } from "zod";
import { iso, Timestamp } from "../lib/schemas";
import type { AuditEntry as AuditRow } from "../storage/schema";

export const AuditQuery = z.object({
  action: z.string().max(100).optional(),
  target_id: z.string().max(100).optional(),
  actor: z.string().max(100).optional(),
  from: Timestamp.optional(),
  to: Timestamp.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().regex(/^\d+$/, "must be a cursor returned by this API").optional(),
});

export const AuditEntry = z.object({
  id: z.number(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  target_type: z.string().nullable(),
  target_id: z.string().nullable(),
  result: z.string(),
  status: z.number(),
  ip: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export function toAuditEntry(a: AuditRow): AuditEntry {
  return {
    id: a.id,
    at: iso(a.at)!,
    actor: a.actor,
    action: a.action,
    target_type: a.targetType,
    target_id: a.targetId,
    result: a.result,
    status: a.status,
    ip: a.ip,
    details: a.details,
  };
}
