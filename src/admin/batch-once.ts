import { and, eq, sql } from "drizzle-orm";
import { getDb } from "../storage/db";
import { auditLog } from "../storage/schema";

/**
 * A batch of tokens is shown on the page that created it (a thousand secrets fit no cookie, so there is no
 * redirect as for one token). The form carries a one-time id (`_once`) recorded with the batch's audit entry:
 * the same form sent again — a reload, a double click — finds it and creates nothing.
 */
export async function batchAlreadyMade(env: Env, once: string): Promise<boolean> {
  const row = await getDb(env)
    .select({ id: auditLog.id })
    .from(auditLog)
    .where(
      and(
        eq(auditLog.action, "token.create_batch"),
        eq(auditLog.actor, "admin"),
        sql`json_extract(${auditLog.details}, '$.form_once') = ${once}`,
      ),
    )
    .limit(1)
    .get();
  return row !== undefined;
}
