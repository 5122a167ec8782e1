import type { UsageEvent } from "../usage/event";

/**
 * Optional Workers Analytics Engine data points, one per request event, for ad-hoc SQL over recent traffic
 * (per colo, per status) beside the D1 rollups. Written only where an `ANALYTICS` binding exists:
 * add `[[analytics_engine_datasets]] binding = "ANALYTICS" dataset = "llm_proxy_requests"` to wrangler.toml
 * and run `npm run types` to turn it on.
 *
 * Layout (SQL API column names): index1 = project_id; blob1 project_id, blob2 token_id, blob3 model,
 * blob4 path, blob5 error code ('' when ok), blob6 colo, blob7 usage_source; double1 status,
 * double2 duration_ms, double3 ttfb_ms, double4 prompt_tokens, double5 completion_tokens, double6 cost_usd,
 * double7 stream (0/1), double8 aborted (0/1).
 */
export function analyticsPoint(e: UsageEvent): AnalyticsEngineDataPoint {
  return {
    indexes: [e.project_id ?? ""],
    blobs: [
      e.project_id ?? "",
      e.token_id ?? "",
      e.model ?? "",
      e.path,
      e.error ?? "",
      e.colo ?? "",
      e.usage_source,
    ],
    doubles: [
      e.status,
      e.duration_ms,
      e.ttfb_ms ?? 0,
      e.usage?.prompt_tokens ?? 0,
      e.usage?.completion_tokens ?? 0,
      e.cost_usd ?? 0,
      e.stream ? 1 : 0,
      e.aborted ? 1 : 0,
    ],
  };
}

/** Writes the event's data point if the ANALYTICS binding exists; returns whether it did. Never throws. */
export function writeAnalytics(env: object, event: UsageEvent): boolean {
  const dataset = (env as { ANALYTICS?: AnalyticsEngineDataset }).ANALYTICS;
  if (!dataset) return false;
  try {
    dataset.writeDataPoint(analyticsPoint(event));
    return true;
  } catch (err) {
    console.error("analytics data point not written", event.id, err);
    return false;
  }
}
