// The `--profile` report: the parts side by side per scenario, as a console table and as Markdown
// (profile.ts takes the profile, profile-parts.ts attributes its samples).
import { renderMarkdown, renderTable } from "./lib/index.ts";
import type { ProfileReport, ScenarioProfile } from "./profile.ts";
import { PARTS } from "./profile-parts.ts";

const pctCell = (x: number) => `${(x * 100).toFixed(1)} %`;

/**
 * The parts side by side for the scenarios: share of the isolate's JavaScript time and sampled ms per
 * request; then the process's CPU per request (profiler off) and what of it is not JavaScript.
 */
export function profileTable(report: ProfileReport): {
  header: string[];
  rows: (string | number | null)[][];
} {
  const header = ["part of the request"];
  for (const s of report.scenarios) header.push(`${s.scenario} %`, `${s.scenario} ms/req`);
  const num = (v: number | null | undefined) => (v === null || v === undefined ? null : Number(v.toFixed(4)));
  const rows: (string | number | null)[][] = PARTS.map((part) => {
    const row: (string | number | null)[] = [part];
    for (const s of report.scenarios) {
      const p = s.parts.find((x) => x.part === part)!;
      row.push(pctCell(p.share), num(p.msPerRequest));
    }
    return row;
  });
  const line = (label: string, pick: (s: ScenarioProfile) => number | null | undefined, share = false) => {
    const row: (string | number | null)[] = [label];
    for (const s of report.scenarios) row.push(share ? "100 %" : null, num(pick(s)));
    rows.push(row);
  };
  const js = (s: ScenarioProfile) => s.sampledMs / Math.max(1, s.requests);
  line("= JavaScript in llm-proxy's isolate (sampled)", js, true);
  line("llm-proxy process CPU per request (profiler off)", (s) => s.processCpuMsPerRequest);
  for (const label of Object.keys(report.scenarios[0]?.anchors ?? {}))
    line(`  ${label} (profiler off)`, (s) => s.anchors[label]);
  const floor = report.floorLabel;
  if (floor)
    line("  runtime outside that JavaScript, beyond the floor's", (s) => {
      const f = s.anchors[floor];
      return s.processCpuMsPerRequest === null || f === null || f === undefined
        ? null
        : s.processCpuMsPerRequest - js(s) - f;
    });
  line("  llm-proxy with the profiler on", (s) => s.profiledCpuMsPerRequest);
  return { header, rows };
}

export function renderProfile(report: ProfileReport): string {
  const { header, rows } = profileTable(report);
  const out = [
    renderTable(header, rows, {
      title: `\nWhere llm-proxy's CPU goes, c=32: its isolate's JavaScript time by part (sampled every ${report.intervalUs} µs), then the process's CPU`,
      decimals: 4,
    }),
  ];
  for (const s of report.scenarios) {
    out.push(
      `\n${s.scenario}: ${s.requests} requests, ${s.sampledMs} ms sampled in JavaScript; top functions (self)`,
    );
    out.push(
      renderTable(
        ["share", "function", "where"],
        s.top.slice(0, 15).map((t) => [pctCell(t.share), t.name, t.where]),
      ),
    );
  }
  out.push(`\nprofiles of the worker's isolate: ${report.files.join(", ")}`);
  return out.join("\n");
}

export function profileMarkdown(report: ProfileReport): string {
  const { header, rows } = profileTable(report);
  const out = [
    `#### Where llm-proxy's CPU goes (c=32, its isolate sampled every ${report.intervalUs} µs)\n`,
    renderMarkdown(header, rows, { decimals: 4 }),
  ];
  for (const s of report.scenarios) {
    out.push(`\n#### ${s.scenario}: top functions (self time)\n`);
    out.push(
      renderMarkdown(
        ["share", "function", "where"],
        s.top.slice(0, 15).map((t) => [pctCell(t.share), t.name, t.where]),
      ),
    );
  }
  return `${out.join("\n")}\n`;
}
