// Measuring code shared by `npm run bench` (bench/run.ts) and the `llm-proxy benchmark` command:
// keep-alive load generation, exact percentiles, TTFB and SSE event timing, table/CSV/JSON output.
// Plain Node ESM with erasable types only (Node 22 runs it without a build); one dependency, undici.
export {
  createAgent,
  createPool,
  type RequestSpec,
  type TimedRequestOptions,
  type Timing,
  timedRequest,
} from "./client.ts";
export {
  type InterleavedPlan,
  type InterleavedResult,
  type InterleavedTarget,
  type Paired,
  paired,
  type RoundHooks,
  runInterleaved,
} from "./interleave.ts";
export {
  type Comparison,
  compareLoad,
  type LoadOptions,
  type LoadResult,
  mergeLoad,
  runLoad,
} from "./load.ts";
export { type Cell, renderMarkdown, renderTable, toCsv, writeJson } from "./output.ts";
export {
  type Histogram,
  histogram,
  median,
  percentile,
  round,
  type Summary,
  sorted,
  subtract,
  summarize,
} from "./stats.ts";
export { analyseSpacing, gaps, medianGaps, type SpacingReport, sampleStreams } from "./stream.ts";
