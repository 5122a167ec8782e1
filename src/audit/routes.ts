import { DocumentedRoutes } from "../lib/documented-routes";
import { listOf, ordered } from "../lib/schemas";
import { getDb } from "../storage/db";
import { listAudit } from "./repo";
import { AuditEntry, AuditQuery, toAuditEntry } from "./schema";

export const auditRoutes = new DocumentedRoutes("audit").get(
  "/",
  {
    summary: "Management actions, newest first",
    query: ordered(AuditQuery),
    response: { status: 200, schema: listOf(AuditEntry) },
  },
  async (c, { query: q }) => {
    const rows = await listAudit(getDb(c.env), {
      action: q.action,
      targetId: q.target_id,
      actor: q.actor,
      from: q.from ? Date.parse(q.from) : undefined,
      to: q.to ? Date.parse(q.to) : undefined,
      before: q.cursor ? Number(q.cursor) : undefined,
      limit: q.limit,
    });
    const last = rows.length === q.limit ? rows.at(-1) : undefined;
    return c.json({ data: rows.map(toAuditEntry), next_cursor: last ? String(last.id) : null });
  },
);
