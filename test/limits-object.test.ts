import {
  evictDurableObject,
  listDurableObjectIds,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { toNanos } from "../src/limits/budget";
import { LedgerStore } from "../src/limits/ledger-store";
import { reserveFor } from "../src/limits/reserve";
import { WindowLog } from "../src/limits/window-log";
import type { Admission } from "../src/tokens/admission";
import type { TokenState } from "../src/tokens/durable";
import { hashToken } from "../src/tokens/secret";
import { completeRequest } from "../src/usage/record";
import { createProject, createToken, json, manage } from "./helpers";

// Bursts of hundreds of object calls: generous on a shared, loaded test machine.
vi.setConfig({ testTimeout: 30_000 });

async function tokenStub(secret: string) {
  return env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(secret)));
}

type Stub = Awaited<ReturnType<typeof tokenStub>>;

/** Makes the object's clock read whatever `now()` returns (the first admit loads the object). */
async function fakeClock(stub: Stub, now: () => number) {
  await runInDurableObject(stub, (instance: TokenState) => {
    instance.clock = now;
  });
}

const admitted = (rs: Admission[]) => rs.filter((r) => r.ok).length;
const codes = (rs: Admission[]) => rs.filter((r) => !r.ok).map((r) => (r.ok ? "" : r.code));

describe("request quota", () => {
  it("admits exactly 100 of 500 concurrent requests against max_requests = 100", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { max_requests: 100 });
    const stub = await tokenStub(token.token);
    const results = await Promise.all(Array.from({ length: 500 }, () => stub.admit({})));
    expect(admitted(results)).toBe(100);
    expect(codes(results).every((c) => c === "quota_exceeded")).toBe(true);
    expect((await stub.state()).requests).toBe(100);
  });
});

describe("rate windows in the object", () => {
  it("never admits more than 10 per 10 s window under 50 concurrent clients", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { rate_limit: { requests: 10, window_seconds: 10 } });
    const stub = await tokenStub(token.token);
    const start = Date.now();
    let now = start;
    expect((await stub.admit({})).ok).toBe(true); // loads the object
    await fakeClock(stub, () => now);
    const times: number[] = [start];
    // 50 clients fire together every 700 ms of simulated time, for 60 s.
    for (let step = 1; step <= 86; step++) {
      now = start + step * 700;
      const results = await Promise.all(Array.from({ length: 50 }, () => stub.admit({})));
      for (const r of results) if (r.ok) times.push(now);
      for (const c of codes(results)) expect(c).toBe("rate_limit_exceeded");
    }
    for (let i = 0; i < times.length; i++) {
      const inWindow = times.filter((t) => t > (times[i] as number) - 10_000 && t <= (times[i] as number));
      expect(inWindow.length).toBeLessThanOrEqual(10);
    }
    // Not over-strict either: ~10 per 10 s over 60 s.
    expect(times.length).toBeGreaterThanOrEqual(60);
  }, 60_000);

  it("admits exactly 10 of 50 simultaneous requests on the real clock, with a Retry-After within the window", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { rate_limit: { requests: 10, window_seconds: 10 } });
    const stub = await tokenStub(token.token);
    const results = await Promise.all(Array.from({ length: 50 }, () => stub.admit({})));
    expect(admitted(results)).toBe(10);
    for (const r of results) {
      if (r.ok) continue;
      expect(r.code).toBe("rate_limit_exceeded");
      expect(r.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(r.retryAfterSeconds).toBeLessThanOrEqual(10);
    }
  });

  it("gives a Retry-After after which the next request passes, and not before", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { rate_limit: [{ requests: 3, window_seconds: 10 }] });
    const stub = await tokenStub(token.token);
    expect((await stub.admit({})).ok).toBe(true);
    const t0 = Date.now();
    let now = t0;
    await fakeClock(stub, () => now);
    now = t0 + 2_500;
    await stub.admit({});
    await stub.admit({});
    now = t0 + 4_000;
    const refused = await stub.admit({});
    expect(!refused.ok && refused.code).toBe("rate_limit_exceeded");
    // The first admission (at ≤ t0) leaves the window by t0 + 10 s: wait ≤ 6 s, rounded up.
    const seconds = refused.ok ? 0 : (refused.retryAfterSeconds ?? 0);
    const ms = refused.ok ? 0 : (refused.retryAfterMs ?? 0);
    expect(seconds).toBe(Math.ceil(ms / 1000));
    expect(ms).toBeGreaterThan(5_000);
    expect(ms).toBeLessThanOrEqual(6_000);
    now = t0 + 4_000 + ms - 1;
    expect((await stub.admit({})).ok).toBe(false);
    now = t0 + 4_000 + ms;
    expect((await stub.admit({})).ok).toBe(true);
  });

  it("keeps its windows and counters across eviction and reload", async () => {
    const project = await createProject();
    const token = await createToken(project.id, {
      rate_limit: { requests: 3, window_seconds: 3600 },
      max_tokens: 10_000,
    });
    const stub = await tokenStub(token.token);
    const r = await stub.admit({ reserve: { tokens: 500, costUsd: null } });
    await stub.admit({});
    await stub.admit({});
    expect(r.ok && r.reservationId).toBeTruthy();
    await evictDurableObject(stub);
    const after = await stub.admit({});
    expect(!after.ok && after.code).toBe("rate_limit_exceeded");
    const state = await stub.state();
    expect(state.requests).toBe(3);
    expect(state.ledger.tokensReserved).toBe(500);
    expect(state.windows[0]?.used).toBe(3);
    await manage(`/tokens/${token.id}`, { method: "PATCH", body: { name: "renamed" } });
    expect((await stub.state()).windows[0]?.used).toBe(3);
    await runInDurableObject(stub, (_i: TokenState, state) => {
      expect(new WindowLog(state.storage.sql).times).toHaveLength(3);
      expect(new LedgerStore(state.storage).ledger.tokensReserved).toBe(500);
    });
  });
});

