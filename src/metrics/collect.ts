import { and, eq, gt, isNull, sql } from "drizzle-orm";
import type { Db } from "../storage/db";
import { projects, rejectionsHourly, tokens, usageHourly } from "../storage/schema";
import { VERSION } from "../version";
import type { Family, Labels } from "./prometheus";

/**
 * Everything comes from D1 (the usage rollups, tokens, projects), which every Cloudflare location shares:
 * any isolate answers a scrape with the same numbers. Counters are sums over the rollup rows still kept,
 * so the clean-up of old rollups shows as a counter reset (which Prometheus' rate() handles).
 */
export async function collectMetrics(db: Db, now = Date.now()): Promise<Family[]> {
  const [usage, rejections, active, projectStates] = await db.batch([
    db
      .select({
        projectId: usageHourly.projectId,
        project: projects.name,
        model: usageHourly.model,
        requests: sql<number>`sum(${usageHourly.requests})`,
        errors: sql<number>`sum(${usageHourly.errors})`,
        promptTokens: sql<number>`sum(${usageHourly.promptTokens})`,
        completionTokens: sql<number>`sum(${usageHourly.completionTokens})`,
        cachedTokens: sql<number>`sum(${usageHourly.cachedTokens})`,
        reasoningTokens: sql<number>`sum(${usageHourly.reasoningTokens})`,
        estimated: sql<number>`sum(${usageHourly.estimatedRequests})`,
        costUsd: sql<number>`sum(${usageHourly.costUsd})`,
        durationMs: sql<number>`sum(${usageHourly.durationMsSum})`,
      })
      .from(usageHourly)
      .leftJoin(projects, eq(projects.id, usageHourly.projectId))
      .groupBy(usageHourly.projectId, usageHourly.model)
      .orderBy(usageHourly.projectId, usageHourly.model),
    db
      .select({ code: rejectionsHourly.code, count: sql<number>`sum(${rejectionsHourly.count})` })
      .from(rejectionsHourly)
      .groupBy(rejectionsHourly.code)
      .orderBy(rejectionsHourly.code),
    db
      .select({ projectId: tokens.projectId, project: projects.name, count: sql<number>`count(*)` })
      .from(tokens)
      .leftJoin(projects, eq(projects.id, tokens.projectId))
      .where(and(eq(tokens.isActive, true), isNull(tokens.revokedAt), gt(tokens.expiresAt, now)))
      .groupBy(tokens.projectId)
      .orderBy(tokens.projectId),
    db
      .select({ isActive: projects.isActive, count: sql<number>`count(*)` })
      .from(projects)
      .groupBy(projects.isActive),
  ]);

  const pm = (r: { projectId: string; project: string | null; model: string }): Labels => ({
    project_id: r.projectId,
    project: r.project ?? "",
    model: r.model,
  });
  const perUsage = (pick: (r: (typeof usage)[number]) => number) =>
    usage.map((r) => ({ labels: pm(r), value: Number(pick(r) ?? 0) }));

  return [
    {
      name: "llm_proxy_info",
      help: "The gateway's version.",
      type: "gauge",
      samples: [{ labels: { version: VERSION }, value: 1 }],
    },
    {
      name: "llm_proxy_requests_total",
      help: "Proxied requests with a valid token, by project and model (from the usage rollups).",
      type: "counter",
      samples: perUsage((r) => r.requests),
    },
    {
      name: "llm_proxy_request_errors_total",
      help: "Proxied requests that ended in an error (gateway or upstream), by project and model.",
      type: "counter",
      samples: perUsage((r) => r.errors),
    },
    {
      name: "llm_proxy_rejections_total",
      help: "Requests refused before a valid token was identified, by error code.",
      type: "counter",
      samples: rejections.map((r) => ({ labels: { code: r.code }, value: Number(r.count) })),
    },
    {
      name: "llm_proxy_request_duration_seconds",
      help: "Time from request to the end of the response, by project and model (sum and count only).",
      type: "summary",
      samples: usage.flatMap((r) => [
        { labels: pm(r), value: Number(r.durationMs) / 1000, suffix: "_sum" },
        { labels: pm(r), value: Number(r.requests), suffix: "_count" },
      ]),
    },
    {
      name: "llm_proxy_tokens_total",
      help: "Tokens used, by project, model and kind (prompt, completion; cached and reasoning are parts of those).",
      type: "counter",
      samples: usage.flatMap((r) =>
        (
          [
            ["prompt", r.promptTokens],
            ["completion", r.completionTokens],
            ["cached", r.cachedTokens],
            ["reasoning", r.reasoningTokens],
          ] as const
        ).map(([kind, v]) => ({ labels: { ...pm(r), kind }, value: Number(v ?? 0) })),
      ),
    },
    {
      name: "llm_proxy_estimated_requests_total",
      help: "Requests whose usage was estimated (the upstream reported none), by project and model.",
      type: "counter",
      samples: perUsage((r) => r.estimated),
    },
    {
      name: "llm_proxy_cost_usd_total",
      help: "Cost in US dollars at the gateway's price table, by project and model (unknown prices count 0).",
      type: "counter",
      samples: perUsage((r) => r.costUsd),
    },
    {
      name: "llm_proxy_active_tokens",
      help: "Tokens that can be used now (active, not revoked, not expired), by project.",
      type: "gauge",
      samples: active.map((r) => ({
        labels: { project_id: r.projectId, project: r.project ?? "" },
        value: Number(r.count),
      })),
    },
    {
      name: "llm_proxy_projects",
      help: "Projects by state.",
      type: "gauge",
      samples: [true, false].map((state) => ({
        labels: { state: state ? "active" : "inactive" },
        value: Number(projectStates.find((p) => p.isActive === state)?.count ?? 0),
      })),
    },
  ];
}
