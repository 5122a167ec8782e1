import { Command } from "commander";
import { listAll } from "../client";
import { action } from "../context";
import { type Column, note, print, printJson, renderTable } from "../output";
import { positiveInt, timeArg } from "../parse";

type AuditEntry = {
  id: number;
  at: string;
  actor: string;
  action: string;
  target_type: string | null;
  target_id: string | null;
  result: string;
  status: number;
  details: Record<string, unknown> | null;
};

const columns: Column<AuditEntry>[] = [
  { header: "at", value: (a) => a.at },
  { header: "actor", value: (a) => a.actor },
  { header: "action", value: (a) => a.action },
  { header: "target", value: (a) => a.target_id },
  { header: "result", value: (a) => a.result },
  { header: "status", value: (a) => a.status, align: "right" },
  { header: "details", value: (a) => a.details },
];

export function auditCommand(): Command {
  return new Command("audit")
    .description("management actions, newest first (who did what, when, and how it ended)")
    .option("--action <action>", "e.g. token.revoke, project.create")
    .option("--target <id>", "a project or token id")
    .option("--actor <actor>", "management_token or admin")
    .option("--since <time>", "from (ISO time, date, or 24h / 7d ago)", (v) => timeArg(v))
    .option("--limit <n>", "at most this many", positiveInt, 50)
    .action(
      action(
        async (
          { client, json },
          o: { action?: string; target?: string; actor?: string; since?: string; limit: number },
        ) => {
          const rows = await listAll<AuditEntry>(
            client,
            "/manage/audit",
            { action: o.action, target_id: o.target, actor: o.actor, from: o.since },
            o.limit,
          );
          if (json) printJson(rows);
          else if (rows.length === 0) note("No audit entries match.");
          else print(renderTable(rows, columns));
        },
      ),
    );
}
