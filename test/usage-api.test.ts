import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { cleanup } from "../src/maintenance/cleanup";
import { processBatch } from "../src/usage/consumer";
import { UnidentifiedGate } from "../src/usage/unidentified";
import { json, manage } from "./helpers";
import { event } from "./usage-fixtures";

type Row = Record<string, unknown>;

async function seed(events: ReturnType<typeof event>[]) {
  await processBatch(
    events.map((e) => ({ id: crypto.randomUUID(), body: e, attempts: 1 })),
    env,
  );
}

describe("GET /manage/usage", () => {
  it("groups rollups by day, hour, model, project and token, with filters", async () => {
    const p = crypto.randomUUID();
    const t1 = crypto.randomUUID();
    const day = Date.UTC(2026, 9, 10);
    await seed([
      event({
        project_id: p,
        token_id: t1,
        model: "gpt-4o",
        timestamp: new Date(day + 3_600_000).toISOString(),
        cost_usd: 0.5,
      }),
      event({
        project_id: p,
        token_id: t1,
        model: "gpt-4o",
        timestamp: new Date(day + 2 * 3_600_000).toISOString(),
        cost_usd: 0.25,
        status: 500,
        error: "upstream_error",
      }),
      event({
        project_id: p,
        token_id: null,
        model: "gpt-4o-mini",
        timestamp: new Date(day + 86_400_000).toISOString(),
        cost_usd: 0.125,
      }),
    ]);
    const range = `project_id=${p}&from=2026-10-01T00:00:00Z&to=2026-10-20T00:00:00Z`;
    const byDay = await json<{ data: Row[] }>(await manage(`/usage?${range}&group_by=day`));
    expect(byDay.data).toEqual([
      expect.objectContaining({
        day: "2026-10-10",
        requests: 2,
        errors: 1,
        cost_usd: 0.75,
        prompt_tokens: 20,
        total_tokens: 30,
      }),
      expect.objectContaining({ day: "2026-10-11", requests: 1, errors: 0, cost_usd: 0.125 }),
    ]);
    const byHour = await json<{ data: Row[] }>(await manage(`/usage?${range}&group_by=hour`));
    expect(byHour.data.map((r) => r.hour)).toEqual([
      "2026-10-10T01:00:00.000Z",
      "2026-10-10T02:00:00.000Z",
      "2026-10-11T00:00:00.000Z",
    ]);
    const byModel = await json<{ data: Row[] }>(await manage(`/usage?${range}&group_by=model`));
    expect(byModel.data.map((r) => [r.model, r.requests])).toEqual([
      ["gpt-4o", 2],
      ["gpt-4o-mini", 1],
    ]);
    const byToken = await json<{ data: Row[] }>(await manage(`/usage?${range}&group_by=token`));
    expect(byToken.data.map((r) => r.token_id)).toEqual([t1, null]);
    const filtered = await json<{ data: Row[] }>(
      await manage(`/usage?${range}&group_by=project&model=gpt-4o-mini`),
    );
    expect(filtered.data).toEqual([expect.objectContaining({ project_id: p, requests: 1 })]);
  });

  it("reports unidentified requests by code and by day", async () => {
    const code = `bad_${crypto.randomUUID().slice(0, 8)}`;
    const hour = Date.UTC(2026, 7, 1, 3);
    await processBatch(
      [
        {
          id: "s1",
          attempts: 1,
          body: { kind: "rejections", id: crypto.randomUUID(), rejections: [{ hour, code, count: 5 }] },
        },
        {
          id: "s2",
          attempts: 1,
          body: event({
            token_id: null,
            project_id: null,
            status: 401,
            error: code,
            timestamp: new Date(hour + 86_400_000).toISOString(),
          }),
        },
      ],
      env,
    );
    const range = "from=2026-08-01T00:00:00Z&to=2026-08-03T00:00:00Z";
    const byCode = await json<{ data: Row[] }>(
      await manage(`/usage/rejections?${range}&group_by=code&code=${code}`),
    );
    expect(byCode.data).toEqual([{ code, count: 6 }]);
    const byDay = await json<{ data: Row[] }>(await manage(`/usage/rejections?${range}&code=${code}`));
    expect(byDay.data).toEqual([
      { day: "2026-08-01", count: 5 },
      { day: "2026-08-02", count: 1 },
    ]);
  });

  it("rejects bad queries with 400 and requires auth", async () => {
    const res = await manage("/usage?group_by=week");
    expect(res.status).toBe(400);
    expect((await json<{ error: { code: string } }>(res)).error.code).toBe("validation_error");
    expect((await manage("/usage?from=yesterday")).status).toBe(400);
    const { call } = await import("./helpers");
    expect((await call("/manage/usage")).status).toBe(401);
    expect((await call("/manage/events")).status).toBe(401);
  });
});

