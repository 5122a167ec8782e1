import { and, desc, eq, gte, lt, lte, type SQL } from "drizzle-orm";
import type { Db } from "../storage/db";
import { type AuditEntry, auditLog } from "../storage/schema";

export type NewAuditEntry = typeof auditLog.$inferInsert;

export async function recordAudit(db: Db, entry: NewAuditEntry): Promise<void> {
  await db.insert(auditLog).values(entry);
}

export type AuditFilter = {
  action?: string;
  targetId?: string;
  actor?: string;
  from?: number;
  to?: number;
  before?: number;
  limit: number;
};

/** Newest first; `before` is the id cursor of the previous page. */
export async function listAudit(db: Db, f: AuditFilter): Promise<AuditEntry[]> {
  const where: SQL[] = [];
  if (f.action) where.push(eq(auditLog.action, f.action));
  if (f.targetId) where.push(eq(auditLog.targetId, f.targetId));
  if (f.actor) where.push(eq(auditLog.actor, f.actor));
  if (f.from !== undefined) where.push(gte(auditLog.at, f.from));
  if (f.to !== undefined) where.push(lte(auditLog.at, f.to));
  if (f.before !== undefined) where.push(lt(auditLog.id, f.before));
  return db
    .select()
    .from(auditLog)
    .where(and(...where))
    .orderBy(desc(auditLog.id))
    .limit(f.limit);
}

export async function deleteAuditBefore(db: Db, before: number): Promise<void> {
  await db.delete(auditLog).where(lt(auditLog.at, before));
}
