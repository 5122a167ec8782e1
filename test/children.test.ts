import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { toNanos } from "../src/limits/budget";
import type { TokenState } from "../src/tokens/durable";
import { hashToken } from "../src/tokens/secret";
import { BASE, createProject, createToken, json, manage } from "./helpers";
import { mockProjectToken, proxy, workerFetch } from "./support/proxy";

vi.setConfig({ testTimeout: 60_000 });

type Child = {
  id: string;
  token: string;
  max_cost_usd: number | null;
  parent_id: string;
  expires_at: string;
  issued_by: string;
};
type ErrorJson = { error: { code: string; message: string; param: string | null } };

function issue(path: string, secret: string, init: { method?: string; body?: unknown } = {}) {
  return workerFetch(`${BASE}/issue${path}`, {
    method: init.method ?? (init.body ? "POST" : "GET"),
    headers: {
      authorization: `Bearer ${secret}`,
      ...(init.body ? { "content-type": "application/json" } : {}),
    },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
}

async function mint(secret: string, body: Record<string, unknown>): Promise<Child[]> {
  const res = await issue("/children", secret, { body });
  if (res.status !== 201) throw new Error(`mint: ${res.status} ${await res.text()}`);
  return (await json<{ data: Child[] }>(res)).data;
}

const stubOf = async (secret: string) => env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(secret)));

