// Percentiles from the raw samples: a benchmark run holds at most some tens of thousands of numbers,
// so sorting them is exact and cheaper to trust than a histogram's bucket rounding.

export type Summary = {
  count: number;
  min: number;
  mean: number;
  stdev: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
};

const EMPTY: Summary = { count: 0, min: 0, mean: 0, stdev: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };

/** Sorted copy, ascending (numeric, not lexicographic). */
export function sorted(samples: ArrayLike<number>): Float64Array {
  return Float64Array.from(samples).sort();
}

/**
 * The p-th percentile (0–100) of an ascending array, by the nearest-rank method: the smallest sample with
 * at least p % of the samples at or below it. It always returns a measured value, never an interpolation.
 */
export function percentile(ascending: ArrayLike<number>, p: number): number {
  const n = ascending.length;
  if (n === 0) return 0;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return ascending[rank - 1] ?? 0;
}

/** The median (the mean of the two middle values for an even count); 0 for no values. */
export function median(values: ArrayLike<number>): number {
  const s = sorted(values);
  const mid = s.length >> 1;
  return s.length === 0 ? 0 : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(samples: ArrayLike<number>): Summary {
  const s = sorted(samples);
  const n = s.length;
  if (n === 0) return { ...EMPTY };
  let sum = 0;
  for (const v of s) sum += v;
  const mean = sum / n;
  let sq = 0;
  for (const v of s) sq += (v - mean) ** 2;
  return {
    count: n,
    min: s[0] ?? 0,
    mean,
    stdev: n > 1 ? Math.sqrt(sq / (n - 1)) : 0,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    p999: percentile(s, 99.9),
    max: s[n - 1] ?? 0,
  };
}

/** Field-by-field difference `a - b` of two summaries (the "added" latency of a against a baseline b). */
export function subtract(a: Summary, b: Summary): Omit<Summary, "count" | "stdev"> {
  return {
    min: a.min - b.min,
    mean: a.mean - b.mean,
    p50: a.p50 - b.p50,
    p90: a.p90 - b.p90,
    p99: a.p99 - b.p99,
    p999: a.p999 - b.p999,
    max: a.max - b.max,
  };
}

/** Round to a fixed number of decimals for output (keeps JSON readable, avoids 0.30000000000000004). */
export function round(value: number, decimals = 3): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

export type Histogram = { edges: number[]; counts: number[] };

/**
 * Counts of samples in `buckets` equal-width buckets from min to max (or the given range): edges has
 * buckets + 1 entries. For charts; percentiles come from summarize().
 */
export function histogram(
  samples: ArrayLike<number>,
  buckets: number,
  range?: { min: number; max: number },
): Histogram {
  const s = sorted(samples);
  const min = range?.min ?? s[0] ?? 0;
  const max = range?.max ?? s[s.length - 1] ?? 0;
  const width = (max - min) / buckets || 1;
  const edges = Array.from({ length: buckets + 1 }, (_, i) => min + i * width);
  const counts = new Array<number>(buckets).fill(0);
  for (const v of s) {
    if (v < min || v > max) continue;
    const i = Math.min(buckets - 1, Math.floor((v - min) / width));
    counts[i] = (counts[i] ?? 0) + 1;
  }
  return { edges, counts };
}
