// The bench's results history (bench/results/history.jsonl, committed: one short line per recorded run)
// and the CI guard against gross regressions.
//
// Figures are kept as ratios to the passthrough floor measured in the same run: machines differ (the CI
// runner is not the development machine, and this one drifts from day to day), but both the gateway and
// the floor run on the same machine at the same time, so their ratio carries over. CPU per request is the
// guarded figure: unlike latency or throughput it barely moves when other processes compete for the cores.
import { appendFile, readFile } from "node:fs/promises";
import { cpuRatio, type Results } from "./checks.ts";
import { type LoadResult, paired, round } from "./lib/index.ts";

export type HistoryEntry = {
  date: string;
  commit: string;
  mode: string;
  machine: string;
  storage: string;
  consumer: string;
  /** The floor's CPU per request (ms): a hint of the machine's speed, never compared. */
  floorCpuMs: { c1: number | null; c32: number | null };
  /** llm-proxy (unlimited token) CPU per request over the floor's, consumer in / out. */
  cpuRatio: { c1In: number | null; c32In: number | null; c1Out: number | null; c32Out: number | null };
  /** Throughput at c=32 over the floor's. */
  throughputRatio: { c32In: number | null; c32Out: number | null };
  /** Paired p50 added at c=1 and time to first streamed byte added, ms (machine-dependent: shown, not guarded). */
  addedMs: { p50c1: number | null; ttfb: number | null };
};

const r3 = (x: number | undefined | null) => (x === undefined || x === null ? null : round(x, 3));

export function historyEntry(r: Results): HistoryEntry {
  const m = r.meta as Record<string, unknown>;
  const inId = m.consumer === "out" ? undefined : "proxy";
  const outId = m.consumer === "out" ? "proxy" : m.consumer === "both" ? "proxy-out" : undefined;
  const ratio = (phase: "c1" | "c32", id: string | undefined) =>
    id ? r3(cpuRatio(r[phase], id)?.ratio) : null;
  // Paired medians over rounds, as the tables show them (lib/interleave.ts `paired`).
  const thr = (id: string | undefined) => {
    const a = id ? r.c32[id]?.rounds : undefined;
    const b = r.c32.passthrough?.rounds;
    return a && b ? r3(paired(a, b, (x) => x.rps, "ratio").median) : null;
  };
  const added = (phase: "c1" | "ttfb", pick: (x: LoadResult) => number) => {
    const a = inId ? r[phase][inId]?.rounds : undefined;
    const b = r[phase].passthrough?.rounds;
    return a && b ? r3(paired(a, b, pick, "diff").median) : null;
  };
  return {
    date: String(m.date),
    commit: String(m.commit),
    mode: String(m.mode),
    machine: `${m.cpus} × ${m.cpuModel}`,
    storage: String(m.storage),
    consumer: String(m.consumer),
    floorCpuMs: { c1: r3(r.c1.passthrough?.cpuMsPerRequest), c32: r3(r.c32.passthrough?.cpuMsPerRequest) },
    cpuRatio: {
      c1In: ratio("c1", inId),
      c32In: ratio("c32", inId),
      c1Out: ratio("c1", outId),
      c32Out: ratio("c32", outId),
    },
    throughputRatio: { c32In: thr(inId), c32Out: thr(outId) },
    addedMs: { p50c1: added("c1", (x) => x.latencyMs.p50), ttfb: added("ttfb", (x) => x.ttfbMs.p50) },
  };
}

export async function readHistory(file: string): Promise<HistoryEntry[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as HistoryEntry);
}

export async function appendHistory(file: string, entry: HistoryEntry): Promise<void> {
  await appendFile(file, `${JSON.stringify(entry)}\n`);
}

/** How many times the recorded ratio a run must exceed, in every guarded phase, to fail. */
export const GUARD_FACTOR = 2;

/**
 * Fails only on a gross regression: the CPU per request over the floor more than GUARD_FACTOR times the
 * last recorded run's (same mode, same consumer placement) at c=1 *and* at c=32. One noisy phase, a busy
 * runner or a slower machine cannot do that; a change that doubles the work per request does.
 */
export function guard(current: HistoryEntry, history: HistoryEntry[]): { ok: boolean; lines: string[] } {
  const last = history.filter((h) => h.mode === current.mode && h.consumer === current.consumer).at(-1);
  const lines = [
    `bench guard (CPU per request over the floor, consumer ${current.consumer}, ${current.mode} run)`,
  ];
  if (!last) {
    lines.push("  no recorded run of this mode: nothing to compare with (record one with --record)");
    return { ok: true, lines };
  }
  lines.push(`  recorded: ${last.date} ${last.commit} on ${last.machine}; this run on ${current.machine}`);
  const keys = current.consumer === "out" ? (["c1Out", "c32Out"] as const) : (["c1In", "c32In"] as const);
  let over = 0;
  let compared = 0;
  for (const k of keys) {
    const now = current.cpuRatio[k];
    const then = last.cpuRatio[k];
    if (now === null || then === null) {
      lines.push(`  ${k}: not measurable here (no /proc?)`);
      continue;
    }
    compared++;
    const limit = then * GUARD_FACTOR;
    const bad = now > limit;
    if (bad) over++;
    lines.push(
      `  ${k}: ${now.toFixed(2)}× the floor (recorded ${then.toFixed(2)}×, limit ${limit.toFixed(2)}×) ${bad ? "OVER" : "ok"}`,
    );
  }
  const ok = compared === 0 || over < compared;
  lines.push(
    ok
      ? "  pass"
      : `  FAIL: CPU per request over the floor is more than ${GUARD_FACTOR}× the recorded figure in every phase`,
  );
  return { ok, lines };
}
