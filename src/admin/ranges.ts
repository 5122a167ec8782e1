// The time ranges of the admin charts and the sums shown beside them: pure, shared by the queries
// (stats.ts) and the views.

export const RANGES = {
  hour: { label: "Last hour", buckets: 2, step: 3_600_000 },
  day: { label: "Last 24 hours", buckets: 24, step: 3_600_000 },
  month: { label: "Last 30 days", buckets: 30, step: 86_400_000 },
} as const;
export type Range = keyof typeof RANGES;

export const isRange = (v: unknown): v is Range => typeof v === "string" && v in RANGES;

export type Bucket = {
  start: number;
  requests: number;
  errors: number;
  tokens: number;
  costUsd: number;
  /** Requests answered from the response cache, requests it could not answer, and what the hits saved. */
  cacheHits: number;
  cacheMisses: number;
  savedUsd: number;
};
export type Totals = Omit<Bucket, "start">;
export type Top = { key: string; name: string | null; requests: number; tokens: number; costUsd: number };
/** An upstream's traffic and health over a range (from upstream_hourly). */
export type UpstreamTop = {
  upstreamId: string;
  projectId: string;
  name: string | null;
  projectName: string | null;
  requests: number;
  errors: number;
  failedAttempts: number;
  rateLimited: number;
  avgTtfbMs: number | null;
};

/** First bucket start of the range: rollups are hourly, days are sums of hours (UTC). */
export function rangeStart(range: Range, now = Date.now()): number {
  const { buckets, step } = RANGES[range];
  return Math.floor(now / step) * step - (buckets - 1) * step;
}

export function totalsOf(series: Bucket[]): Totals {
  return series.reduce(
    (t, b) => ({
      requests: t.requests + b.requests,
      errors: t.errors + b.errors,
      tokens: t.tokens + b.tokens,
      costUsd: t.costUsd + b.costUsd,
      cacheHits: t.cacheHits + b.cacheHits,
      cacheMisses: t.cacheMisses + b.cacheMisses,
      savedUsd: t.savedUsd + b.savedUsd,
    }),
    { requests: 0, errors: 0, tokens: 0, costUsd: 0, cacheHits: 0, cacheMisses: 0, savedUsd: 0 },
  );
}
