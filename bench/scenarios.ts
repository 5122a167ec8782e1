// The bench's measurements, target by target, interleaved in rounds so that drift on a shared machine
// (other processes, thermal, GC) spreads over every target instead of landing on one.
import type { QueueDrain } from "./drain.ts";
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
  /** CPU time used so far by the process serving this target (ms), if it can be read. */
  cpuMs?: () => number | null;
  /**
   * The target's queue consumer runs in the same process: each round's CPU time is read only once the
   * consumer has handled the round's events (see drain.ts), less the CPU the bench's own polls cost.
   */
  drain?: QueueDrain;
  /** CPU time (ms) one poll of the drain costs the process, measured at start-up. */
  pollCpuMs?: number;
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
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Say hello." }] }),
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
      model: MODEL,
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
  /** The same, round by round (null where it could not be read), for paired ratios. */
  cpuRounds: (number | null)[];
  /** Rounds whose events the consumer had not all counted when the wait gave up (their CPU may be short). */
  undrainedRounds: number;
};

/** Time for a host without a consumer to finish a round's `waitUntil` work (the event batcher waits 25 ms). */
const AFTER_ROUND_MS = 60;

/**
 * Interleaved rounds on every available target (see lib/interleave.ts), plus, where a target has a
 * CPU reader, the host's CPU time per request: unlike latency, it barely moves with the machine's load.
 * For a host running the queue consumer, a round's CPU includes the consumer's work on the round's events.
 */
export async function measureLoad(
  targets: Target[],
  plan: InterleavedPlan,
  spec: (t: Target) => RequestSpec,
  log: (msg: string) => void,
): Promise<Map<string, PhaseResult>> {
  const live = targets.filter((t) => !t.unavailable);
  type Cpu = {
    total: number;
    requests: number;
    start: number | null;
    polls: number;
    rounds: (number | null)[];
    undrained: number;
  };
  const cpu = new Map<string, Cpu>();
  const byId = new Map(live.map((t) => [t.id, t]));
  const results = await runInterleaved(
    live.map((t) => ({ id: t.id, spec: spec(t) })),
    plan,
    {
      warmed: (id, w) => byId.get(id)?.drain?.sent(w.requests),
      before: async (_round, id) => {
        const t = byId.get(id);
        const entry = cpu.get(id) ?? {
          total: 0,
          requests: 0,
          start: null,
          polls: 0,
          rounds: [],
          undrained: 0,
        };
        cpu.set(id, entry);
        await t?.drain?.before();
        entry.polls = t?.drain?.stats.polls ?? 0;
        entry.start = t?.cpuMs?.() ?? null;
      },
      after: async (round, id, r) => {
        const t = byId.get(id);
        const entry = cpu.get(id)!;
        let drained = true;
        if (t?.drain) drained = await t.drain.after(r.requests);
        else if (t?.cpuMs) await new Promise((resolve) => setTimeout(resolve, AFTER_ROUND_MS));
        const end = t?.cpuMs?.() ?? null;
        if (!drained) entry.undrained++;
        if (entry.start !== null && end !== null && r.requests > 0) {
          const polls = (t?.drain?.stats.polls ?? 0) - entry.polls;
          const used = end - entry.start - polls * (t?.pollCpuMs ?? 0);
          entry.total += used;
          entry.requests += r.requests;
          entry.rounds.push(used / r.requests);
        } else entry.rounds.push(null);
        const perReq = entry.rounds.at(-1);
        log(
          `  c=${plan.concurrency} round ${round + 1}/${plan.rounds} ${id.padEnd(14)} p50 ${r.latencyMs.p50.toFixed(3)} ms  ${r.rps.toFixed(0)} req/s${perReq != null ? `  ${perReq.toFixed(3)} ms CPU/req` : ""}${r.failed ? `  ${r.failed} failed` : ""}${drained ? "" : "  (consumer not caught up)"}`,
        );
      },
    },
  );
  return new Map(
    [...results].map(([id, r]) => {
      const c = cpu.get(id);
      return [
        id,
        {
          ...r,
          cpuMsPerRequest: c && c.requests > 0 ? c.total / c.requests : null,
          cpuRounds: c?.rounds ?? [],
          undrainedRounds: c?.undrained ?? 0,
        },
      ];
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
  // Streams sent here are not counted: a later measurement settles first.
  for (const t of live) t.drain?.forget();
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
