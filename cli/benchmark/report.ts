import { paired } from "../../bench/lib/interleave.ts";
import { toCsv } from "../../bench/lib/output.ts";
import { round, type Summary, subtract } from "../../bench/lib/stats.ts";
import { renderTable } from "../output";
import type { Target, TargetResult } from "./run";

export type TargetReport = {
  label: string;
  url: string;
  requests: number;
  ok: number;
  failed: number;
  duration_s: number;
  throughput_rps: number;
  latency_ms: Summary;
  ttfb_ms: Summary;
  statuses: Record<string, number>;
  errors: Record<string, number>;
};

export type Comparison = {
  /** Target minus baseline, ms, per statistic (positive = the target is slower). */
  added_latency_ms: Record<string, number>;
  added_ttfb_ms: Record<string, number>;
  /** Target ÷ baseline. */
  latency_ratio_p50: number;
  latency_ratio_p99: number;
  throughput_ratio: number;
  /** Median over rounds of (target p50 − baseline p50, same round): steadier on a busy machine. */
  added_p50_ms_paired: number;
  rounds: number;
};

export type BenchReport = {
  endpoint: string;
  stream: boolean;
  concurrency: number;
  targets: TargetReport[];
  comparison?: Comparison;
};

const roundSummary = (s: Summary): Summary =>
  Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === "count" ? v : round(v, 2)])) as Summary;

const ratio = (a: number, b: number) => (b > 0 ? round(a / b, 3) : 0);

export function buildReport(
  targets: Target[],
  runs: TargetResult[],
  meta: { endpoint: string; stream: boolean; concurrency: number },
): BenchReport {
  const results = runs.map((r) => r.merged);
  const reports = results.map((r, i) => ({
    label: targets[i]!.label,
    url: targets[i]!.url,
    requests: r.requests,
    ok: r.ok,
    failed: r.failed,
    duration_s: round(r.durationMs / 1000, 3),
    throughput_rps: round(r.rps, 2),
    latency_ms: roundSummary(r.latencyMs),
    ttfb_ms: roundSummary(r.ttfbMs),
    statuses: r.statuses,
    errors: r.errors,
  }));
  const report: BenchReport = { ...meta, targets: reports };
  const [a, b] = results;
  if (a && b) {
    const roundAll = (o: Record<string, number>) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v, 2)]));
    report.comparison = {
      added_latency_ms: roundAll(subtract(a.latencyMs, b.latencyMs)),
      added_ttfb_ms: roundAll(subtract(a.ttfbMs, b.ttfbMs)),
      latency_ratio_p50: ratio(a.latencyMs.p50, b.latencyMs.p50),
      latency_ratio_p99: ratio(a.latencyMs.p99, b.latencyMs.p99),
      throughput_ratio: ratio(a.rps, b.rps),
      added_p50_ms_paired: round(
        paired(runs[0]!.rounds, runs[1]!.rounds, (r) => r.latencyMs.p50, "diff").median,
        2,
      ),
      rounds: runs[0]!.rounds.length,
    };
  }
  return report;
}

const STATS = ["min", "p50", "p90", "p99", "max", "mean"] as const;

export function renderHuman(r: BenchReport): string {
  const parts: string[] = [];
  parts.push(
    `${r.endpoint}${r.stream ? " (stream)" : ""}, concurrency ${r.concurrency}; latency of successful requests, ms`,
  );
  parts.push(
    renderTable(r.targets, [
      { header: "target", value: (t) => t.label },
      { header: "ok", value: (t) => `${t.ok}/${t.requests}`, align: "right" },
      { header: "req/s", value: (t) => t.throughput_rps, align: "right" },
      ...STATS.map((s) => ({
        header: s,
        value: (t: TargetReport) => t.latency_ms[s],
        align: "right" as const,
      })),
      { header: "ttfb p50", value: (t) => t.ttfb_ms.p50, align: "right" },
      { header: "ttfb p99", value: (t) => t.ttfb_ms.p99, align: "right" },
    ]),
  );
  const errorRows = r.targets.flatMap((t) =>
    Object.entries(t.errors).map(([error, count]) => ({ target: t.label, error, count })),
  );
  if (errorRows.length) {
    parts.push("errors:");
    parts.push(
      renderTable(errorRows, [
        { header: "target", value: (e) => e.target },
        { header: "status / code", value: (e) => e.error },
        { header: "count", value: (e) => e.count, align: "right" },
      ]),
    );
  }
  if (r.comparison) {
    const c = r.comparison;
    const [a, b] = r.targets;
    parts.push(
      `${a!.label} vs ${b!.label} (added = ${a!.label} − ${b!.label}, ratio = ${a!.label} ÷ ${b!.label}):`,
    );
    parts.push(
      renderTable(
        [
          { what: "added latency, ms", ...c.added_latency_ms },
          { what: "added ttfb, ms", ...c.added_ttfb_ms },
        ],
        [
          { header: "", value: (x) => x.what },
          ...(["min", "p50", "p90", "p99", "max", "mean"] as const).map((s) => ({
            header: s,
            value: (x: Record<string, number | string>) => x[s],
            align: "right" as const,
          })),
        ],
      ),
    );
    parts.push(
      `latency ratio: p50 ×${c.latency_ratio_p50}, p99 ×${c.latency_ratio_p99}; throughput ratio ×${c.throughput_ratio}; ` +
        `added p50, median of ${c.rounds} paired rounds: ${c.added_p50_ms_paired} ms`,
    );
  }
  return parts.join("\n");
}

/** One row per target; comparison columns on the first (the target compared with the baseline). */
export function renderCsv(r: BenchReport): string {
  const header = [
    "target",
    "url",
    "requests",
    "ok",
    "failed",
    "duration_s",
    "throughput_rps",
    ...STATS.map((s) => `latency_${s}_ms`),
    ...STATS.map((s) => `ttfb_${s}_ms`),
    "errors",
    "added_p50_ms",
    "added_p99_ms",
    "ratio_p50",
  ];
  const rows = r.targets.map((t, i) => [
    t.label,
    t.url,
    t.requests,
    t.ok,
    t.failed,
    t.duration_s,
    t.throughput_rps,
    ...STATS.map((s) => t.latency_ms[s]),
    ...STATS.map((s) => t.ttfb_ms[s]),
    Object.entries(t.errors)
      .map(([k, v]) => `${k}=${v}`)
      .join("; "),
    i === 0 ? r.comparison?.added_latency_ms.p50 : undefined,
    i === 0 ? r.comparison?.added_latency_ms.p99 : undefined,
    i === 0 ? r.comparison?.latency_ratio_p50 : undefined,
  ]);
  return toCsv(header, rows);
}