describe("budgets", () => {
  // A price for the tests; the real table belongs to the usage module.
  const price = () => ({ input: 2.5, cachedInput: 1.25, output: 10 });
  const chatBody = (maxTokens: number) => ({
    model: "gpt-test",
    messages: [{ role: "user", content: "Say something about budgets." }],
    max_tokens: maxTokens,
  });

  it("never spends more than a $0.01 cost budget with declared max_tokens, under concurrency", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { max_cost_usd: 0.01 });
    const stub = await tokenStub(token.token);
    let spent = 0;
    let admittedCount = 0;
    for (let round = 0; round < 20; round++) {
      const bodies = Array.from({ length: 20 }, (_, i) => chatBody(50 + ((round * 7 + i * 13) % 200)));
      const results = await Promise.all(
        bodies.map((body) =>
          stub.admit({
            model: body.model,
            reserve: reserveFor({ path: "/chat/completions", model: body.model, body }, { price }),
          }),
        ),
      );
      await Promise.all(
        results.map(async (r, i) => {
          if (!r.ok) {
            expect(r.code).toBe("quota_exceeded");
            return;
          }
          admittedCount++;
          // The upstream used up to the declared maximum (here: all of it) plus the real prompt (< bytes).
          const body = bodies[i] as ReturnType<typeof chatBody>;
          const cost = (20 * 2.5 + body.max_tokens * 10) / 1e6;
          spent += cost;
          await stub.settle(r.reservationId as string, { totalTokens: 20 + body.max_tokens, costUsd: cost });
        }),
      );
    }
    const state = await stub.state();
    expect(admittedCount).toBeGreaterThan(0);
    expect(state.ledger.costReservedNanos).toBe(0);
    expect(state.ledger.costUsedNanos).toBeLessThanOrEqual(toNanos(0.01));
    expect(spent).toBeLessThanOrEqual(0.01 + 1e-12);
    // The budget is used up to what no further request of this shape fits.
    expect(state.remaining.costUsd).toBeLessThan(0.0035);
  });

  it("refuses a model with no known price when a cost budget applies", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { max_cost_usd: 1 });
    const stub = await tokenStub(token.token);
    const r = await stub.admit({ model: "no-such-price", reserve: { tokens: 10, costUsd: null } });
    expect(!r.ok && [r.status, r.code]).toEqual([403, "model_not_allowed"]);
    expect(!r.ok && r.message).toContain("no known price");
  });

  it("settles on every path: success, upstream error, client abort", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { max_tokens: 10_000 });
    const hash = await hashToken(token.token);
    const stub = await tokenStub(token.token);
    const draft = (reservationId: string, usage: number | null, extra: Record<string, unknown> = {}) => ({
      id: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      token_id: token.id,
      project_id: project.id,
      method: "POST",
      path: "/v1/chat/completions",
      status: 200,
      duration_ms: 10,
      ttfb_ms: 5,
      stream: true,
      model: "gpt-test",
      usage:
        usage === null ? null : { prompt_tokens: 10, completion_tokens: usage - 10, total_tokens: usage },
      error: null,
      aborted: false,
      upstream_request_id: null,
      colo: null,
      user_agent: null,
      reservationId,
      ...extra,
    });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await stub.admit({ reserve: { tokens: 2_000, costUsd: null } });
      if (!r.ok || !r.reservationId) throw new Error("not admitted");
      ids.push(r.reservationId);
    }
    expect((await stub.state()).ledger.tokensReserved).toBe(6_000);
    await completeRequest(env, draft(ids[0] as string, 300), hash);
    await completeRequest(env, draft(ids[1] as string, null, { status: 500, error: "upstream_error" }), hash);
    await completeRequest(env, draft(ids[2] as string, 120, { aborted: true }), hash);
    // A repeated settle counts nothing twice.
    await completeRequest(env, draft(ids[0] as string, 300), hash);
    const state = await stub.state();
    expect(state.ledger.tokensReserved).toBe(0);
    expect(state.ledger.tokensUsed).toBe(420);
    expect(state.openReservations).toBe(0);
  });

  // Issue 10 changed this: an expired hold used to be released for free ($0); it is now charged in full.
  it("charges reservations that were never settled in full, and corrects the charge on a late settle", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { max_tokens: 1_000 });
    const stub = await tokenStub(token.token);
    const first = await stub.admit({ reserve: { tokens: 900, costUsd: null } });
    expect(first.ok).toBe(true);
    const blocked = await stub.admit({ reserve: { tokens: 200, costUsd: null } });
    expect(!blocked.ok && blocked.code).toBe("quota_exceeded");
    const ttl = Number(env.RESERVATION_TTL_SECONDS) * 1000;
    await fakeClock(stub, () => Date.now() + ttl + 1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const expired = await stub.state();
    expect(expired.ledger.tokensReserved).toBe(0);
    expect(expired.ledger.tokensUsed).toBe(900);
    expect((await stub.admit({ reserve: { tokens: 200, costUsd: null } })).ok).toBe(false);
    expect((await stub.admit({ reserve: { tokens: 100, costUsd: null } })).ok).toBe(true);
    // The request did finish after all: its real usage replaces the charge, and is not counted twice.
    await stub.settle(first.ok ? (first.reservationId as string) : "", { totalTokens: 700, costUsd: null });
    await stub.settle(first.ok ? (first.reservationId as string) : "", { totalTokens: 700, costUsd: null });
    const state = await stub.state();
    expect(state.ledger.tokensUsed).toBe(700);
    expect(state.ledger.tokensReserved).toBe(100);
  });
});

