import { z } from "zod";

// The health report's query and answer (GET …/upstreams/:id/health, summed by health.ts): what an
// upstream's recent traffic did — apart from schema.ts, which describes what an upstream is configured as.

export const HealthQuery = z.object({
  hours: z.coerce
    .number()
    .int()
    .min(1)
    .max(168)
    .default(1)
    .describe("How many recent hours to sum (default 1)"),
});

const Counts = {
  requests: z.number().describe("Requests this upstream (or key) answered or failed last"),
  errors: z.number().describe("Of those, the upstream's failures: 5xx, broken connection, timeout"),
  rate_limited: z.number().describe("Attempts answered 429"),
  failed_attempts: z.number().describe("Attempts that failed here before another key or target answered"),
  avg_ttfb_ms: z.number().nullable(),
  avg_duration_ms: z.number().nullable(),
};

export const UpstreamHealth = z.object({
  upstream_id: z.uuid(),
  name: z.string(),
  provider: z.string(),
  is_active: z.boolean(),
  from: z.string(),
  to: z.string(),
  breaker: z
    .object({
      open: z.boolean(),
      open_until: z.string().nullable(),
    })
    .describe("As this location sees it (breakers are per isolate, shared per location through its cache)"),
  ...Counts,
  keys: z.array(
    z.object({
      id: z.string(),
      hint: z.string(),
      weight: z.number(),
      is_active: z.boolean(),
      failing: z.boolean(),
      failing_at: z.string().nullable(),
      failing_reason: z.string().nullable(),
      ...Counts,
    }),
  ),
});
export type UpstreamHealth = z.infer<typeof UpstreamHealth>;
