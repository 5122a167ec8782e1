import { Command } from "commander";
import { action } from "../context";
import { CliError, EXIT } from "../errors";
import { print, printJson, renderRecord } from "../output";

type Ready = { status: string; version?: string; checks?: Record<string, string> };

export function statusCommand(): Command {
  return new Command("status")
    .description("check the gateway is ready (GET /health/ready) and the management token works")
    .action(
      action(async ({ client, json }) => {
        // A 503 from /health/ready still carries the failing checks: show them rather than only the status.
        const ready = await client.get<Ready>("/health/ready").catch((err: unknown) => {
          const body = err instanceof CliError ? (err.body as Ready | undefined) : undefined;
          if (body?.checks) return body;
          throw err;
        });
        await client.get("/manage/projects", { limit: 1 });
        const result = { url: client.conn.url, ...ready, management_token: "ok" };
        if (json) printJson(result);
        else print(renderRecord(result));
        if (ready.status !== "ready") {
          throw new CliError(`The gateway is not ready: ${JSON.stringify(ready.checks)}`, EXIT.unreachable);
        }
      }),
    );
}

export function metricsCommand(): Command {
  return new Command("metrics")
    .description("print the gateway's Prometheus metrics (GET /manage/metrics)")
    .action(
      action(async ({ client }) => {
        process.stdout.write(await client.request<string>("GET", "/manage/metrics", { text: true }));
      }),
    );
}