describe("live changes", () => {
  it("applies a lowered max_requests, a new rate window and revocation on the next request", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { max_requests: 100 });
    const stub = await tokenStub(token.token);
    for (let i = 0; i < 5; i++) expect((await stub.admit({})).ok).toBe(true);
    await manage(`/tokens/${token.id}`, { method: "PATCH", body: { max_requests: 5 } });
    const quota = await stub.admit({});
    expect(!quota.ok && quota.code).toBe("quota_exceeded");
    await manage(`/tokens/${token.id}`, {
      method: "PATCH",
      body: { max_requests: null, rate_limit: { requests: 1, window_seconds: 60 } },
    });
    expect((await stub.admit({})).ok).toBe(true);
    const rate = await stub.admit({});
    expect(!rate.ok && rate.code).toBe("rate_limit_exceeded");
    expect((await stub.state()).requests).toBe(6);
    await manage(`/tokens/${token.id}`, { method: "DELETE" });
    const revoked = await stub.admit({});
    expect(!revoked.ok && revoked.code).toBe("token_inactive");
  });

  it("applies an expiry extension on the next request", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { duration_minutes: 1 });
    const stub = await tokenStub(token.token);
    expect((await stub.admit({})).ok).toBe(true);
    await fakeClock(stub, () => Date.now() + 120_000);
    const expired = await stub.admit({});
    expect(!expired.ok && expired.code).toBe("token_expired");
    await manage(`/tokens/${token.id}`, { method: "PATCH", body: { duration_minutes: 60 } });
    expect((await stub.admit({})).ok).toBe(true);
  });

  it("applies allowed models by snapshot and a project's model list", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { allowed_models: ["gpt-4o"] });
    const stub = await tokenStub(token.token);
    expect((await stub.admit({ model: "gpt-4o-2024-08-06" })).ok).toBe(true);
    const mini = await stub.admit({ model: "gpt-4o-mini" });
    expect(!mini.ok && [mini.status, mini.code]).toEqual([403, "model_not_allowed"]);
    expect(!mini.ok && mini.message).toContain("'gpt-4o-mini'");
    await manage(`/projects/${project.id}`, { method: "PATCH", body: { allowed_models: ["gpt-5"] } });
    const byProject = await stub.admit({ model: "gpt-4o" });
    expect(!byProject.ok && byProject.message).toContain("project");
  });
});

