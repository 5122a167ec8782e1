import { Hono } from "hono";
import type { AppEnv } from "../lib/context";
import { ordered } from "../lib/schemas";
import { readQuery } from "../lib/validate";
import { getDb } from "../storage/db";
import { listAudit } from "./repo";
import { AuditQuery, toAuditEntry } from "./schema";

export const auditRoutes = new Hono<AppEnv>().get("/", async (c) => {
  const q = readQuery(c, ordered(AuditQuery));
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
});
