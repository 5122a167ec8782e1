import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  processBatch,
  processDeadLetters,
  type QueuedMessage,
  retryDelaySeconds,
} from "../src/usage/consumer";
import { event, logLines } from "./usage-fixtures";

const msg = (body: unknown, attempts = 1): QueuedMessage => ({ id: crypto.randomUUID(), body, attempts });

/** Fault injector around a real binding: the named method throws on its first `times` calls. */
function failing<T extends object>(target: T, method: string, times = 1): T {
  let left = times;
  return new Proxy(target, {
    get(t, p) {
      const v = Reflect.get(t, p, t);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (p === method && left > 0) {
          left--;
          throw new Error(`injected ${String(p)} failure`);
        }
        return v.apply(t, args);
      };
    },
  });
}

type Rollup = {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost_usd: number;
  estimated_requests: number;
};

async function rollup(projectId: string): Promise<Rollup> {
  return (await env.DB.prepare(
    `select coalesce(sum(requests),0) requests, coalesce(sum(errors),0) errors, coalesce(sum(prompt_tokens),0) prompt_tokens,
       coalesce(sum(completion_tokens),0) completion_tokens, coalesce(sum(cached_tokens),0) cached_tokens,
       coalesce(sum(cost_usd),0) cost_usd, coalesce(sum(estimated_requests),0) estimated_requests
     from usage_hourly where project_id = ?`,
  )
    .bind(projectId)
    .first<Rollup>())!;
}

const project = () => crypto.randomUUID();