describe("project-wide limits", () => {
  it("caps requests across two tokens exactly, and a PATCHed cap applies at once", async () => {
    const project = await createProject({ max_requests: 15 });
    const [a, b] = await Promise.all([createToken(project.id), createToken(project.id)]);
    const stubs = [await tokenStub(a!.token), await tokenStub(b!.token)];
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (stubs[i % 2] as Stub).admit({})));
    expect(admitted(results)).toBe(15);
    expect(codes(results).every((c) => c === "quota_exceeded")).toBe(true);
    // Refused requests were rolled back in the token objects.
    const counted = (await stubs[0]!.state()).requests + (await stubs[1]!.state()).requests;
    expect(counted).toBe(15);
    await manage(`/projects/${project.id}`, { method: "PATCH", body: { max_requests: 20 } });
    expect((await stubs[0]!.admit({})).ok).toBe(true);
    await manage(`/projects/${project.id}`, { method: "PATCH", body: { max_requests: null } });
    const free = await Promise.all(Array.from({ length: 10 }, () => stubs[1]!.admit({})));
    expect(admitted(free)).toBe(10);
  });

  it("holds a token budget across tokens, settles the project's share", async () => {
    const project = await createProject({ max_tokens: 1_000 });
    const [a, b] = await Promise.all([createToken(project.id), createToken(project.id)]);
    const sa = await tokenStub(a!.token);
    const sb = await tokenStub(b!.token);
    const ra = await sa.admit({ reserve: { tokens: 600, costUsd: null } });
    expect(ra.ok).toBe(true);
    const rb = await sb.admit({ reserve: { tokens: 600, costUsd: null } });
    expect(!rb.ok && rb.message).toContain("project");
    await sa.settle(ra.ok ? (ra.reservationId as string) : "", { totalTokens: 100, costUsd: null });
    expect((await sb.admit({ reserve: { tokens: 600, costUsd: null } })).ok).toBe(true);
    const state = await sb.state();
    expect(state.project?.ledger.tokensUsed).toBe(100);
    expect(state.project?.ledger.tokensReserved).toBe(600);
    expect(state.remaining.tokens).toBe(300);
  });
});

