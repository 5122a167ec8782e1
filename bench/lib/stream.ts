// Streaming measurements: time to first byte and whether server-sent events keep the spacing the
// upstream gave them. Event arrival times come from timedRequest(..., { trackEvents: true }).
import type { Dispatcher } from "undici";
import { createPool, type RequestSpec, type Timing, timedRequest } from "./client.ts";
import { median, round } from "./stats.ts";

/** Arrival times of distinct SSE events of `runs` sequential streams (one connection, kept alive). */
export async function sampleStreams(
  spec: RequestSpec,
  runs: number,
  opts: { dispatcher?: Dispatcher; timeoutMs?: number } = {},
): Promise<Timing[]> {
  const dispatcher = opts.dispatcher ?? createPool(spec.url, 1);
  try {
    const out: Timing[] = [];
    for (let i = 0; i < runs; i++) {
      const t = await timedRequest(dispatcher, spec, { trackEvents: true, timeoutMs: opts.timeoutMs });
      if (t.error) throw new Error(`stream ${spec.url}: ${t.error}`);
      out.push(t);
    }
    return out;
  } finally {
    if (!opts.dispatcher) await dispatcher.close();
  }
}

/** Gaps between consecutive events: gaps[i] = events[i + 1] - events[i]. */
export function gaps(eventsMs: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < eventsMs.length; i++) out.push((eventsMs[i] ?? 0) - (eventsMs[i - 1] ?? 0));
  return out;
}

/** Per-index median of several runs' gaps (the expected shape, e.g. of the direct call to the upstream). */
export function medianGaps(runs: readonly Timing[]): number[] {
  const all = runs.map((r) => gaps(r.eventsMs ?? []));
  const n = Math.min(...all.map((g) => g.length));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const col = all.map((g) => g[i] ?? 0).sort((a, b) => a - b);
    out.push(col[Math.floor(col.length / 2)] ?? 0);
  }
  return out;
}

export type SpacingReport = {
  runs: number;
  /** Events per stream (the first run); `eventCountMismatch` when runs or baseline disagree. */
  events: number;
  eventCountMismatch: boolean;
  /** Per gap index, the median over runs of (measured gap − expected gap), ms. */
  medianGapDeviationMs: number[];
  /**
   * Largest |median gap deviation|: what the gateway does to the spacing systematically. A scheduler
   * stall on a busy machine hits one run at random and is filtered out; buffering hits every run.
   */
  maxMedianGapDeviationMs: number;
  /** Largest |gap deviation| of any single run (includes the machine's noise). */
  maxGapDeviationMs: number;
  /**
   * Largest median lateness of an event against where the expected gaps put it, counted from the first
   * event (so it includes the upstream's own timer drift, which accumulates).
   */
  maxLatenessMs: number;
  /**
   * Events that, in the median run, came more than half an interval after they should have after their
   * predecessor: held back (typically until the next event), not jitter.
   */
  heldBack: number;
  /** Gaps more than half an interval too long in any single run (noise included). */
  lateInAnyRun: number;
  /** Median deviations within ±toleranceMs, nothing held back, same events as expected. */
  withinTolerance: boolean;
  toleranceMs: number;
};

/**
 * Compares streams' event spacing with the expected gaps (typically the median gaps of the same stream
 * fetched directly from the upstream, so the upstream's own timer jitter is not charged to the gateway).
 */
export function analyseSpacing(
  runs: readonly Timing[],
  expectedGapsMs: readonly number[],
  opts: { intervalMs: number; toleranceMs?: number },
): SpacingReport {
  const toleranceMs = opts.toleranceMs ?? 2;
  const first = runs[0]?.eventsMs ?? [];
  let mismatch = false;
  let maxDev = 0;
  let lateInAnyRun = 0;
  const devs: number[][] = expectedGapsMs.map(() => []);
  const lates: number[][] = expectedGapsMs.map(() => []);
  for (const run of runs) {
    const ev = run.eventsMs ?? [];
    if (ev.length !== expectedGapsMs.length + 1) mismatch = true;
    const g = gaps(ev);
    let expectedAt = 0;
    for (let i = 0; i < Math.min(g.length, expectedGapsMs.length); i++) {
      const expected = expectedGapsMs[i] ?? 0;
      const dev = (g[i] ?? 0) - expected;
      devs[i]!.push(dev);
      maxDev = Math.max(maxDev, Math.abs(dev));
      expectedAt += expected;
      const late = (ev[i + 1] ?? 0) - (ev[0] ?? 0) - expectedAt;
      lates[i]!.push(late);
      if (dev > opts.intervalMs / 2) lateInAnyRun++;
    }
  }
  const medDevs = devs.map(median);
  const medLates = lates.map(median);
  const maxMedDev = Math.max(0, ...medDevs.map(Math.abs));
  const heldBack = medDevs.filter((d) => d > opts.intervalMs / 2).length;
  return {
    runs: runs.length,
    events: first.length,
    eventCountMismatch: mismatch,
    medianGapDeviationMs: medDevs.map((d) => round(d)),
    maxMedianGapDeviationMs: round(maxMedDev),
    maxGapDeviationMs: round(maxDev),
    maxLatenessMs: round(Math.max(0, ...medLates)),
    heldBack,
    lateInAnyRun,
    withinTolerance: maxMedDev <= toleranceMs && heldBack === 0 && !mismatch,
    toleranceMs,
  };
}