describe("processBatch", () => {
  it("writes one JSON Lines object per hour partition and counts the rollups", async () => {
    const p = project();
    const at = Date.UTC(2026, 10, 22, 14, 30);
    const events = [
      event({ project_id: p, timestamp: new Date(at).toISOString() }),
      event({
        project_id: p,
        timestamp: new Date(at + 1000).toISOString(),
        status: 500,
        error: "upstream_error",
      }),
      event({
        project_id: p,
        timestamp: new Date(at + 3_600_000).toISOString(),
        usage: { prompt_tokens: 100, completion_tokens: 1, total_tokens: 101, cached_tokens: 50 },
      }),
    ];
    const result = await processBatch(
      events.map((e) => msg(e)),
      env,
    );
    expect(result.written).toHaveLength(2);
    expect(result.written[0]).toMatch(/^events\/dt=2026-11-22\/hour=14\/\d{13}-[0-9a-f]{12}\.jsonl$/);
    expect(result.written[1]).toMatch(/^events\/dt=2026-11-22\/hour=15\//);
    const obj = await env.EVENTS_BUCKET.get(result.written[0]!);
    expect(obj?.httpMetadata?.contentType).toBe("application/x-ndjson");
    const lines = (await obj!.text())
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual([events[0]!.id, events[1]!.id]);
    expect(lines[0]).toEqual(events[0]);
    expect(await rollup(p)).toMatchObject({
      requests: 3,
      errors: 1,
      prompt_tokens: 120,
      completion_tokens: 11,
      cached_tokens: 50,
    });
    const hours = await env.DB.prepare("select hour from usage_hourly where project_id = ? order by hour")
      .bind(p)
      .all<{ hour: number }>();
    expect(hours.results.map((h) => h.hour)).toEqual([
      Date.UTC(2026, 10, 22, 14),
      Date.UTC(2026, 10, 22, 15),
    ]);
  });

  it("is idempotent when R2 throws on the first attempt", async () => {
    const p = project();
    const messages = Array.from({ length: 20 }, () => msg(event({ project_id: p })));
    const flaky = { ...env, EVENTS_BUCKET: failing(env.EVENTS_BUCKET, "put") };
    await expect(processBatch(messages, flaky)).rejects.toThrow("injected put failure");
    // D1 committed: the rollups count the events once already …
    expect((await rollup(p)).requests).toBe(20);
    // … and the retry writes the object without counting again.
    await processBatch(messages, flaky);
    expect((await rollup(p)).requests).toBe(20);
    const lines = (await logLines()).filter((l) => l.project_id === p);
    expect(lines).toHaveLength(20);
    expect(new Set(lines.map((l) => l.id)).size).toBe(20);
  });

  it("is idempotent when D1 throws on the first attempt", async () => {
    const p = project();
    const messages = Array.from({ length: 10 }, () => msg(event({ project_id: p })));
    const flaky = { ...env, DB: failing(env.DB, "batch") };
    await expect(processBatch(messages, flaky)).rejects.toThrow("injected batch failure");
    expect((await rollup(p)).requests).toBe(0);
    await processBatch(messages, flaky);
    expect((await rollup(p)).requests).toBe(10);
    expect((await logLines()).filter((l) => l.project_id === p)).toHaveLength(10);
  });

  it("survives a failure while clearing the written lines", async () => {
    const p = project();
    const messages = Array.from({ length: 5 }, () => msg(event({ project_id: p })));
    // prepare() calls: ledger insert, 3 rollups, pending keys, pending lines, then the clear.
    let calls = 0;
    const db = new Proxy(env.DB, {
      get(t, prop) {
        const v = Reflect.get(t, prop, t);
        if (prop !== "prepare") return typeof v === "function" ? v.bind(t) : v;
        return (sql: string) => {
          if (sql.startsWith("update event_ledger set line = null where object_key in") && calls++ === 0)
            throw new Error("injected clear failure");
          return t.prepare(sql);
        };
      },
    });
    await expect(processBatch(messages, { ...env, DB: db })).rejects.toThrow("injected clear failure");
    await processBatch(messages, env);
    expect((await rollup(p)).requests).toBe(5);
    expect((await logLines()).filter((l) => l.project_id === p)).toHaveLength(5);
  });

  it("redelivered in different batch compositions: no duplicate lines, exact rollups", async () => {
    const p = project();
    const all = Array.from({ length: 30 }, () => event({ project_id: p }));
    const m = all.map((e) => msg(e));
    // First batch commits to D1 but fails to reach R2.
    await expect(
      processBatch(m.slice(0, 12), { ...env, EVENTS_BUCKET: failing(env.EVENTS_BUCKET, "put") }),
    ).rejects.toThrow();
    // Redelivery regroups: part of the failed batch with new events, then the rest with a duplicate inside.
    await processBatch([...m.slice(8, 20)], env);
    await processBatch([...m.slice(0, 8), m[25]!, ...m.slice(20, 30), m[20]!], env);
    await processBatch(m, env);
    const lines = (await logLines()).filter((l) => l.project_id === p);
    expect(lines).toHaveLength(30);
    expect(new Set(lines.map((l) => l.id))).toEqual(new Set(all.map((e) => e.id)));
    expect(await rollup(p)).toMatchObject({ requests: 30, prompt_tokens: 300, completion_tokens: 150 });
  });

  it("1000 mixed events with failing first attempts: every id exactly once in R2 and in the rollups", async () => {
    const p = project();
    const kinds = [
      () => event({ project_id: p }),
      () =>
        event({
          project_id: p,
          stream: true,
          usage: {
            prompt_tokens: 20,
            completion_tokens: 30,
            total_tokens: 50,
            cached_tokens: 10,
            reasoning_tokens: 5,
          },
        }),
      () =>
        event({
          project_id: p,
          stream: true,
          aborted: true,
          usage_source: "estimated",
          usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
        }),
      () =>
        event({
          project_id: p,
          status: 502,
          error: "upstream_error",
          usage: null,
          usage_source: "none",
          cost_usd: null,
        }),
    ];
    const events = Array.from({ length: 1000 }, (_, i) => kinds[i % 4]!());
    const queue = events.map((e) => msg(e));
    let batchNo = 0;
    let failures = 0;
    // A queue delivering batches of 100; every third batch fails once (alternating R2 and D1), then is
    // retried in a different composition (shuffled with the next batch's messages).
    while (queue.length) {
      const batch = queue.splice(0, 100);
      batchNo++;
      const faulty = batchNo % 3 === 0;
      const e = faulty
        ? batchNo % 2
          ? { ...env, EVENTS_BUCKET: failing(env.EVENTS_BUCKET, "put") }
          : { ...env, DB: failing(env.DB, "batch") }
        : env;
      try {
        await processBatch(batch, e);
      } catch {
        failures++;
        const half = batch.splice(0, 50);
        queue.splice(Math.min(queue.length, 37), 0, ...half);
        queue.push(...batch);
      }
    }
    expect(failures).toBeGreaterThanOrEqual(3);
    const lines = (await logLines()).filter((l) => l.project_id === p);
    expect(lines).toHaveLength(1000);
    expect(new Set(lines.map((l) => l.id)).size).toBe(1000);
    expect(await rollup(p)).toMatchObject({
      requests: 1000,
      errors: 250,
      prompt_tokens: 250 * (10 + 20 + 7),
      completion_tokens: 250 * (5 + 30 + 3),
      cached_tokens: 2500,
      estimated_requests: 250,
    });
    const ledgerPending = await env.DB.prepare(
      "select count(*) n from event_ledger where line is not null and object_key like 'events/%'",
    ).first<{ n: number }>();
    expect(ledgerPending?.n).toBe(0);
  });

  it("counts unidentified requests by code, from events and from summaries, once", async () => {
    const hour = Date.UTC(2026, 0, 3, 5);
    const code = `bad_${crypto.randomUUID().slice(0, 8)}`;
    const e = event({
      token_id: null,
      project_id: null,
      status: 401,
      error: code,
      timestamp: new Date(hour + 60_000).toISOString(),
    });
    const summary = { kind: "rejections", id: crypto.randomUUID(), rejections: [{ hour, code, count: 41 }] };
    const messages = [msg(e), msg(summary)];
    await processBatch(messages, env);
    await processBatch(messages, env);
    const row = await env.DB.prepare("select count from rejections_hourly where hour = ? and code = ?")
      .bind(hour, code)
      .first<{ count: number }>();
    expect(row?.count).toBe(42);
    // The unidentified event is in the log, not in the per-project rollups.
    expect((await logLines("events/dt=2026-01-03/")).map((l) => l.id)).toContain(e.id);
  });

  it("keeps messages that are not events under dead-letter/invalid/ and does not retry them", async () => {
    const bad = msg({ hello: "world" });
    const result = await processBatch([bad, msg(event())], env);
    expect(result).toMatchObject({ invalid: 1, events: 1 });
    const list = await env.EVENTS_BUCKET.list({ prefix: "dead-letter/invalid/" });
    const texts = await Promise.all(
      list.objects.map(async (o) => (await env.EVENTS_BUCKET.get(o.key))!.text()),
    );
    expect(texts.join("")).toContain(bad.id);
  });

  it("sets tokens.last_used_at from events, never backwards", async () => {
    const projectId = crypto.randomUUID();
    const tokenId = crypto.randomUUID();
    await env.DB.batch([
      env.DB.prepare("insert into projects (id, name) values (?, ?)").bind(projectId, `p-${projectId}`),
      env.DB.prepare(
        "insert into tokens (id, token_hash, token_hint, project_id, expires_at, last_used_at) values (?, ?, 'h', ?, ?, ?)",
      ).bind(tokenId, `hash-${tokenId}`, projectId, Date.now() + 1e6, Date.UTC(2026, 5, 1)),
    ]);
    const t = Date.UTC(2026, 5, 2, 10);
    await processBatch(
      [msg(event({ project_id: projectId, token_id: tokenId, timestamp: new Date(t).toISOString() }))],
      env,
    );
    await processBatch(
      [msg(event({ project_id: projectId, token_id: tokenId, timestamp: new Date(t - 5000).toISOString() }))],
      env,
    );
    await processBatch(
      [
        msg(
          event({
            project_id: projectId,
            token_id: tokenId,
            error: "token_expired",
            status: 401,
            timestamp: new Date(t + 5000).toISOString(),
          }),
        ),
      ],
      env,
    );
    const row = await env.DB.prepare("select last_used_at from tokens where id = ?")
      .bind(tokenId)
      .first<{ last_used_at: number }>();
    expect(row?.last_used_at).toBe(t);
  });
});

describe("packed messages", () => {
  const packed = (bodies: unknown[], attempts = 1) => msg({ kind: "packed", bodies }, attempts);

  it("unpacks every body: events and summaries, counted once across messages and redeliveries", async () => {
    const p = project();
    const hour = Date.UTC(2026, 1, 4, 7);
    const code = `bad_${crypto.randomUUID().slice(0, 8)}`;
    const events = Array.from({ length: 40 }, () => event({ project_id: p }));
    const summary = { kind: "rejections", id: crypto.randomUUID(), rejections: [{ hour, code, count: 3 }] };
    // The same event in two messages (a producer's retried sendBatch), and a plain message beside packed ones.
    const batch = [packed([...events.slice(0, 25), summary]), packed(events.slice(24, 39)), msg(events[39])];
    const result = await processBatch(batch, env);
    expect(result).toMatchObject({ events: 40, summaries: 1, invalid: 0 });
    await processBatch(batch, env);
    expect(await rollup(p)).toMatchObject({ requests: 40, prompt_tokens: 400 });
    const lines = (await logLines()).filter((l) => l.project_id === p);
    expect(lines.map((l) => l.id).sort()).toEqual(events.map((e) => e.id).sort());
    const row = await env.DB.prepare("select count from rejections_hourly where hour = ? and code = ?")
      .bind(hour, code)
      .first<{ count: number }>();
    expect(row?.count).toBe(3);
  });

  it("keeps a bad body of a packed message under dead-letter/invalid/, and logs the rest", async () => {
    const p = project();
    const good = event({ project_id: p });
    const bad = packed([good, { hello: "packed" }, "not even an object"]);
    const result = await processBatch([bad], env);
    expect(result).toMatchObject({ events: 1, invalid: 2 });
    expect((await logLines()).filter((l) => l.project_id === p).map((l) => l.id)).toEqual([good.id]);
    const list = await env.EVENTS_BUCKET.list({ prefix: "dead-letter/invalid/" });
    const texts = await Promise.all(
      list.objects.map(async (o) => (await env.EVENTS_BUCKET.get(o.key))!.text()),
    );
    const kept = texts
      .join("")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { message_id: string; body: unknown });
    expect(kept.filter((k) => k.message_id.startsWith(`${bad.id}/`)).map((k) => k.message_id)).toEqual([
      `${bad.id}/1`,
      `${bad.id}/2`,
    ]);
  });

  it("a packed message that fails is retried whole: no duplicate lines, exact rollups", async () => {
    const p = project();
    const events = Array.from({ length: 30 }, () => event({ project_id: p }));
    const batch = [packed(events.slice(0, 20)), packed(events.slice(20))];
    await expect(
      processBatch(batch, { ...env, EVENTS_BUCKET: failing(env.EVENTS_BUCKET, "put") }),
    ).rejects.toThrow();
    // Redelivered in another composition, with one of its events also sent alone.
    await processBatch([packed(events.slice(10)), msg(events[3])], env);
    await processBatch(batch, env);
    expect(await rollup(p)).toMatchObject({ requests: 30 });
    const lines = (await logLines()).filter((l) => l.project_id === p);
    expect(lines).toHaveLength(30);
    expect(new Set(lines.map((l) => l.id)).size).toBe(30);
  });
});

