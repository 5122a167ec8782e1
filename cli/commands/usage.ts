import { Command, Option } from "commander";
import { action } from "../context";
import { autoColumns, note, print, printJson, renderTable } from "../output";
import { timeArg } from "../parse";
import { resolveProjectId } from "./projects";

export const GROUPS = ["hour", "day", "model", "project", "token"] as const;

/** `GET /manage/usage` answers `{data: [...]}` (plus totals, where given); tolerate a bare array too. */
function rowsOf(answer: unknown): Record<string, unknown>[] {
  if (Array.isArray(answer)) return answer as Record<string, unknown>[];
  const data = (answer as { data?: unknown })?.data;
  return Array.isArray(data) ? (data as Record<string, unknown>[]) : [];
}

export function usageCommand(): Command {
  return new Command("usage")
    .description("usage rollups: requests, tokens, cost (from the gateway's D1 rollups)")
    .option("--project <project>", "project id or name")
    .option("--token <id>", "token id")
    .option("--model <model>", "model id")
    .option("--from <time>", "from (ISO time, date, or 24h / 7d ago)", (v) => timeArg(v))
    .option("--to <time>", "to (ISO time, date, or 1h ago)", (v) => timeArg(v))
    .addOption(new Option("--group-by <group>", "one row per …").choices(GROUPS))
    .action(
      action(
        async (
          { client, json },
          o: {
            project?: string;
            token?: string;
            model?: string;
            from?: string;
            to?: string;
            groupBy?: string;
          },
        ) => {
          const projectId = o.project ? await resolveProjectId(client, o.project) : undefined;
          const answer = await client.get<unknown>("/manage/usage", {
            project_id: projectId,
            token_id: o.token,
            model: o.model,
            from: o.from,
            to: o.to,
            group_by: o.groupBy,
          });
          if (json) return printJson(answer);
          const rows = rowsOf(answer);
          if (rows.length === 0) return note("No usage in that range.");
          print(renderTable(rows, autoColumns(rows)));
          const totals = (answer as { totals?: Record<string, unknown> })?.totals;
          if (totals && typeof totals === "object") print(renderTable([totals], autoColumns([totals])));
        },
      ),
    );
}
