// The bench's results and what they are judged by: paired comparisons of two targets ("added" figures are
// the median over rounds of (target − baseline in the same round)), CPU ratios over the floor, and the
// issue's targets as pass/fail checks. Apart from report.ts, which lays the same figures out as tables.
import type { BundleInfo, StartupProfile } from "./hosts.ts";
import { type LoadResult, type Paired, paired } from "./lib/index.ts";
import type { PhaseResult, SpacingResult } from "./scenarios.ts";

export type Phase = Record<string, PhaseResult>;

export type Results = {
  meta: Record<string, unknown>;
  targets: { id: string; label: string; unavailable?: string }[];
  bundle: Omit<BundleInfo, "dir">;
  startup: { proxyProfile: StartupProfile; readyMs: Record<string, number> };
  c1: Phase;
  c32: Phase;
  ttfb: Phase;
  spacing: SpacingResult | null;
  /** The response cache's phase (bench/cache.ts). */
  cache?: Phase;
};

export type Check = { name: string; target: string; measured: string; pass: boolean | null };

export const p50 = (r: LoadResult) => r.latencyMs.p50;
export const ttfb50 = (r: LoadResult) => r.ttfbMs.p50;
export const rps = (r: LoadResult) => r.rps;

/** Paired comparison of two targets of a phase, or undefined when either was not measured. */
/** The median over rounds of (target − baseline) p50 in a phase: for tables outside this file. */
export const pairedP50 = (phase: Phase, target: string, baseline: string) =>
  pair(phase, target, baseline, p50)?.median;

export function pair(
  phase: Phase,
  target: string,
  baseline: string,
  pick: (r: LoadResult) => number,
  op: "diff" | "ratio" = "diff",
): Paired | undefined {
  const a = phase[target];
  const b = phase[baseline];
  return a && b ? paired(a.rounds, b.rounds, pick, op) : undefined;
}

/**
 * CPU per request of a target over the floor's in the same phase: the pooled ratio (all rounds' CPU over
 * all rounds' requests, each side) and the spread of the round-by-round ratios.
 */
export function cpuRatio(
  phase: Phase,
  target: string,
  floor = "passthrough",
): { ratio: number; min: number; max: number } | undefined {
  const a = phase[target];
  const b = phase[floor];
  if (!a?.cpuMsPerRequest || !b?.cpuMsPerRequest) return undefined;
  const per: number[] = [];
  for (let i = 0; i < Math.min(a.cpuRounds.length, b.cpuRounds.length); i++) {
    const x = a.cpuRounds[i];
    const y = b.cpuRounds[i];
    if (x != null && y) per.push(x / y);
  }
  return {
    ratio: a.cpuMsPerRequest / b.cpuMsPerRequest,
    min: per.length ? Math.min(...per) : Number.NaN,
    max: per.length ? Math.max(...per) : Number.NaN,
  };
}

/** The targets, llm-proxy (unlimited token) against the passthrough worker. */
export function checks(r: Results): Check[] {
  const out: Check[] = [];
  const cpu = cpuRatio(r.c32, "proxy");
  const inOut = r.meta.consumer === "out" ? "consumer out" : "consumer in";
  out.push({
    name: `CPU per request vs passthrough, c=32 (${inOut})`,
    target: "≤ 1.6×",
    measured: cpu ? `${cpu.ratio.toFixed(2)}×` : "n/a",
    pass: cpu ? cpu.ratio <= 1.6 : null,
  });
  const add = pair(r.c1, "proxy", "passthrough", p50)?.median;
  out.push({
    name: "p50 added vs passthrough, c=1",
    target: "≤ 0.5 ms",
    measured: add === undefined ? "n/a" : `${add.toFixed(3)} ms`,
    pass: add === undefined ? null : add <= 0.5,
  });
  const ratio = pair(r.c32, "proxy", "passthrough", rps, "ratio")?.median;
  out.push({
    name: "throughput vs passthrough, c=32",
    target: "≥ 85 %",
    measured: ratio === undefined ? "n/a" : `${(ratio * 100).toFixed(1)} %`,
    pass: ratio === undefined ? null : ratio >= 0.85,
  });
  const addT = pair(r.ttfb, "proxy", "passthrough", ttfb50)?.median;
  out.push({
    name: "stream TTFB p50 added vs passthrough",
    target: "≤ 1 ms",
    measured: addT === undefined ? "n/a" : `${addT.toFixed(3)} ms`,
    pass: addT === undefined ? null : addT <= 1,
  });
  const sp = r.spacing?.byTarget.proxy;
  out.push({
    name: "chunk spacing (median gap deviation, held back)",
    target: `±${r.spacing?.toleranceMs ?? 2} ms, 0 held`,
    measured: sp ? `${sp.maxMedianGapDeviationMs.toFixed(3)} ms, ${sp.heldBack} held` : "n/a",
    pass: sp ? sp.withinTolerance : null,
  });
  const routed = pair(r.c1, "proxy-routed", "proxy", p50)?.median;
  out.push({
    name: "routed p50 added vs single upstream, c=1 (alias of 2, first healthy)",
    target: "≤ 0.05 ms",
    measured: routed === undefined ? "n/a" : `${routed.toFixed(3)} ms`,
    pass: routed === undefined ? null : routed <= 0.05,
  });
  out.push({
    name: "bundle gzip",
    target: "≤ 3072 KiB",
    measured: `${r.bundle.gzipKiB.toFixed(1)} KiB`,
    pass: r.bundle.gzipKiB <= 3072,
  });
  const st = r.startup.proxyProfile;
  out.push({
    name: "start-up CPU (wrangler check startup)",
    target: "≤ 1000 ms",
    measured: st ? `${st.activeMs.toFixed(1)} ms` : "not run",
    pass: st ? st.activeMs <= 1000 : null,
  });
  return out;
}
