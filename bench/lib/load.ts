// Closed-loop load: `concurrency` clients, each sending its next request as soon as the previous one is
// fully read, until `requests` have completed. Latency is measured per request; throughput over the run.
import type { Dispatcher } from "undici";
import { createPool, type RequestSpec, type Timing, timedRequest } from "./client.ts";
import { type Summary, subtract, summarize } from "./stats.ts";

export type LoadOptions = RequestSpec & {
  /** Requests to measure. */
  requests: number;
  /** Requests in flight at once (each on its own keep-alive connection). */
  concurrency: number;
  /** Stop starting new measured requests after this long (the ones in flight finish): bounds a run. */
  maxDurationMs?: number;
  /** Requests sent first, at the same concurrency, and not recorded (connections, JIT, caches). */
  warmup?: number;
  timeoutMs?: number;
  /** Reuse a dispatcher (it is then not closed); by default a pool of `concurrency` connections. */
  dispatcher?: Dispatcher;
  /** Record each SSE event's arrival (for streamed requests). */
  trackEvents?: boolean;
  /** Build the spec of the i-th request (e.g. a different body or tag each time). */
  vary?: (i: number) => Partial<RequestSpec>;
  /** Called after every completed measured request. */
  onProgress?: (done: number, total: number) => void;
  /** Keep every request's timing in `timings` (memory grows with `requests`). */
  keepTimings?: boolean;
  signal?: AbortSignal;
};

export type LoadResult = {
  requests: number;
  concurrency: number;
  /** 2xx and 3xx responses read to the end. */
  ok: number;
  failed: number;
  /** Wall time of the measured phase. */
  durationMs: number;
  /** Completed requests (ok or not) per second of the measured phase. */
  rps: number;
  /** Of successful requests only: a fast 429 must not flatter the latency. */
  latencyMs: Summary;
  ttfbMs: Summary;
  statuses: Record<string, number>;
  /** Failure label → count: `HTTP 429 rate_limit_exceeded`, `ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`, … */
  errors: Record<string, number>;
  bytes: number;
  /** Raw latency samples of successful requests, in completion order. */
  latencySamples: number[];
  ttfbSamples: number[];
  timings?: Timing[];
};

async function drive(
  count: number,
  concurrency: number,
  send: (i: number) => Promise<Timing>,
  onDone: (t: Timing, i: number) => void,
  signal?: AbortSignal,
  deadline = Number.POSITIVE_INFINITY,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count && !signal?.aborted && performance.now() < deadline) {
      const i = next++;
      onDone(await send(i), i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
}

/** Runs a closed-loop load test against one URL and summarises it. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const dispatcher = opts.dispatcher ?? createPool(opts.url, opts.concurrency);
  const specFor = (i: number): RequestSpec => (opts.vary ? { ...opts, ...opts.vary(i) } : opts);
  const reqOpts = { timeoutMs: opts.timeoutMs, trackEvents: opts.trackEvents, signal: opts.signal };
  try {
    if (opts.warmup) {
      await drive(
        opts.warmup,
        opts.concurrency,
        (i) => timedRequest(dispatcher, specFor(i), reqOpts),
        () => {},
        opts.signal,
      );
    }
    const latencySamples: number[] = [];
    const ttfbSamples: number[] = [];
    const statuses: Record<string, number> = {};
    const errors: Record<string, number> = {};
    const timings: Timing[] | undefined = opts.keepTimings ? [] : undefined;
    let ok = 0;
    let bytes = 0;
    let done = 0;
    const start = performance.now();
    await drive(
      opts.requests,
      opts.concurrency,
      (i) => timedRequest(dispatcher, specFor((opts.warmup ?? 0) + i), reqOpts),
      (t) => {
        done++;
        bytes += t.bytes;
        statuses[t.status] = (statuses[t.status] ?? 0) + 1;
        if (t.error) errors[t.error] = (errors[t.error] ?? 0) + 1;
        else {
          ok++;
          latencySamples.push(t.totalMs);
          ttfbSamples.push(t.ttfbMs);
        }
        timings?.push(t);
        opts.onProgress?.(done, opts.requests);
      },
      opts.signal,
      opts.maxDurationMs === undefined ? undefined : start + opts.maxDurationMs,
    );
    const durationMs = performance.now() - start;
    const result: LoadResult = {
      requests: done,
      concurrency: opts.concurrency,
      ok,
      failed: done - ok,
      durationMs,
      rps: durationMs > 0 ? (done * 1000) / durationMs : 0,
      latencyMs: summarize(latencySamples),
      ttfbMs: summarize(ttfbSamples),
      statuses,
      errors,
      bytes,
      latencySamples,
      ttfbSamples,
    };
    if (timings) result.timings = timings;
    return result;
  } finally {
    if (!opts.dispatcher) await dispatcher.close();
  }
}

/** Pools several runs of the same target (e.g. interleaved rounds) into one result. */
export function mergeLoad(results: LoadResult[]): LoadResult {
  const first = results[0];
  if (!first) throw new Error("mergeLoad: no results");
  const latencySamples = results.flatMap((r) => r.latencySamples);
  const ttfbSamples = results.flatMap((r) => r.ttfbSamples);
  const add = (key: "statuses" | "errors") => {
    const out: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r[key])) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const requests = results.reduce((s, r) => s + r.requests, 0);
  const durationMs = results.reduce((s, r) => s + r.durationMs, 0);
  return {
    requests,
    concurrency: first.concurrency,
    ok: results.reduce((s, r) => s + r.ok, 0),
    failed: results.reduce((s, r) => s + r.failed, 0),
    durationMs,
    rps: durationMs > 0 ? (requests * 1000) / durationMs : 0,
    latencyMs: summarize(latencySamples),
    ttfbMs: summarize(ttfbSamples),
    statuses: add("statuses"),
    errors: add("errors"),
    bytes: results.reduce((s, r) => s + r.bytes, 0),
    latencySamples,
    ttfbSamples,
  };
}

export type Comparison = {
  /** Latency of the target minus the baseline's, per statistic, ms. */
  addedLatencyMs: ReturnType<typeof subtract>;
  /** target rps / baseline rps (1 = as fast). */
  throughputRatio: number;
  /** Target TTFB minus the baseline's, per statistic, ms. */
  addedTtfbMs: ReturnType<typeof subtract>;
};

/** How a target compares with a baseline measured the same way (e.g. gateway vs direct). */
export function compareLoad(target: LoadResult, baseline: LoadResult): Comparison {
  return {
    addedLatencyMs: subtract(target.latencyMs, baseline.latencyMs),
    throughputRatio: baseline.rps > 0 ? target.rps / baseline.rps : 0,
    addedTtfbMs: subtract(target.ttfbMs, baseline.ttfbMs),
  };
}
