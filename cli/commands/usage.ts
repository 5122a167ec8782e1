import { Command, Option } from "commander";
import { fmtUsd } from "../../src/lib/format";
import { action } from "../context";
import { type Column, note, print, printJson, renderTable } from "../output";
import { timeArg } from "../parse";
import { resolveProjectId } from "./projects";

export const GROUPS = ["hour", "day", "model", "project", "token"] as const;

/** `GET /manage/usage` answers `{data: [...]}` (plus totals, where given); tolerate a bare array too. */
function rowsOf(answer: unknown): Record<string, unknown>[] {
  if (Array.isArray(answer)) return answer as Record<string, unknown>[];
  const data = (answer as { data?: unknown })?.data;
  return Array.isArray(data) ? (data as Record<string, unknown>[]) : [];
}

type Row = Record<string, unknown>;

const KEYS = ["hour", "day", "project_id", "token_id", "model"];
const NUMBERS: [string, string][] = [
  ["requests", "requests"],
  ["errors", "errors"],
  ["prompt_tokens", "prompt"],
  ["completion_tokens", "completion"],
  ["total_tokens", "total tokens"],
  ["cost_usd", "cost"],
  ["cache_hits", "cache hits"],
  ["saved_usd", "saved"],
  ["avg_duration_ms", "avg ms"],
];

const USD = new Set(["cost_usd", "saved_usd"]);

/** The grouping columns the answer has, then the counts; unknown extra fields stay in --json only. */
function usageColumns(rows: Row[]): Column<Row>[] {
  const keys = KEYS.filter((k) => rows.some((r) => r[k] !== undefined));
  return [
    ...keys.map((k) => ({ header: k, value: (r: Row) => r[k] })),
    ...NUMBERS.filter(([k]) => rows.some((r) => r[k] !== undefined)).map(([k, header]) => ({
      header,
      value: (r: Row) => (USD.has(k) && typeof r[k] === "number" ? fmtUsd(r[k] as number) : r[k]),
      align: "right" as const,
    })),
  ];
}

function totalsRow(rows: Row[]): Row {
  const total: Row = { [KEYS.find((k) => rows[0]?.[k] !== undefined) ?? "requests"]: "total" };
  for (const [k] of NUMBERS) {
    if (k === "avg_duration_ms") continue;
    total[k] = rows.reduce((s, r) => s + (typeof r[k] === "number" ? (r[k] as number) : 0), 0);
  }
  const weighted = rows.reduce((s, r) => s + Number(r.avg_duration_ms ?? 0) * Number(r.requests ?? 0), 0);
  const requests = Number(total.requests ?? 0);
  total.avg_duration_ms = requests > 0 ? Math.round(weighted / requests) : null;
  return total;
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
          print(renderTable([...rows, totalsRow(rows)], usageColumns(rows)));
        },
      ),
    );
}
