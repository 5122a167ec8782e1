// Streaming measurements: time to first byte and whether server-sent events keep the spacing the
// upstream gave them. Event arrival times come from timedRequest(..., { trackEvents: true }).
import type { Dispatcher } from "undici";
import { createPool, type RequestSpec, type Timing, timedRequest } from "./client.ts";
import { round } from "./stats.ts";

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
  /** Mean over runs of (measured gap − expected gap), per gap index, ms. */
  meanGapDeviationMs: number[];
  /** Largest |measured gap − expected gap| over all runs and gaps. */
  maxGapDeviationMs: number;
  /** Largest lateness of an event against where the expected gaps put it (from the run's first event). */
  maxLatenessMs: number;
  /** Events later than half an interval: held back by buffering, not jitter. */
  heldBack: number;
  /** Every gap within ±toleranceMs and nothing held back. */
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
  let maxLate = 0;
  let heldBack = 0;
  const sums: number[] = [];
  for (const run of runs) {
    const ev = run.eventsMs ?? [];
    if (ev.length !== first.length || ev.length !== expectedGapsMs.length + 1) mismatch = true;
    const g = gaps(ev);
    let expectedAt = 0;
    for (let i = 0; i < Math.min(g.length, expectedGapsMs.length); i++) {
      const expected = expectedGapsMs[i] ?? 0;
      const dev = (g[i] ?? 0) - expected;
      sums[i] = (sums[i] ?? 0) + dev;
      maxDev = Math.max(maxDev, Math.abs(dev));
      expectedAt += expected;
      const late = (ev[i + 1] ?? 0) - (ev[0] ?? 0) - expectedAt;
      maxLate = Math.max(maxLate, late);
      if (late > opts.intervalMs / 2) heldBack++;
    }
  }
  return {
    runs: runs.length,
    events: first.length,
    eventCountMismatch: mismatch,
    meanGapDeviationMs: sums.map((s) => round(s / Math.max(1, runs.length))),
    maxGapDeviationMs: round(maxDev),
    maxLatenessMs: round(maxLate),
    heldBack,
    withinTolerance: maxDev <= toleranceMs && heldBack === 0 && !mismatch,
    toleranceMs,
  };
}