describe("GET /manage/events", () => {
  it("reads events back from R2, newest first, filtered and paged", async () => {
    const p = crypto.randomUUID();
    const base = Date.UTC(2026, 8, 5, 10);
    const events = Array.from({ length: 12 }, (_, i) =>
      event({
        project_id: p,
        timestamp: new Date(base + i * 20 * 60_000).toISOString(),
        status: i % 3 === 0 ? 429 : 200,
        error: i % 3 === 0 ? "rate_limit_exceeded" : null,
        model: i % 2 ? "gpt-4o" : "gpt-4o-mini",
      }),
    );
    await seed(events.slice(0, 6));
    await seed(events.slice(6));
    const range = `project_id=${p}&from=2026-09-05T00:00:00Z&to=2026-09-06T00:00:00Z`;
    const all = await json<{ data: Row[]; next_cursor: string | null }>(
      await manage(`/manage/events?${range}`.replace("/manage", "")),
    );
    expect(all.data.map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());

    const seen: unknown[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: Row[]; next_cursor: string | null } = await json(
        await manage(`/events?${range}&limit=5${cursor ? `&cursor=${cursor}` : ""}`),
      );
      expect(page.data.length).toBeLessThanOrEqual(5);
      seen.push(...page.data.map((e) => e.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(events.map((e) => e.id).reverse());

    const errors = await json<{ data: Row[] }>(await manage(`/events?${range}&status=4xx`));
    expect(errors.data).toHaveLength(4);
    const model = await json<{ data: Row[] }>(await manage(`/events?${range}&model=gpt-4o&status=ok`));
    expect(model.data.every((e) => e.model === "gpt-4o" && e.status === 200)).toBe(true);
    expect((await manage("/events?cursor=nonsense")).status).toBe(400);
  });

  it("is documented in the OpenAPI document", async () => {
    const doc = await json<{ paths: Record<string, Record<string, unknown>> }>(await manage("/openapi.json"));
    expect(JSON.stringify(doc.paths["/manage/usage"]?.get)).toContain("group_by");
    expect(JSON.stringify(doc.paths["/manage/events"]?.get)).toContain("usage_source");
  });
});

describe("queue handler", () => {
  it("acks a good batch, and retries every message with backoff when a binding fails", async () => {
    const e = event({ project_id: crypto.randomUUID() });
    const batch = createMessageBatch("llm-proxy-usage", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: e },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const ok = await getQueueResult(batch, ctx);
    expect(ok.ackAll).toBe(true);
    expect(ok.retryMessages).toEqual([]);

    const failing = {
      ...env,
      DB: new Proxy(env.DB, {
        get: (t, p) =>
          p === "batch" ? () => Promise.reject(new Error("d1 down")) : Reflect.get(t, p, t).bind(t),
      }),
    };
    const batch2 = createMessageBatch("llm-proxy-usage", [
      { id: "m2", timestamp: new Date(), attempts: 3, body: event() },
    ]);
    const ctx2 = createExecutionContext();
    await worker.queue(batch2, failing, ctx2);
    const retried = await getQueueResult(batch2, ctx2);
    expect(retried.retryMessages).toMatchObject([{ msgId: "m2" }]);
    expect(retried.explicitAcks).toEqual([]);
  });

  it("routes the dead-letter queue to the archive", async () => {
    const e = event();
    const batch = createMessageBatch("llm-proxy-usage-dlq", [
      { id: "dead-1", timestamp: new Date(), attempts: 6, body: e },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).ackAll).toBe(true);
    const list = await env.EVENTS_BUCKET.list({ prefix: "dead-letter/dt=" });
    const texts = await Promise.all(
      list.objects.map(async (o) => (await env.EVENTS_BUCKET.get(o.key))!.text()),
    );
    expect(texts.join("")).toContain("dead-1");
  });
});

describe("unidentified requests", () => {
  it("lets a burst through as events, then only counts, flushing a summary at most every interval", () => {
    const gate = new UnidentifiedGate(3, 1, 10_000);
    const t = 1_000_000_000;
    const decisions = Array.from({ length: 10 }, (_, i) => gate.admit("token_not_found", t + i));
    expect(decisions.filter((d) => d.sendEvent)).toHaveLength(3);
    const summaries = decisions.flatMap((d) => (d.summary ? [d.summary] : []));
    const flushed = summaries.flatMap((s) => s.rejections).reduce((n, r) => n + r.count, 0);
    expect(summaries.length).toBe(1);
    const later = gate.admit("invalid_token", t + 20_000);
    expect(later.sendEvent).toBe(true);
    const total = flushed + (later.summary?.rejections.reduce((n, r) => n + r.count, 0) ?? 0);
    expect(total).toBe(7);
  });
});

describe("cron clean-up", () => {
  it("deletes old rollups and old written ledger rows, and flushes stale pending lines", async () => {
    const now = Date.UTC(2027, 0, 1);
    const old = event({
      project_id: crypto.randomUUID(),
      timestamp: new Date(now - 500 * 86_400_000).toISOString(),
    });
    await seed([old]);
    await env.DB.prepare(
      "insert into event_ledger (event_id, object_key, line, committed_at) values ('x-stale', 'events/dt=2026-12-31/hour=23/0000000000000-stale.jsonl', ?, ?)",
    )
      .bind(JSON.stringify(event({ id: "x-stale" })), now - 3_600_000)
      .run();
    const result = await cleanup(env, now);
    expect(result.objectsFlushed).toBeGreaterThanOrEqual(1);
    expect(
      await env.EVENTS_BUCKET.head("events/dt=2026-12-31/hour=23/0000000000000-stale.jsonl"),
    ).not.toBeNull();
    const rollups = await env.DB.prepare("select count(*) n from usage_hourly where project_id = ?")
      .bind(old.project_id)
      .first<{ n: number }>();
    expect(rollups?.n).toBe(0);
    const ledger = await env.DB.prepare("select count(*) n from event_ledger where event_id = ?")
      .bind(old.id)
      .first<{ n: number }>();
    expect(ledger?.n).toBe(0);
    const stale = await env.DB.prepare("select line from event_ledger where event_id = 'x-stale'").first<{
      line: string | null;
    }>();
    expect(stale?.line).toBeNull();
  });
});
