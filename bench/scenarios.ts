// The bench's measurements, target by target, interleaved in rounds so that drift on a shared machine
// (other processes, thermal, GC) spreads over every target instead of landing on one.
import {
  analyseSpacing,
  createPool,
  type InterleavedPlan,
  type InterleavedResult,
  medianGaps,
  type RequestSpec,
  runInterleaved,
  type SpacingReport,
  sampleStreams,
  type Timing,
  timedRequest,
} from "./lib/index.ts";

export type Target = {
  id: string;
  label: string;
  /** Origin of the host; requests go to `${origin}/v1/...`. */
  origin: string;
  headers: Record<string, string>;
  /** The model requests name (default MODEL): an alias for the routed targets. */
  model?: string;
  /** CPU time used so far by the process serving this target (ms), if it can be read. */
  cpuMs?: () => number | null;
  /** Why it is not measured (its probe failed), if so. */
  unavailable?: string;
};

export const MODEL = "gpt-4o-mini";
const JSON_HEADERS = { "content-type": "application/json" };

/** A small chat completion, answered by the mock in one JSON body. */
export function chatSpec(t: Target): RequestSpec {
  return {
    url: `${t.origin}/v1/chat/completions`,
    headers: { ...JSON_HEADERS, ...t.headers },
    body: JSON.stringify({ model: t.model ?? MODEL, messages: [{ role: "user", content: "Say hello." }] }),
  };
}

/** A streamed chat completion of `chunks` content chunks, `intervalMs` apart. */
export function streamSpec(t: Target, chunks: number, intervalMs: number): RequestSpec {
  return {
    url: `${t.origin}/v1/chat/completions`,
    headers: {
      ...JSON_HEADERS,
      ...t.headers,
      "x-mock-chunks": String(chunks),
      "x-mock-interval-ms": String(intervalMs),
    },
    body: JSON.stringify({
      model: t.model ?? MODEL,
      stream: true,
      messages: [{ role: "user", content: "Count slowly." }],
    }),
  };
}

/** One request per target; a target that cannot answer 2xx is marked unavailable and skipped. */
export async function probe(targets: Target[]): Promise<void> {
  for (const t of targets) {
    const pool = createPool(t.origin, 1);
    try {
      const r = await timedRequest(pool, chatSpec(t), { timeoutMs: 10_000 });
      if (r.error) t.unavailable = r.error;
    } finally {
      await pool.close();
    }
  }
}

export type PhaseResult = InterleavedResult & {
  /** CPU time of the target's workerd process per measured request, ms (null: not measurable). */
  cpuMsPerRequest: number | null;
};

/**
 * Interleaved rounds on every available target (see lib/interleave.ts), plus, where a target has a
 * CPU reader, the host's CPU time per request: unlike latency, it barely moves with the machine's load.
 */
export async function measureLoad(
  targets: Target[],
  plan: InterleavedPlan,
  spec: (t: Target) => RequestSpec,
  log: (msg: string) => void,
): Promise<Map<string, PhaseResult>> {
  const live = targets.filter((t) => !t.unavailable);
  const cpu = new Map<string, { total: number; requests: number; start: number | null }>();
  const byId = new Map(live.map((t) => [t.id, t]));
  const results = await runInterleaved(
    live.map((t) => ({ id: t.id, spec: spec(t) })),
    plan,
    {
      before: (_round, id) => {
        const entry = cpu.get(id) ?? { total: 0, requests: 0, start: null };
        entry.start = byId.get(id)?.cpuMs?.() ?? null;
        cpu.set(id, entry);
      },
      after: (round, id, r) => {
        const entry = cpu.get(id)!;
        const end = byId.get(id)?.cpuMs?.() ?? null;
        if (entry.start !== null && end !== null) {
          entry.total += end - entry.start;
          entry.requests += r.requests;
        }
        log(
          `  c=${plan.concurrency} round ${round + 1}/${plan.rounds} ${id.padEnd(14)} p50 ${r.latencyMs.p50.toFixed(3)} ms  ${r.rps.toFixed(0)} req/s${r.failed ? `  ${r.failed} failed` : ""}`,
        );
      },
    },
  );
  return new Map(
    [...results].map(([id, r]) => {
      const c = cpu.get(id);
      return [id, { ...r, cpuMsPerRequest: c && c.requests > 0 ? c.total / c.requests : null }];
    }),
  );
}

export type SpacingResult = {
  chunks: number;
  intervalMs: number;
  runs: number;
  toleranceMs: number;
  /** The upstream's schedule (the interval, or 0 between events it writes at once): every target's reference. */
  expectedGapsMs: number[];
  /** What the direct stream actually showed, per gap (median over runs). */
  directMedianGapsMs: number[];
  byTarget: Record<string, SpacingReport & { ttfbMs: number[] }>;
};

/**
 * Streams of `chunks` chunks `intervalMs` apart through every target at once (a few events per second),
 * `runs` times; every target's gaps compared with the upstream's nominal schedule, so the direct row is
 * the noise floor (the mock's timers, the machine) and the others add what the worker does.
 */
export async function measureSpacing(
  targets: Target[],
  opts: { chunks: number; intervalMs: number; runs: number; toleranceMs: number },
): Promise<SpacingResult> {
  const live = targets.filter((t) => !t.unavailable);
  const runs = new Map<string, Timing[]>(live.map((t) => [t.id, []]));
  // Staggered by a fraction of the interval so the targets' events (and the proxy targets' set-up work,
  // which shares one workerd) never fall on the same instant.
  const stagger = opts.intervalMs / Math.max(1, live.length);
  for (let i = 0; i < opts.runs; i++) {
    await Promise.all(
      live.map(async (t, k) => {
        await new Promise((resolve) => setTimeout(resolve, k * stagger));
        const [timing] = await sampleStreams(streamSpec(t, opts.chunks, opts.intervalMs), 1, {
          timeoutMs: 30_000,
        });
        runs.get(t.id)!.push(timing!);
      }),
    );
  }
  // The schedule's shape (which gaps are an interval, which 0) read off the direct stream: a median gap
  // rounded to whole intervals.
  const directGaps = medianGaps(runs.get("direct") ?? []);
  const expected = directGaps.map((g) => Math.round(g / opts.intervalMs) * opts.intervalMs);
  const byTarget: SpacingResult["byTarget"] = {};
  for (const t of live) {
    const rs = runs.get(t.id)!;
    byTarget[t.id] = {
      ...analyseSpacing(rs, expected, { intervalMs: opts.intervalMs, toleranceMs: opts.toleranceMs }),
      ttfbMs: rs.map((r) => r.ttfbMs),
    };
  }
  return { ...opts, expectedGapsMs: expected, directMedianGapsMs: directGaps, byTarget };
}
