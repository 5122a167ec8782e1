import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { toNanos } from "../src/limits/budget";
import { periodBounds } from "../src/limits/periods";
import type { ProjectState } from "../src/projects/durable";
import type { Admission } from "../src/tokens/admission";
import type { TokenState } from "../src/tokens/durable";
import { hashToken } from "../src/tokens/secret";
import { createProject, createToken, json, manage } from "./helpers";
import { mockProjectToken, proxy } from "./support/proxy";

vi.setConfig({ testTimeout: 30_000 });

const iso = (ms: number) => new Date(ms).toISOString();
const at = (s: string) => Date.parse(s);

describe("calendar periods", () => {
  it("UTC: hour, day, ISO week from Monday, month", () => {
    const now = at("2026-11-26T15:42:10.500Z"); // a Thursday
    expect(periodBounds("hour", null, now)).toEqual({
      start: at("2026-11-26T15:00:00Z"),
      end: at("2026-11-26T16:00:00Z"),
    });
    expect(periodBounds("day", "UTC", now)).toEqual({
      start: at("2026-11-26T00:00:00Z"),
      end: at("2026-11-27T00:00:00Z"),
    });
    expect(periodBounds("week", null, now)).toEqual({
      start: at("2026-11-23T00:00:00Z"),
      end: at("2026-11-30T00:00:00Z"),
    });
    expect(periodBounds("month", null, now)).toEqual({
      start: at("2026-11-01T00:00:00Z"),
      end: at("2026-12-01T00:00:00Z"),
    });
    // A Sunday belongs to the week that began the Monday before; December rolls into January.
    expect(periodBounds("week", null, at("2026-11-29T23:59:59Z")).start).toBe(at("2026-11-23T00:00:00Z"));
    expect(periodBounds("month", null, at("2026-12-31T23:59:59Z")).end).toBe(at("2027-01-01T00:00:00Z"));
  });

  it("a time zone's local midnight, across DST changes (23- and 25-hour days)", () => {
    // Europe/Berlin: summer time ends 2026-10-25 (03:00 CEST → 02:00 CET): that day has 25 hours.
    const fallBack = periodBounds("day", "Europe/Berlin", at("2026-10-25T12:00:00Z"));
    expect(iso(fallBack.start)).toBe("2026-10-24T22:00:00.000Z");
    expect(iso(fallBack.end)).toBe("2026-10-25T23:00:00.000Z");
    // Summer time begins 2026-03-29: a 23-hour day.
    const springForward = periodBounds("day", "Europe/Berlin", at("2026-03-29T12:00:00Z"));
    expect(springForward.end - springForward.start).toBe(23 * 3_600_000);
    // Monthly in New York: starts at local midnight of the 1st.
    expect(iso(periodBounds("month", "America/New_York", at("2026-11-15T12:00:00Z")).start)).toBe(
      "2026-11-01T04:00:00.000Z",
    );
  });

  it("a midnight that does not exist starts the day at the first instant that does", () => {
    // America/Santiago moves clocks forward at 00:00 on 2026-09-06 (to 01:00): no midnight that day.
    const bounds = periodBounds("day", "America/Santiago", at("2026-09-06T12:00:00Z"));
    expect(iso(bounds.start)).toBe("2026-09-06T04:00:00.000Z");
    expect(bounds.end).toBeGreaterThan(at("2026-09-06T12:00:00Z"));
  });

  it("an hour is the local clock hour (Asia/Kolkata is UTC+5:30)", () => {
    const b = periodBounds("hour", "Asia/Kolkata", at("2026-11-26T10:10:00Z"));
    expect(iso(b.start)).toBe("2026-11-26T09:30:00.000Z");
    expect(b.end - b.start).toBe(3_600_000);
  });

  it("every instant lies in its period, for many instants and zones", () => {
    const zones = [
      null,
      "Europe/Berlin",
      "America/Santiago",
      "Australia/Lord_Howe",
      "Asia/Kathmandu",
      "Pacific/Apia",
    ];
    for (const tz of zones) {
      for (
        let t = at("2026-01-01T00:00:00Z");
        t < at("2027-01-01T00:00:00Z");
        t += 7 * 3_600_000 + 1_234_567
      ) {
        for (const p of ["hour", "day", "week", "month"] as const) {
          const b = periodBounds(p, tz, t);
          expect(b.start <= t && t < b.end, `${p} ${tz} ${iso(t)}`).toBe(true);
          // The next period starts exactly where this one ends.
          expect(periodBounds(p, tz, b.end).start, `${p} ${tz} ${iso(t)} next`).toBe(b.end);
        }
      }
    }
  });
});

