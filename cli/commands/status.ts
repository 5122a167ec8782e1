import { Command } from "commander";
import { action } from "../context";
import { print, printJson, renderRecord } from "../output";

export function statusCommand(): Command {
  return new Command("status")
    .description(
      "check the gateway answers and is ready (GET /health/ready), and that the management token works",
    )
    .action(
      action(async ({ client, json }) => {
        const ready = await client
          .get<Record<string, unknown>>("/health/ready")
          .catch((err: unknown) => ({ status: "not_ready", error: (err as Error).message }));
        await client.get("/manage/projects", { limit: 1 });
        const result = { url: client.conn.url, ...ready, management_token: "ok" };
        if (json) printJson(result);
        else print(renderRecord(result));
      }),
    );
}

export function metricsCommand(): Command {
  return new Command("metrics")
    .description("print the gateway's Prometheus metrics (GET /manage/metrics)")
    .action(
      action(async ({ client }) => {
        const res = await client.request<string>("GET", "/manage/metrics", { text: true });
        process.stdout.write(res);
      }),
    );
}
