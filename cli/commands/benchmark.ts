import { writeFileSync } from "node:fs";
import { SingleBar } from "cli-progress";
import { Command, Option } from "commander";
import { latencyChartSvg } from "../benchmark/chart";
import { buildReport, renderCsv, renderHuman } from "../benchmark/report";
import { type Progress, requestBody, runTargets, type Target } from "../benchmark/run";
import { DEFAULT_URL, type GlobalOptions } from "../config";
import { CliError, EXIT, usageError } from "../errors";
import { note, print, printJson } from "../output";
import { durationMs, nonNegativeInt, positiveInt } from "../parse";

type BenchFlags = {
  target?: string;
  endpoint: string;
  token?: string;
  compare?: string;
  compareToken?: string;
  compareEndpoint?: string;
  label?: string;
  compareLabel?: string;
  requests: number;
  concurrency: number;
  warmup: number;
  stream?: boolean;
  timeout: number;
  template?: string;
  model?: string;
  method: string;
  rounds: number;
  output?: "table" | "json" | "csv";
  chart?: string;
  progress: boolean;
};

function progressBar(enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return { start() {}, tick() {}, stop() {} };
  const bar = new SingleBar({
    stream: process.stderr,
    format: "{bar} {value}/{total} requests | {percentage}% | {duration_formatted}",
    hideCursor: true,
    clearOnComplete: true,
  });
  return {
    start: (total) => bar.start(total, 0),
    tick: () => bar.increment(),
    stop: () => bar.stop(),
  };
}

export function benchmarkCommand(): Command {
  return new Command("benchmark")
    .description(
      "load-test a gateway (or compare two URLs, e.g. the upstream directly vs through the gateway)",
    )
    .option(
      "--target <url>",
      "gateway origin or base URL (default: --url, then LLM_PROXY_URL, then localhost)",
    )
    .option("--endpoint <path>", "path to call", "/v1/chat/completions")
    .option("--token <token>", "API key for the target, e.g. a withering token (env LLM_PROXY_TOKEN)")
    .option("--compare <url>", "a second URL to compare against (the baseline, e.g. https://api.openai.com)")
    .option("--compare-token <token>", "API key for --compare (env LLM_PROXY_COMPARE_TOKEN; default --token)")
    .option("--compare-endpoint <path>", "path on --compare (default --endpoint)")
    .option("--label <name>", "name of the target in the output", "gateway")
    .option("--compare-label <name>", "name of the baseline in the output", "direct")
    .option("-n, --requests <n>", "requests to measure (per target)", positiveInt, 100)
    .option("-c, --concurrency <n>", "requests in flight at once", positiveInt, 10)
    .option("--warmup <n>", "unmeasured requests first (per target)", nonNegativeInt, 5)
    .option("--stream", "ask for a streamed answer (stream: true) and measure time to first byte")
    .option("--timeout <duration>", "per-request timeout (e.g. 30s)", durationMs, 30_000)
    .option("--template <json|file>", "request body: inline JSON, or a JSON file (@file or path)")
    .option("--model <model>", "set the body's model")
    .option("--method <method>", "HTTP method", "POST")
    .option("--rounds <n>", "interleaved rounds in comparison mode", positiveInt, 4)
    .addOption(
      new Option("--output <format>", "table (default), json or csv").choices(["table", "json", "csv"]),
    )
    .option("--chart <file.svg>", "write an SVG latency-by-percentile chart")
    .option("--no-progress", "no progress bar")
    .action(async (o: BenchFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const output = o.output ?? (globals.json ? "json" : "table");
      const target = o.target ?? globals.url ?? process.env.LLM_PROXY_URL ?? DEFAULT_URL;
      const token = o.token ?? process.env.LLM_PROXY_TOKEN;
      const targets: Target[] = [{ label: o.label ?? "gateway", url: target, token }];
      for (const u of [target, o.compare]) {
        if (u && !/^https?:\/\/[^/]+/.test(u)) throw usageError(`Not an http(s) URL: '${u}'`);
      }
      if (o.compare) {
        const label = o.compareLabel ?? "direct";
        if (label === targets[0]!.label) throw usageError("--label and --compare-label must differ.");
        targets.push({
          label,
          url: o.compare,
          token: o.compareToken ?? process.env.LLM_PROXY_COMPARE_TOKEN ?? token,
          // The baseline may live on another path (e.g. an upstream whose base URL has no /v1).
          endpoint: o.compareEndpoint,
        });
      }
      if (o.compareEndpoint && !o.compare) throw usageError("--compare-endpoint needs --compare.");
      const method = o.method.toUpperCase();
      const body = requestBody(o.template, { model: o.model, stream: Boolean(o.stream), method });
      const opts = {
        requests: o.requests,
        concurrency: o.concurrency,
        warmup: o.warmup,
        timeoutMs: o.timeout,
        stream: Boolean(o.stream),
        method,
        body,
        rounds: o.rounds,
      };
      if (output === "table") {
        note(
          `Benchmarking ${targets.map((t) => `${t.label} ${t.url}`).join(" vs ")}: ${o.requests} requests, concurrency ${o.concurrency}…`,
        );
      }
      const progress = progressBar(o.progress && output === "table");
      const results = await runTargets(targets, o.endpoint, opts, progress);
      const report = buildReport(targets, results, {
        endpoint: o.endpoint,
        stream: Boolean(o.stream),
        concurrency: o.concurrency,
      });
      if (output === "json") printJson(report);
      else if (output === "csv") process.stdout.write(renderCsv(report));
      else print(renderHuman(report));
      if (o.chart) {
        const title = `Latency by percentile — ${o.endpoint}${o.stream ? " (stream)" : ""}, c=${o.concurrency}`;
        writeFileSync(
          o.chart,
          latencyChartSvg(
            targets.map((t, i) => ({ label: t.label, samples: results[i]!.merged.latencySamples })),
            title,
          ),
        );
        if (output === "table") note(`Chart written to ${o.chart}`);
      }
      const first = results[0]!.merged;
      if (first.ok === 0) {
        const statuses = Object.keys(first.statuses).map(Number);
        const refused = statuses.every((s) => s >= 400 && s < 500);
        throw new CliError(
          `No request to ${targets[0]!.url} succeeded (${Object.keys(first.errors).join(", ")}).`,
          refused ? EXIT.refused : EXIT.unreachable,
          refused ? "Check --token and --endpoint." : "Check --target: is the gateway running?",
        );
      }
    });
}