async function stubOf(secret: string) {
  return env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(secret)));
}

type Stub = Awaited<ReturnType<typeof stubOf>>;

async function fakeClock(stub: Stub, now: () => number) {
  await runInDurableObject(stub, (instance: TokenState) => {
    instance.clock = now;
  });
}

const admittedCount = (rs: Admission[]) => rs.filter((r) => r.ok).length;

describe("budgets per period", () => {
  it("a day-budget token walked across the period boundary: exact in each day, renewed at midnight", async () => {
    const project = await createProject();
    const token = await createToken(project.id, {
      period_budgets: [{ period: "day", max_requests: 10, max_tokens: 5_000 }],
    });
    const stub = await stubOf(token.token);
    let now = at("2026-11-26T23:58:00Z");
    await fakeClock(stub, () => now);
    // 40 concurrent requests holding 400 tokens each: the token budget (5000) admits 12, the request budget 10.
    const first = await Promise.all(
      Array.from({ length: 40 }, () => stub.admit({ reserve: { tokens: 400, costUsd: null } })),
    );
    expect(admittedCount(first)).toBe(10);
    const refused = first.find((r) => !r.ok);
    expect(!refused?.ok && refused?.code).toBe("quota_exceeded");
    expect(!refused?.ok && refused?.message).toContain("renews at 2026-11-27T00:00:00.000Z");
    // Two minutes before renewal: not soon, so no retry-after (x-should-retry: false instead).
    expect(!refused?.ok && refused?.retryAfterSeconds).toBeUndefined();
    expect(!refused?.ok && refused?.renewsAt).toBe(at("2026-11-27T00:00:00Z"));

    // 30 s before midnight the refusal says to come back then.
    now = at("2026-11-26T23:59:30Z");
    const soon = await stub.admit({ reserve: { tokens: 400, costUsd: null } });
    expect(!soon.ok && soon.retryAfterSeconds).toBe(30);
    expect(!soon.ok && soon.retryable).toBe(true);

    // One request is still running across midnight: its hold belongs to the old day.
    const running = first.find((r) => r.ok);
    const held = first.filter((r) => r.ok).slice(1);
    for (const r of held)
      if (r.ok) await stub.settle(r.reservationId as string, { totalTokens: 300, costUsd: null });

    now = at("2026-11-27T00:00:00Z");
    const next = await Promise.all(
      Array.from({ length: 40 }, () => stub.admit({ reserve: { tokens: 400, costUsd: null } })),
    );
    expect(admittedCount(next)).toBe(10);
    const state = await stub.state();
    expect(state.periods[0]?.start).toBe(at("2026-11-27T00:00:00Z"));
    expect(state.periods[0]?.end).toBe(at("2026-11-28T00:00:00Z"));
    expect(state.periods[0]?.requests).toBe(10);
    expect(state.periods[0]?.tokensReserved).toBe(4_000);

    // The request of the previous day settles now: the new day is not charged for it.
    if (running?.ok) await stub.settle(running.reservationId as string, { totalTokens: 350, costUsd: null });
    const after = await stub.state();
    expect(after.periods[0]?.tokensUsed).toBe(0);
    expect(after.periods[0]?.tokensReserved).toBe(4_000);
    // The lifetime ledger counts everything.
    expect(after.ledger.tokensUsed).toBe(9 * 300 + 350);
  });

  it("GET /manage/tokens/{id} shows the current period's use and when it renews", async () => {
    const { token } = await mockProjectToken({
      period_budgets: [
        { period: "day", max_cost_usd: 5 },
        { period: "month", max_requests: 1000 },
      ],
      budget_time_zone: "Europe/Berlin",
    });
    const res = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 20 },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const got = await json<{
      budget_time_zone: string;
      allowance: {
        periods: {
          period: string;
          renews_at: string;
          requests: { used: number };
          cost_usd: { remaining: number };
        }[];
      };
    }>(await manage(`/tokens/${token.id}`));
    expect(got.budget_time_zone).toBe("Europe/Berlin");
    const [day, month] = got.allowance.periods;
    expect(day?.period).toBe("day");
    expect(day?.renews_at).toBe(iso(periodBounds("day", "Europe/Berlin", Date.now()).end));
    expect(day?.cost_usd.remaining).toBeLessThan(5);
    expect(month?.requests.used).toBe(1);
    expect(month?.renews_at).toBe(iso(periodBounds("month", "Europe/Berlin", Date.now()).end));
  });

  it("refuses through the proxy with quota_exceeded, the renewal time, and no retry when it is far", async () => {
    const { token } = await mockProjectToken({ period_budgets: [{ period: "month", max_requests: 1 }] });
    const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 5 };
    const ok = await proxy("/chat/completions", { token: token.token, json: chat });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    const res = await proxy("/chat/completions", { token: token.token, json: chat });
    expect(res.status).toBe(429);
    expect(res.headers.get("x-should-retry")).toBe("false");
    expect(res.headers.get("retry-after")).toBeNull();
    expect(res.headers.get("x-llm-proxy-renews-at")).toBe(iso(periodBounds("month", null, Date.now()).end));
    const body = await json<{ error: { code: string; message: string } }>(res);
    expect(body.error.code).toBe("quota_exceeded");
    expect(body.error.message).toMatch(/^Monthly budget: .* renews at /);
  });

  it("project budgets per period across all its tokens, renewed by the project's object", async () => {
    const project = await createProject({ period_budgets: [{ period: "hour", max_requests: 5 }] });
    const tokens = await Promise.all([1, 2, 3].map(() => createToken(project.id)));
    const stubs = await Promise.all(tokens.map((t) => stubOf(t.token)));
    const results = await Promise.all(stubs.flatMap((s) => Array.from({ length: 10 }, () => s.admit({}))));
    expect(admittedCount(results)).toBe(5);
    const projectStub = env.PROJECT_DO.get(env.PROJECT_DO.idFromName(project.id));
    const later = Date.now() + 3_600_000;
    await runInDurableObject(projectStub, (instance: ProjectState) => {
      instance.clock = () => later;
    });
    const renewed = await Promise.all(stubs.map((s) => s.admit({})));
    expect(admittedCount(renewed)).toBe(3);
    const state = await projectStub.state();
    expect(state.periods[0]?.requests).toBe(3);
  });

  it("an expired hold releases its period's reservation", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { period_budgets: [{ period: "day", max_cost_usd: 0.01 }] });
    const stub = await stubOf(token.token);
    const r = await stub.admit({ model: "gpt-4o-mini", reserve: { tokens: 100, costUsd: 0.004 } });
    expect(r.ok).toBe(true);
    expect((await stub.state()).periods[0]?.costReservedNanos).toBe(toNanos(0.004));
    const later = Date.now() + 3_600_000;
    await fakeClock(stub, () => later);
    await runDurableObjectAlarm(stub);
    const state = await stub.state();
    expect(state.openReservations).toBe(0);
    expect(state.periods[0]?.costReservedNanos).toBe(0);
  });

  it("validates periods and time zones: one budget per period, a known zone, at least one limit", async () => {
    const project = await createProject();
    const bad = [
      { period_budgets: [{ period: "fortnight", max_requests: 1 }] },
      { period_budgets: [{ period: "day" }] },
      {
        period_budgets: [
          { period: "day", max_requests: 1 },
          { period: "day", max_tokens: 5 },
        ],
      },
      { budget_time_zone: "Mars/Olympus_Mons" },
      { token_rate_limit: { tokens: 10, window_seconds: 86_400 } },
    ];
    for (const body of bad) {
      const res = await manage("/tokens", { method: "POST", body: { project_id: project.id, ...body } });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const ok = await manage("/tokens", {
      method: "POST",
      body: {
        project_id: project.id,
        period_budgets: [{ period: "week", max_cost_usd: 1 }],
        budget_time_zone: "europe/berlin",
      },
    });
    expect(ok.status).toBe(201);
    expect((await json<{ budget_time_zone: string }>(ok)).budget_time_zone).toBe("Europe/Berlin");
  });
});
