// What the queue consumer writes: hourly rollups (usage, upstream health, rejections) and the ledger that
// makes it idempotent.
import { index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { now } from "./common";

/** Hourly usage rollups, one row per (hour, project, token, model); days and months are sums of hours. */
export const usageHourly = sqliteTable(
  "usage_hourly",
  {
    /** Start of the hour, epoch ms. */
    hour: integer("hour").notNull(),
    projectId: text("project_id").notNull(),
    /** Empty string for requests with no identified token. */
    tokenId: text("token_id").notNull(),
    /** Empty string when the model is unknown. */
    model: text("model").notNull(),
    requests: integer("requests").notNull().default(0),
    errors: integer("errors").notNull().default(0),
    promptTokens: integer("prompt_tokens").notNull().default(0),
    completionTokens: integer("completion_tokens").notNull().default(0),
    cachedTokens: integer("cached_tokens").notNull().default(0),
    reasoningTokens: integer("reasoning_tokens").notNull().default(0),
    estimatedRequests: integer("estimated_requests").notNull().default(0),
    costUsd: real("cost_usd").notNull().default(0),
    durationMsSum: integer("duration_ms_sum").notNull().default(0),
    /** Requests answered from the response cache (counted in `requests`, cost 0). */
    cacheHits: integer("cache_hits").notNull().default(0),
    /** Requests the cache could have answered but did not (sent upstream, then stored when cacheable). */
    cacheMisses: integer("cache_misses").notNull().default(0),
    /** What the cache hits would have cost: the price of the usage their original answers reported. */
    savedUsd: real("saved_usd").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.hour, t.projectId, t.tokenId, t.model] }),
    index("usage_project_hour_idx").on(t.projectId, t.hour),
    index("usage_token_hour_idx").on(t.tokenId, t.hour),
  ],
);

/**
 * Hourly health of upstreams and their keys, one row per (hour, project, upstream, key): requests they
 * served, how those ended, and attempts that failed there before another target or key answered.
 */
export const upstreamHourly = sqliteTable(
  "upstream_hourly",
  {
    hour: integer("hour").notNull(),
    projectId: text("project_id").notNull(),
    upstreamId: text("upstream_id").notNull(),
    /** Empty string for an upstream without keys. */
    keyId: text("key_id").notNull(),
    /** Requests this upstream and key answered (or failed last). */
    requests: integer("requests").notNull().default(0),
    /** Of those, answers that were the upstream's failure (5xx, broken connection, timeout). */
    errors: integer("errors").notNull().default(0),
    /** Attempts answered with 429, served or not. */
    rateLimited: integer("rate_limited").notNull().default(0),
    /** Attempts that failed here before another key or target answered. */
    failedAttempts: integer("failed_attempts").notNull().default(0),
    /** Time to first byte of the requests answered here (sum and count: requests without one are left out). */
    ttfbMsSum: integer("ttfb_ms_sum").notNull().default(0),
    ttfbCount: integer("ttfb_count").notNull().default(0),
    durationMsSum: integer("duration_ms_sum").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.hour, t.projectId, t.upstreamId, t.keyId] }),
    index("upstream_hourly_upstream_idx").on(t.upstreamId, t.hour),
  ],
);

/** Rejections without a valid token, counted by hour and error code (abuse monitoring). */
export const rejectionsHourly = sqliteTable(
  "rejections_hourly",
  {
    hour: integer("hour").notNull(),
    code: text("code").notNull(),
    count: integer("count").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.hour, t.code] })],
);

/**
 * Ledger of usage events already committed (rollups counted, R2 object key assigned): makes the queue
 * consumer idempotent when a batch is retried or redelivered.
 */
export const eventLedger = sqliteTable(
  "event_ledger",
  {
    eventId: text("event_id").primaryKey(),
    objectKey: text("object_key").notNull(),
    /** The JSON line, kept until the R2 object is confirmed written, then cleared. */
    line: text("line"),
    committedAt: integer("committed_at").notNull().default(now),
  },
  (t) => [
    index("event_ledger_object_idx").on(t.objectKey),
    index("event_ledger_committed_idx").on(t.committedAt),
  ],
);
