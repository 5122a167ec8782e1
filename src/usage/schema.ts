import { z } from "zod";
import { listOf, Timestamp } from "../lib/schemas";
import type { UsageEvent as UsageEventType } from "./event";

/** The usage counts of an event (docs/usage-events.md). */
export const Usage = z.object({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative(),
  cached_tokens: z.number().int().nonnegative().optional(),
  cache_creation_tokens: z.number().int().nonnegative().optional(),
  cache_creation_1h_tokens: z.number().int().nonnegative().optional(),
  reasoning_tokens: z.number().int().nonnegative().optional(),
});

/** One request event: a line of the R2 request log. Checked again by the consumer before it is written. */
export const UsageEvent = z.object({
  id: z.string().min(1).max(200),
  timestamp: z.iso.datetime({ offset: true }),
  token_id: z.string().nullable(),
  project_id: z.string().nullable(),
  method: z.string(),
  path: z.string(),
  status: z.number().int(),
  duration_ms: z.number().nonnegative(),
  ttfb_ms: z.number().nonnegative().nullable(),
  stream: z.boolean(),
  model: z.string().nullable(),
  provider: z.string().nullable().optional(),
  usage: Usage.nullable(),
  usage_source: z.enum(["upstream", "estimated", "none"]),
  cost_usd: z.number().nonnegative().nullable(),
  error: z.string().nullable(),
  aborted: z.boolean(),
  upstream_request_id: z.string().nullable(),
  colo: z.string().nullable(),
  user_agent: z.string().nullable(),
  upstream: z.string().nullable().optional(),
  upstream_id: z.string().nullable().optional(),
  key_id: z.string().nullable().optional(),
  model_requested: z.string().nullable().optional(),
  attempts: z.number().int().nonnegative().optional(),
  attempt_errors: z
    .array(
      z.object({
        upstream: z.string(),
        upstream_id: z.string(),
        key_id: z.string().nullable(),
        status: z.number().int().nullable(),
        error: z.string(),
        ms: z.number().nonnegative(),
      }),
    )
    .max(20)
    .optional(),
  cache: z.enum(["hit", "miss", "refresh", "bypass"]).optional(),
  saved_usd: z.number().nonnegative().nullable().optional(),
}) satisfies z.ZodType<UsageEventType>;

export const RejectionSummary = z.object({
  kind: z.literal("rejections"),
  id: z.string().min(1).max(200),
  rejections: z
    .array(
      z.object({ hour: z.number().int(), code: z.string().max(100), count: z.number().int().positive() }),
    )
    .max(1000),
});

const Id = z.string().trim().min(1).max(200);

export const UsageQuery = z.object({
  project_id: Id.optional(),
  token_id: Id.optional(),
  model: Id.optional(),
  from: Timestamp.optional().describe("Start (inclusive), ISO 8601; default: 7 days before `to`"),
  to: Timestamp.optional().describe("End (exclusive), ISO 8601; default: now"),
  group_by: z.enum(["hour", "day", "model", "project", "token"]).default("day"),
});
export type UsageQuery = z.infer<typeof UsageQuery>;

export const UsageRow = z.object({
  hour: z.string().optional().describe("Start of the hour (group_by=hour)"),
  day: z.string().optional().describe("YYYY-MM-DD, UTC (group_by=day)"),
  model: z.string().nullable().optional(),
  project_id: z.string().optional(),
  token_id: z.string().nullable().optional(),
  requests: z.number().int(),
  errors: z.number().int(),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
  cached_tokens: z.number().int(),
  reasoning_tokens: z.number().int(),
  estimated_requests: z.number().int().describe("Requests whose usage is a tokenizer estimate"),
  cost_usd: z.number(),
  avg_duration_ms: z.number().nullable(),
  cache_hits: z.number().int().describe("Requests answered from the response cache (cost $0)"),
  cache_misses: z.number().int().describe("Requests the cache could not answer (sent upstream)"),
  saved_usd: z.number().describe("What the cache hits would have cost"),
});
export type UsageRow = z.infer<typeof UsageRow>;

export const UsageList = z.object({ data: z.array(UsageRow) });

export const RejectionsQuery = z.object({
  code: z.string().trim().min(1).max(100).optional(),
  from: Timestamp.optional().describe("Start (inclusive), ISO 8601; default: 7 days before `to`"),
  to: Timestamp.optional().describe("End (exclusive), ISO 8601; default: now"),
  group_by: z.enum(["hour", "day", "code"]).default("day"),
});
export type RejectionsQuery = z.infer<typeof RejectionsQuery>;

export const RejectionRow = z.object({
  hour: z.string().optional(),
  day: z.string().optional(),
  code: z.string().optional(),
  count: z.number().int(),
});
export type RejectionRow = z.infer<typeof RejectionRow>;

export const RejectionList = z.object({ data: z.array(RejectionRow) });

export const EventsQuery = z.object({
  request_id: Id.optional().describe(
    "The gateway's request id, as the client saw it in x-request-id (the event's id); found at once for 5 days",
  ),
  project_id: Id.optional(),
  token_id: Id.optional(),
  model: Id.optional(),
  status: z
    .string()
    .regex(/^([1-5]\d\d|[1-5]xx|error|ok)$/, "must be a status code, a class like 4xx, 'ok' or 'error'")
    .optional(),
  from: Timestamp.optional(),
  to: Timestamp.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(500).optional(),
});
export type EventsQuery = z.infer<typeof EventsQuery>;

export const EventList = listOf(UsageEvent);