describe("child tokens", () => {
  it("a $30 teacher gives 30 students $1 each; all spending at once never exceeds $30", async () => {
    const project = await createProject();
    const teacher = await createToken(project.id, { max_cost_usd: 30, can_mint: true, name: "teacher" });
    const students = await mint(teacher.token, { count: 30, max_cost_usd: 1, name: undefined });
    expect(students).toHaveLength(30);
    for (const s of students) {
      expect(s.parent_id).toBe(teacher.id);
      expect(s.max_cost_usd).toBe(1);
      expect(s.issued_by).toBe(`token:${teacher.id}`);
      expect(s.token).toMatch(/^wt_[0-9A-Za-z]{48}$/);
    }
    // The whole $30 is in escrow: the teacher has nothing left to spend or to give.
    const parent = await stubOf(teacher.token);
    const own = await parent.admit({ model: "gpt-4o-mini", reserve: { tokens: 10, costUsd: 0.001 } });
    expect(!own.ok && own.code).toBe("quota_exceeded");
    const more = await issue("/children", teacher.token, { body: { count: 1, max_cost_usd: 0.01 } });
    expect(more.status).toBe(429);
    expect((await json<ErrorJson>(more)).error.message).toContain("Not enough budget left");

    // Every student fires 8 requests at once, each holding $0.3 and really costing $0.29: each student
    // gets exactly 3 through ($0.87), whatever the interleaving.
    const stubs = await Promise.all(students.map((s) => stubOf(s.token)));
    const results = await Promise.all(
      stubs.flatMap((stub) =>
        Array.from({ length: 8 }, async () => {
          const r = await stub.admit({ model: "gpt-4o-mini", reserve: { tokens: 100, costUsd: 0.3 } });
          if (r.ok) await stub.settle(r.reservationId as string, { totalTokens: 100, costUsd: 0.29 });
          return r.ok;
        }),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(30 * 3);
    const spent = (await Promise.all(stubs.map((s) => s.state()))).reduce(
      (sum, st) => sum + st.ledger.costUsedNanos,
      0,
    );
    expect(spent).toBe(90 * toNanos(0.29));
    expect(spent).toBeLessThanOrEqual(toNanos(30));
    const state = await parent.state();
    expect(state.escrow).toMatchObject({ children: 30, costNanos: toNanos(30) });
    const shown = await json<{ allowance: { escrow: { children: number; cost_usd: number } } }>(
      await manage(`/tokens/${teacher.id}`),
    );
    expect(shown.allowance.escrow).toMatchObject({ children: 30, cost_usd: 30 });
  });

  it("returns a child's unused allowance to the parent when the child ends", async () => {
    const project = await createProject();
    const teacher = await createToken(project.id, { max_cost_usd: 3, can_mint: true });
    const [a, b, c] = await mint(teacher.token, { count: 3, max_cost_usd: 1 });
    const aStub = await stubOf((a as Child).token);
    const r = await aStub.admit({ model: "gpt-4o-mini", reserve: { tokens: 10, costUsd: 0.7 } });
    expect(r.ok).toBe(true);
    if (r.ok) await aStub.settle(r.reservationId as string, { totalTokens: 10, costUsd: 0.6 });
    // a (used $0.60) and b (never used) end early; c stays.
    for (const child of [a, b] as Child[]) {
      expect((await issue(`/children/${child.id}`, teacher.token, { method: "DELETE" })).status).toBe(204);
    }
    const parent = await stubOf(teacher.token);
    const later = Date.now() + 16 * 60_000; // past the reservation lifetime: their last requests have settled
    await runInDurableObject(parent, (instance: TokenState) => {
      instance.clock = () => later;
    });
    await runDurableObjectAlarm(parent);
    const state = await parent.state();
    expect(state.escrow).toMatchObject({ children: 1, costNanos: toNanos(1) });
    expect(state.ledger.costUsedNanos).toBe(toNanos(0.6));
    expect(state.remaining.costUsd).toBeCloseTo(3 - 1 - 0.6, 9);
    // What came back can be given again; c still works.
    expect(await mint(teacher.token, { count: 1, max_cost_usd: 1.4 })).toHaveLength(1);
    expect((await (await stubOf((c as Child).token)).admit({})).ok).toBe(true);
  });

  it("revoking the parent stops every child within a second", async () => {
    const { project, token: teacher } = await mockProjectToken({ max_requests: 1000, can_mint: true });
    const students = await mint(teacher.token, { count: 30, max_requests: 10 });
    const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 5 };
    const before = await Promise.all(
      students.map((s) => proxy("/chat/completions", { token: s.token, json: chat })),
    );
    expect(before.every((r) => r.status === 200)).toBe(true);
    await Promise.all(before.map((r) => r.arrayBuffer()));
    const t0 = Date.now();
    expect((await manage(`/tokens/${teacher.id}`, { method: "DELETE" })).status).toBe(204);
    // The revocation has reached all 31 objects when the call returns (the loaded 2-core test machine
    // takes a few hundred ms for it): every child's very next request is refused.
    expect(Date.now() - t0).toBeLessThan(1_000);
    const after = await Promise.all(
      students.map((s) => proxy("/chat/completions", { token: s.token, json: chat })),
    );
    for (const r of after) {
      expect(r.status).toBe(401);
      expect((await json<ErrorJson>(r)).error.code).toBe("token_inactive");
    }
    const listed = await json<{ data: { status: string }[] }>(
      await manage(`/tokens?project_id=${project.id}&status=revoked`),
    );
    expect(listed.data.length).toBe(31);
  });

  it("children stay inside their parent: budgets required, models, lifetime, no minting by default", async () => {
    const project = await createProject();
    const parent = await createToken(project.id, {
      max_cost_usd: 10,
      max_requests: 100,
      can_mint: true,
      allowed_models: ["gpt-4o-mini"],
      duration_minutes: 60,
    });
    const plain = await createToken(project.id, { max_cost_usd: 10 });
    const cases: [string, string, Record<string, unknown>, number, string][] = [
      ["a token without can_mint", plain.token, { max_cost_usd: 1 }, 403, "forbidden"],
      ["no cost budget per child", parent.token, { max_requests: 5 }, 400, "validation_error"],
      ["no request budget per child", parent.token, { max_cost_usd: 1 }, 400, "validation_error"],
      [
        "other models",
        parent.token,
        { max_cost_usd: 1, max_requests: 5, allowed_models: ["gpt-4o"] },
        403,
        "forbidden",
      ],
      [
        "outliving the parent",
        parent.token,
        { max_cost_usd: 1, max_requests: 5, duration_minutes: 61 },
        403,
        "forbidden",
      ],
      [
        "more than is left",
        parent.token,
        { count: 11, max_cost_usd: 1, max_requests: 5 },
        429,
        "quota_exceeded",
      ],
      ["not a token", "wt_nope", { max_cost_usd: 1 }, 401, "invalid_token"],
    ];
    for (const [what, secret, body, status, code] of cases) {
      const res = await issue("/children", secret, { body });
      expect(res.status, what).toBe(status);
      expect((await json<ErrorJson>(res)).error.code, what).toBe(code);
    }
    const [child] = await mint(parent.token, { count: 1, max_cost_usd: 1, max_requests: 5 });
    expect(Date.parse((child as Child).expires_at)).toBeLessThanOrEqual(Date.now() + 60 * 60_000);
    const grand = await issue("/children", (child as Child).token, {
      body: { max_cost_usd: 0.1, max_requests: 1 },
    });
    expect(grand.status).toBe(403);
    // Listing and revoking are the parent's only: another token sees no such child.
    const list = await json<{ data: { id: string }[] }>(await issue("/children", parent.token));
    expect(list.data.map((c) => c.id)).toEqual([(child as Child).id]);
    expect((await issue(`/children/${(child as Child).id}`, plain.token, { method: "DELETE" })).status).toBe(
      404,
    );
    // The child reads its own allowance.
    const self = await json<{ id: string; max_cost_usd: number }>(
      await issue("/token", (child as Child).token),
    );
    expect(self).toMatchObject({ id: (child as Child).id, max_cost_usd: 1 });
    // The parent's audit trail names it.
    const audit = await json<{ data: { actor: string; action: string }[] }>(
      await manage(`/audit?actor=token:${parent.id}`),
    );
    expect(audit.data.map((a) => a.action)).toContain("token.mint_children");
  });
});
