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
  /** The model requests name (default MODEL): an alias for the routed targets. */
  model?: string;
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
  /**
   * CPU time of the target's workerd process per measured request, ms (null: not measurable): all the
   * process used from its first measured round to the end of the phase — for a host with its queue
   * consumer in, until the consumer has counted every measured request.
   */
  cpuMsPerRequest: number | null;
  /** Round by round (the round's own window; a consumer's work may spill into the next), for the spread. */
  cpuRounds: (number | null)[];
  /** 1 when the consumer had not counted every request when the final wait gave up (the figure is short). */
  undrainedRounds: number;
};

/** Time for a host without a consumer to finish a round's `waitUntil` work (the event batcher waits 200 ms). */
const AFTER_ROUND_MS = 300;

/**
 * Interleaved rounds on every available target (see lib/interleave.ts), plus, where a target has a
 * CPU reader, the host's CPU time per request: unlike latency, it barely moves with the machine's load.
 * Each measured target has a process of its own, so all the CPU its process uses during the phase is the
 * target's: for a host running the queue consumer, that includes the consumer's work on the phase's
 * events, whenever the queue delivers them (the bench waits for the last batch at the end of the phase).
 */
export async function measureLoad(
  targets: Target[],
  plan: InterleavedPlan,
  spec: (t: Target) => RequestSpec,
  log: (msg: string) => void,
): Promise<Map<string, PhaseResult>> {
  const live = targets.filter((t) => !t.unavailable);
  type Cpu = { start: number | null; requests: number; roundStart: number | null; rounds: (number | null)[] };
  const cpu = new Map<string, Cpu>();
  const byId = new Map(live.map((t) => [t.id, t]));
  const results = await runInterleaved(
    live.map((t) => ({ id: t.id, spec: spec(t) })),
    plan,
    {
      warmed: (id, w) => byId.get(id)?.drain?.sent(w.requests),
      before: async (_round, id) => {
        const t = byId.get(id);
        let entry = cpu.get(id);
        if (!entry) {
          // The target's first round: its warm-up (and its consumer's work on it) is over first.
          await t?.drain?.before();
          entry = { start: t?.cpuMs?.() ?? null, requests: 0, roundStart: null, rounds: [] };
          cpu.set(id, entry);
        }
        entry.roundStart = t?.cpuMs?.() ?? null;
      },
      after: (round, id, r) => {
        const t = byId.get(id);
        const entry = cpu.get(id)!;
        entry.requests += r.requests;
        const end = t?.cpuMs?.() ?? null;
        const perReq =
          entry.roundStart !== null && end !== null && r.requests > 0
            ? (end - entry.roundStart) / r.requests
            : null;
        entry.rounds.push(perReq);
        log(
          `  c=${plan.concurrency} round ${round + 1}/${plan.rounds} ${id.padEnd(14)} p50 ${r.latencyMs.p50.toFixed(3)} ms  ${r.rps.toFixed(0)} req/s${perReq != null ? `  ${perReq.toFixed(3)} ms CPU/req` : ""}${r.failed ? `  ${r.failed} failed` : ""}`,
        );
      },
    },
  );
  // The end of the phase, for every process at once: the consumers' last batches wait for the batch timeout.
  const totals = new Map<string, { perRequest: number | null; undrained: number }>();
  await Promise.all(
    live.map(async (t) => {
      const c = cpu.get(t.id);
      if (!c || c.start === null || !t.cpuMs || c.requests === 0) {
        totals.set(t.id, { perRequest: null, undrained: 0 });
        return;
      }
      let end: number | null;
      let undrained = 0;
      let polls = 0;
      if (t.drain) {
        const d = await t.drain.after(c.requests);
        end = d.cpuMs;
        polls = d.polls;
        if (!d.ok) undrained = 1;
      } else {
        await new Promise((resolve) => setTimeout(resolve, AFTER_ROUND_MS));
        end = t.cpuMs();
      }
      const used = end === null ? null : end - c.start - polls * (t.pollCpuMs ?? 0);
      totals.set(t.id, { perRequest: used === null ? null : used / c.requests, undrained });
      if (t.drain)
        log(`  ${t.id}: consumer caught up; ${used?.toFixed(0)} ms CPU for ${c.requests} requests`);
    }),
  );
  return new Map(
    [...results].map(([id, r]) => [
      id,
      {
        ...r,
        cpuMsPerRequest: totals.get(id)?.perRequest ?? null,
        cpuRounds: cpu.get(id)?.rounds ?? [],
        undrainedRounds: totals.get(id)?.undrained ?? 0,
      },
    ]),
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
