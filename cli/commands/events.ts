import { setTimeout as sleep } from "node:timers/promises";
import { Command } from "commander";
import { fmtUsd } from "../../src/lib/format";
import type { UsageEvent } from "../../src/usage/event";
import type { ManagementClient, Query } from "../client";
import { action } from "../context";
import { type Column, note, print, printJson, renderTable } from "../output";
import { durationMs, positiveInt, timeArg } from "../parse";
import { resolveProjectId } from "./projects";

const columns: Column<UsageEvent>[] = [
  { header: "time", value: (e) => e.timestamp },
  { header: "status", value: (e) => e.status, align: "right" },
  { header: "method", value: (e) => e.method },
  { header: "path", value: (e) => e.path },
  { header: "model", value: (e) => e.model },
  { header: "ms", value: (e) => e.duration_ms, align: "right" },
  { header: "tokens", value: (e) => e.usage?.total_tokens, align: "right" },
  { header: "cost", value: (e) => (e.cost_usd === null ? null : fmtUsd(e.cost_usd)), align: "right" },
  { header: "error", value: (e) => e.error },
  { header: "token", value: (e) => e.token_id?.slice(0, 8) },
  { header: "request id", value: (e) => e.id },
];

/** Pages the API may return short (it reads a bounded number of R2 objects per call): follow the cursor. */
const MAX_PAGES = 20;

async function fetchEvents(client: ManagementClient, query: Query): Promise<UsageEvent[]> {
  const wanted = Number(query.limit ?? 50);
  const events: UsageEvent[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES && events.length < wanted; page++) {
    const answer = await client.get<{ data?: UsageEvent[]; next_cursor?: string | null } | UsageEvent[]>(
      "/manage/events",
      cursor ? { ...query, cursor, limit: wanted - events.length } : query,
    );
    if (Array.isArray(answer)) return answer;
    events.push(...(answer.data ?? []));
    if (!answer.next_cursor) break;
    cursor = answer.next_cursor;
  }
  return events;
}

const LOOKBACK_MS = 5 * 60_000;

type TailOptions = {
  requestId?: string;
  project?: string;
  model?: string;
  token?: string;
  status?: string;
  since?: string;
  limit: number;
  follow?: boolean;
  interval: number;
};

export function eventsCommand(): Command {
  const cmd = new Command("events").description("the request log (events read back from R2)");
  cmd
    .command("tail")
    .description("print recent request events, oldest of them first; --follow keeps polling for new ones")
    .option("--request-id <id>", "the one request whose response had this x-request-id")
    .option("--project <project>", "project id or name")
    .option("--token <id>", "token id")
    .option("--model <model>", "model id")
    .option("--status <status>", "HTTP status (429), a class (4xx), ok or error")
    .option("--since <time>", "only events after (ISO time or 10m / 1h ago)", (v) => timeArg(v))
    .option("-n, --limit <n>", "how many recent events to show first", positiveInt, 20)
    .option("-f, --follow", "keep polling and print new events as they arrive")
    .option("--interval <duration>", "poll interval with --follow", durationMs, 2000)
    .action(
      action(async ({ client, json }, o: TailOptions) => {
        const projectId = o.project ? await resolveProjectId(client, o.project) : undefined;
        const query: Query = {
          request_id: o.requestId,
          project_id: projectId,
          token_id: o.token,
          model: o.model,
          status: o.status,
          from: o.since,
        };
        const seen = new Set<string>();
        let newest = 0;
        const emit = (events: UsageEvent[], header: boolean) => {
          const fresh = events.filter((e) => !seen.has(e.id)).reverse();
          for (const e of fresh) {
            seen.add(e.id);
            newest = Math.max(newest, Date.parse(e.timestamp) || 0);
          }
          if (fresh.length === 0) return;
          // One JSON object per line under --json: `llm-proxy events tail -f --json | jq` works.
          if (json) for (const e of fresh) print(JSON.stringify(e));
          else
            print(
              header
                ? renderTable(fresh, columns)
                : renderTable(fresh, columns).split("\n").slice(3).join("\n"),
            );
        };
        const first = await fetchEvents(client, { ...query, limit: o.limit });
        if (!o.follow) {
          if (json) return printJson(first);
          if (first.length === 0) return note("No events yet.");
          return emit(first, true);
        }
        emit(first, true);
        if (first.length === 0) note("Waiting for events… (Ctrl-C to stop)");
        let stop = false;
        process.once("SIGINT", () => {
          stop = true;
        });
        while (!stop) {
          await sleep(o.interval);
          if (stop) break;
          // Events reach the log in queue batches, not in timestamp order: look back a few minutes
          // behind the newest one seen and drop what was already printed.
          const from = newest
            ? new Date(Math.max(Date.parse(o.since ?? "") || 0, newest - LOOKBACK_MS)).toISOString()
            : o.since;
          const events = await fetchEvents(client, { ...query, from, limit: 500 });
          emit(events, seen.size === 0);
        }
      }),
    );
  return cmd;
}
