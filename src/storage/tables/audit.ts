import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { type JsonObject, now } from "./common";

export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull().default(now),
    /** `management_token`, `admin`, … */
    actor: text("actor").notNull(),
    /** e.g. `project.create`, `token.revoke` */
    action: text("action").notNull(),
    targetType: text("target_type"),
    targetId: text("target_id"),
    /** `ok` or the error code */
    result: text("result").notNull(),
    status: integer("status").notNull(),
    ip: text("ip"),
    details: text("details", { mode: "json" }).$type<JsonObject>(),
  },
  (t) => [index("audit_at_idx").on(t.at), index("audit_target_idx").on(t.targetId)],
);

export type AuditEntry = typeof auditLog.$inferSelect;