describe("management API", () => {
  it("shows live counters and remaining allowance in GET /manage/tokens/{id}", async () => {
    const project = await createProject({ max_cost_usd: 5 });
    const token = await createToken(project.id, {
      max_requests: 10,
      max_tokens: 5_000,
      rate_limit: [{ requests: 5, window_seconds: 60 }],
    });
    const unused = await json(await manage(`/tokens/${token.id}`));
    expect(unused.allowance).toBeNull();
    const stub = await tokenStub(token.token);
    const r = await stub.admit({ model: "m", reserve: { tokens: 1_000, costUsd: 0.5 } });
    if (!r.ok) throw new Error(r.message);
    await stub.admit({});
    await stub.settle(r.reservationId as string, { totalTokens: 400, costUsd: 0.25 });
    await stub.admit({ reserve: { tokens: 300, costUsd: 0.1 } });
    const got = await json<Record<string, unknown>>(await manage(`/tokens/${token.id}`));
    expect(got).toMatchObject({
      request_count: 3,
      remaining_requests: 7,
      total_tokens_used: 400,
      cost_used_usd: 0.25,
      allowance: {
        requests: { used: 3, remaining: 7 },
        windows: [{ requests: 5, window_seconds: 60, used: 3, remaining: 2, reset_seconds: 0 }],
        tokens: { used: 400, reserved: 300, remaining: 4_300 },
        cost_usd: { used: 0.25, reserved: 0.1, remaining: null },
        open_reservations: 1,
        project: {
          requests: { used: 3, remaining: null },
          cost_usd: { used: 0.25, reserved: 0.1, remaining: 4.65 },
        },
      },
    });
    // The admitted request told the client the same in headers of our own.
    expect(r.allowance).toMatchObject({ requests: 9, tokens: 4_000, window: { remaining: 4 } });
  });

  it("applies a project's token_defaults to new tokens unless the request sets them", async () => {
    const defaults = {
      duration_minutes: 30,
      max_requests: 50,
      rate_limit: { requests: 5, window_seconds: 1 },
      max_tokens: 1_000,
      max_cost_usd: 2,
      allowed_models: ["gpt-4o"],
    };
    const project = await createProject({ token_defaults: defaults });
    const t = await json<Record<string, unknown>>(
      await manage(`/tokens/${(await createToken(project.id)).id}`),
    );
    expect(t).toMatchObject({
      max_requests: 50,
      rate_limit: [{ requests: 5, window_seconds: 1 }],
      max_tokens: 1_000,
      max_cost_usd: 2,
      allowed_models: ["gpt-4o"],
    });
    expect(Date.parse(t.expires_at as string) - Date.now()).toBeGreaterThan(29 * 60_000);
    const own = await createToken(project.id, { max_requests: null, max_tokens: 7 });
    const o = await json<Record<string, unknown>>(await manage(`/tokens/${own.id}`));
    expect(o).toMatchObject({ max_requests: null, max_tokens: 7, max_cost_usd: 2 });
    const bad = await manage("/projects", {
      method: "POST",
      body: { name: `p-${crypto.randomUUID()}`, api_key: "sk-x", token_defaults: { max_request: 1 } },
    });
    expect(bad.status).toBe(400);
  });

  it("accepts and returns project-wide limits", async () => {
    const project = await createProject({ max_requests: 100, max_tokens: 10_000, max_cost_usd: 1.5 });
    const got = await json(await manage(`/projects/${project.id}`));
    expect(got).toMatchObject({ max_requests: 100, max_tokens: 10_000, max_cost_usd: 1.5 });
    const patched = await json(
      await manage(`/projects/${project.id}`, { method: "PATCH", body: { max_cost_usd: null } }),
    );
    expect(patched.max_cost_usd).toBeNull();
    expect(patched.usage).toBeNull();
  });

  it("shows project-wide counters once a token was used, without creating the project's object itself", async () => {
    const project = await createProject({ max_requests: 10, max_tokens: 1_000 });
    const token = await createToken(project.id);
    const before = await json(await manage(`/projects/${project.id}`));
    expect(before.usage).toBeNull();
    const ids = async () => (await listDurableObjectIds(env.PROJECT_DO)).map((id) => id.toString());
    expect(await ids()).not.toContain(env.PROJECT_DO.idFromName(project.id).toString());
    const stub = await tokenStub(token.token);
    await stub.admit({ reserve: { tokens: 100, costUsd: null } });
    const after = await json(await manage(`/projects/${project.id}`));
    expect(after.usage).toEqual({
      requests: { used: 1, remaining: 9 },
      tokens: { used: 0, reserved: 100, remaining: 900 },
      cost_usd: { used: 0, reserved: 0, remaining: null },
      open_reservations: 1,
    });
  });
});
