import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { analyticsPoint, writeAnalytics } from "../src/metrics/analytics";
import type { UsageEvent } from "../src/usage/event";
import { call, createProject, createToken, json, manage } from "./helpers";

type Sample = { name: string; labels: Record<string, string>; value: number };

/** A small parser of the text format: enough to check every line is well-formed and read the samples. */
function parse(text: string): { samples: Sample[]; types: Record<string, string> } {
  const samples: Sample[] = [];
  const types: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const t = /^# TYPE (\w+) (counter|gauge|summary|histogram)$/.exec(line);
    if (t) {
      types[t[1]!] = t[2]!;
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    const m = /^(\w+)(?:\{(.*)\})? (-?[\d.e+-]+|NaN|[+-]Inf)$/.exec(line);
    if (!m) throw new Error(`malformed line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k!] = v!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

const HOUR = 3_600_000;

describe("GET /manage/metrics", () => {
  let projectId: string;
  let projectName: string;

  beforeAll(async () => {
    const p = await createProject({ name: `metrics "quoted"\\name-${Date.now()}` });
    projectId = p.id;
    projectName = p.name;
    await createToken(projectId, { duration_minutes: 60 });
    await createToken(projectId, { duration_minutes: 60 });
    const revoked = await createToken(projectId, { duration_minutes: 60 });
    await manage(`/tokens/${revoked.id}`, { method: "DELETE" });
    const h = Math.floor(Date.now() / HOUR) * HOUR;
    const insert = env.DB.prepare(
      `insert into usage_hourly (hour, project_id, token_id, model, requests, errors, prompt_tokens,
        completion_tokens, cached_tokens, reasoning_tokens, estimated_requests, cost_usd, duration_ms_sum)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    await env.DB.batch([
      insert.bind(h - HOUR, projectId, "t1", "gpt-4o-mini", 10, 1, 1000, 200, 100, 0, 1, 0.25, 5000),
      insert.bind(h, projectId, "t2", "gpt-4o-mini", 5, 2, 500, 100, 0, 0, 0, 0.125, 2500),
      insert.bind(h, projectId, "t1", "o3", 2, 0, 300, 900, 0, 600, 0, 1.5, 9000),
      env.DB.prepare("insert into rejections_hourly (hour, code, count) values (?, ?, ?), (?, ?, ?)").bind(
        h,
        "token_not_found",
        7,
        h - HOUR,
        "token_not_found",
        3,
      ),
    ]);
  });

  it("needs the management token", async () => {
    const res = await call("/manage/metrics");
    expect(res.status).toBe(401);
  });

  it("renders requests, errors, latency, tokens, cost and active tokens from the rollups", async () => {
    const res = await manage("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    const { samples, types } = parse(await res.text());
    const one = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        ?.value;
    const mini = { project_id: projectId, model: "gpt-4o-mini" };

    expect(types.llm_proxy_requests_total).toBe("counter");
    expect(types.llm_proxy_request_duration_seconds).toBe("summary");
    expect(one("llm_proxy_requests_total", mini)).toBe(15);
    expect(one("llm_proxy_requests_total", mini)).toBe(15);
    expect(
      samples.find((s) => s.name === "llm_proxy_requests_total" && s.labels.project_id === projectId)?.labels
        .project,
    ).toBe(projectName);
    expect(one("llm_proxy_request_errors_total", mini)).toBe(3);
    expect(one("llm_proxy_request_duration_seconds_sum", mini)).toBe(7.5);
    expect(one("llm_proxy_request_duration_seconds_count", mini)).toBe(15);
    expect(one("llm_proxy_tokens_total", { ...mini, kind: "prompt" })).toBe(1500);
    expect(one("llm_proxy_tokens_total", { project_id: projectId, model: "o3", kind: "reasoning" })).toBe(
      600,
    );
    expect(one("llm_proxy_cost_usd_total", mini)).toBe(0.375);
    expect(one("llm_proxy_estimated_requests_total", mini)).toBe(1);
    expect(one("llm_proxy_rejections_total", { code: "token_not_found" })).toBe(10);
    expect(one("llm_proxy_active_tokens", { project_id: projectId })).toBe(2);
    expect(one("llm_proxy_projects", { state: "active" })).toBeGreaterThanOrEqual(1);
  });

  it("is listed in the OpenAPI document", async () => {
    const doc = await json<{ paths: Record<string, unknown> }>(await call("/manage/openapi.json"));
    expect(doc.paths["/manage/metrics"]).toBeDefined();
  });
});

describe("Analytics Engine data points", () => {
  const event: UsageEvent = {
    id: "req-1",
    timestamp: new Date().toISOString(),
    token_id: "tok",
    project_id: "proj",
    method: "POST",
    path: "/v1/chat/completions",
    status: 200,
    duration_ms: 120,
    ttfb_ms: 40,
    stream: true,
    model: "gpt-4o-mini",
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    usage_source: "upstream",
    cost_usd: 0.001,
    error: null,
    aborted: false,
    upstream_request_id: null,
    colo: "FRA",
    user_agent: null,
  };

  it("lays out one point per event, indexed by project", () => {
    const p = analyticsPoint(event);
    expect(p.indexes).toEqual(["proj"]);
    expect(p.blobs).toEqual(["proj", "tok", "gpt-4o-mini", "/v1/chat/completions", "", "FRA", "upstream"]);
    expect(p.doubles).toEqual([200, 120, 40, 10, 5, 0.001, 1, 0]);
  });

  it("does nothing where no ANALYTICS binding exists", () => {
    expect(writeAnalytics(env, event)).toBe(false);
  });
});