describe("a large batch shares its isolate", () => {
  it("yields to other work while it checks and serialises thousands of events", async () => {
    const p = project();
    const events = Array.from({ length: 1000 }, () => event({ project_id: p }));
    const order: string[] = [];
    const db = new Proxy(env.DB, {
      get(t, prop) {
        const v = Reflect.get(t, prop, t);
        if (prop === "batch")
          return (statements: D1PreparedStatement[]) => {
            order.push("d1");
            return t.batch(statements);
          };
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
    // A timer set before the batch starts (a stream's next chunk, say) runs before the batch reaches D1.
    setTimeout(() => order.push("timer"), 0);
    await processBatch(
      [
        msg({ kind: "packed", bodies: events.slice(0, 500) }),
        msg({ kind: "packed", bodies: events.slice(500) }),
      ],
      {
        ...env,
        DB: db,
      },
    );
    expect(order).toEqual(["timer", "d1"]);
    expect((await rollup(p)).requests).toBe(1000);
  });
});

describe("rollups summed in the worker and in SQL agree", () => {
  it("the same events give the same rollups whether every event is new or not", async () => {
    const a = project();
    const b = project();
    const at = Date.UTC(2026, 3, 5, 9, 59, 59, 999);
    const mixed = (p: string) =>
      [
        event({ project_id: p, timestamp: new Date(at).toISOString(), cost_usd: 0.1, duration_ms: 10.9 }),
        event({ project_id: p, timestamp: new Date(at + 1).toISOString(), cost_usd: 0.2, model: null }),
        event({
          project_id: p,
          token_id: null,
          status: 401,
          error: "token_not_found",
          cost_usd: null,
          usage: null,
        }),
        event({
          project_id: p,
          status: 200,
          error: "client_closed",
          usage_source: "estimated",
          cost_usd: 0.3,
        }),
        event({
          project_id: p,
          status: 502,
          error: null,
          usage: {
            prompt_tokens: 7,
            completion_tokens: 0,
            total_tokens: 7,
            cached_tokens: 2,
            reasoning_tokens: 1,
          },
          cost_usd: 1e-7,
        }),
      ].map((e, i) => ({ ...e, duration_ms: e.duration_ms === 10.9 ? 10.9 : 100 + i }));
    // a: every event new (the worker's sums); b: one event committed before (the ledger rows summed in SQL).
    const eventsA = mixed(a);
    const eventsB = mixed(b);
    await processBatch(
      eventsA.map((e) => msg(e)),
      env,
    );
    await processBatch([msg(eventsB[0])], env);
    await processBatch(
      eventsB.map((e) => msg(e)),
      env,
    );
    const rows = async (p: string) =>
      (
        await env.DB.prepare(
          `select hour, token_id, model, requests, errors, prompt_tokens, completion_tokens, cached_tokens,
             reasoning_tokens, estimated_requests, cost_usd, duration_ms_sum
           from usage_hourly where project_id = ? order by hour, token_id, model`,
        )
          .bind(p)
          .all()
      ).results;
    const ra = await rows(a);
    expect(ra.length).toBeGreaterThan(1);
    expect(await rows(b)).toEqual(ra);
  });
});

describe("an instant before 1970", () => {
  it("is summed in SQL (where the hour rounds as SQL rounds it), once", async () => {
    const p = project();
    const old = event({ project_id: p, timestamp: "1969-12-31T23:30:00.500Z" });
    await processBatch([msg(old), msg(event({ project_id: p }))], env);
    await processBatch([msg(old)], env);
    expect(await rollup(p)).toMatchObject({ requests: 2 });
  });
});

describe("dead letters and backoff", () => {
  it("archives dead letters under dead-letter/ and still logs them", async () => {
    const p = project();
    const e = event({ project_id: p });
    await processDeadLetters([msg(e, 6)], env, Date.UTC(2026, 10, 22, 9));
    const list = await env.EVENTS_BUCKET.list({ prefix: "dead-letter/dt=2026-11-22/hour=09/" });
    expect(list.objects).toHaveLength(1);
    const archived = JSON.parse((await (await env.EVENTS_BUCKET.get(list.objects[0]!.key))!.text()).trim());
    expect(archived).toMatchObject({ attempts: 6, body: { id: e.id } });
    expect((await logLines()).filter((l) => l.project_id === p)).toHaveLength(1);
  });

  it("backs off exponentially, capped", () => {
    expect([1, 2, 3, 4, 10].map(retryDelaySeconds)).toEqual([10, 20, 40, 80, 600]);
  });
});

describe("errors in the rollups", () => {
  it("counts failures, not clients that left a healthy stream", async () => {
    const p = project();
    await processBatch(
      [
        msg(event({ project_id: p, aborted: true, error: "client_closed" })),
        msg(event({ project_id: p, aborted: true, error: "stream_interrupted" })),
        msg(event({ project_id: p, status: 429, error: null })),
        msg(event({ project_id: p })),
      ],
      env,
    );
    expect(await rollup(p)).toMatchObject({ requests: 4, errors: 2 });
  });
});
