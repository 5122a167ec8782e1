import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { hashToken } from "../src/tokens/secret";
import { call, createProject, createToken, json, manage } from "./helpers";

vi.setConfig({ testTimeout: 30_000 });

type Key = { id: string; key: string; key_hint: string; status: string; project_id: string };
type TokenOut = {
  id: string;
  token: string;
  project_id: string;
  expires_at: string;
  max_cost_usd: number | null;
  max_requests: number | null;
  allowed_models: string[] | null;
  period_budgets: unknown;
  issued_by: string | null;
};

async function createKey(projectId: string, ceilings: Record<string, unknown> = {}): Promise<Key> {
  const res = await manage("/issuing-keys", {
    method: "POST",
    body: { project_id: projectId, name: "app backend", ceilings },
  });
  if (res.status !== 201) throw new Error(`createKey: ${res.status} ${await res.text()}`);
  return json<Key>(res);
}

/** Calls the management API with an issuing key. */
function asKey(
  key: string,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  return call(`/manage${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...init.headers } });
}

async function setup(ceilings: Record<string, unknown> = {}) {
  const project = await createProject({ allowed_models: ["gpt-4o-mini", "gpt-4o*"] });
  const other = await createProject();
  const key = await createKey(project.id, ceilings);
  return { project, other, key };
}

describe("issuing keys", () => {
  it("is shown once, stored as a hash, recognisable (ik_), listed and revocable", async () => {
    const { project, key } = await setup();
    expect(key.key).toMatch(/^ik_[0-9A-Za-z]{38}$/);
    expect(key.key_hint.startsWith("ik_")).toBe(true);
    const row = await env.DB.prepare("select key_hash from issuing_keys where id = ?")
      .bind(key.id)
      .first<{ key_hash: string }>();
    expect(row?.key_hash).toBe(await hashToken(key.key));
    const listed = await json<{ data: Record<string, unknown>[] }>(
      await manage(`/issuing-keys?project_id=${project.id}`),
    );
    expect(listed.data.map((k) => k.id)).toContain(key.id);
    expect(JSON.stringify(listed)).not.toContain(key.key);
    expect(JSON.stringify(await json(await manage(`/issuing-keys/${key.id}`)))).not.toContain(key.key);

    expect((await asKey(key.key, "/tokens", { method: "POST", body: {} })).status).toBe(201);
    expect((await manage(`/issuing-keys/${key.id}`, { method: "DELETE" })).status).toBe(204);
    const refused = await asKey(key.key, "/tokens", { method: "POST", body: {} });
    expect(refused.status).toBe(401);
    expect((await json<{ error: { message: string } }>(refused)).error.message).toContain("revoked");
    // A forged key with a valid shape but unknown: 401 as well.
    const forged = await asKey(`ik_${"A".repeat(38)}`, "/tokens");
    expect(forged.status).toBe(401);
  });

  it("creates, lists, reads and revokes its project's tokens; the audit log names the key", async () => {
    const { project, key } = await setup();
    const created = await asKey(key.key, "/tokens", {
      method: "POST",
      body: { name: "user-42", max_cost_usd: 2 },
    });
    expect(created.status).toBe(201);
    const token = await json<TokenOut>(created);
    expect(token.project_id).toBe(project.id);
    expect(token.issued_by).toBe(`issuing_key:${key.id}`);
    const batch = await asKey(key.key, "/tokens/batch", {
      method: "POST",
      body: { count: 3, name: "class" },
    });
    expect(batch.status).toBe(201);
    const list = await json<{ data: TokenOut[] }>(await asKey(key.key, "/tokens?limit=50"));
    expect(list.data.every((t) => t.project_id === project.id)).toBe(true);
    expect(list.data.length).toBe(4);
    expect((await asKey(key.key, `/tokens/${token.id}`)).status).toBe(200);
    expect((await asKey(key.key, `/tokens/${token.id}`, { method: "DELETE" })).status).toBe(204);
    const audit = await json<{
      data: { actor: string; action: string; details: Record<string, unknown> | null }[];
    }>(await manage(`/audit?actor=issuing_key:${key.id}`));
    const actions = audit.data.map((a) => a.action).sort();
    expect(actions).toEqual(["token.create", "token.create_batch", "token.revoke"]);
    expect(audit.data.every((a) => a.details?.issuing_key === "app backend")).toBe(true);
  });

  it("refuses every management call outside its scope", async () => {
    const { project, other, key } = await setup();
    const foreign = await createToken(other.id);
    const own = await createToken(project.id);
    const someKey = await createKey(other.id);
    const attempts: [string, string, unknown?][] = [
      ["GET", "/projects"],
      ["POST", "/projects", { name: "mine", api_key: "sk-1234567890abcdef" }],
      ["GET", `/projects/${project.id}`],
      ["PATCH", `/projects/${project.id}`, { base_url: "https://evil.example/v1" }],
      ["PATCH", `/projects/${project.id}`, { api_key: "sk-evil-1234567890" }],
      ["DELETE", `/projects/${project.id}`],
      ["POST", `/projects/${project.id}/tokens/revoke`],
      ["POST", `/projects/${other.id}/tokens/revoke`],
      ["PATCH", `/tokens/${own.id}`, { max_cost_usd: 1000 }],
      ["POST", `/tokens/${own.id}/rotate`, {}],
      ["GET", "/audit"],
      ["GET", "/usage"],
      ["GET", "/events"],
      ["GET", "/metrics"],
      ["GET", "/issuing-keys"],
      ["POST", "/issuing-keys", { project_id: project.id, name: "escalate" }],
      ["DELETE", `/issuing-keys/${someKey.id}`],
      ["GET", "/identity-providers"],
      [
        "POST",
        "/identity-providers",
        { project_id: project.id, name: "x", issuer: "i", audience: "a", hs256_secret: "s".repeat(40) },
      ],
      ["GET", "/users"],
      ["POST", "/tokens/../projects", { name: "x", api_key: "sk-1234567890abcdef" }],
      ["HEAD", "/projects"],
      ["GET", `/projects/${project.id}/../../audit`],
    ];
    for (const [method, path, body] of attempts) {
      const res = await asKey(key.key, path, { method, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      if (method !== "HEAD")
        expect((await json<{ error: { code: string } }>(res)).error.code).toBe("forbidden");
    }
    // Other spellings reach no other route: refused or not found, never served.
    for (const path of ["/%70rojects", "//projects", "/Projects", "/projects%2F", "/audit/"]) {
      const res = await asKey(key.key, path);
      expect([403, 404], path).toContain(res.status);
    }
    // Another project's tokens do not exist for the key.
    expect((await asKey(key.key, `/tokens/${foreign.id}`)).status).toBe(404);
    expect((await asKey(key.key, `/tokens/${foreign.id}`, { method: "DELETE" })).status).toBe(404);
    expect(
      (await asKey(key.key, "/tokens", { method: "DELETE", body: { token: foreign.token } })).status,
    ).toBe(404);
    expect((await asKey(key.key, `/tokens?project_id=${other.id}`)).status).toBe(403);
    expect((await asKey(key.key, "/tokens", { method: "POST", body: { project_id: other.id } })).status).toBe(
      403,
    );
    expect(
      (await asKey(key.key, "/tokens/batch", { method: "POST", body: { project_id: other.id, count: 2 } }))
        .status,
    ).toBe(403);
    // Nothing changed: the foreign token is alive, the project untouched, no key was made.
    expect((await json<{ status: string }>(await manage(`/tokens/${foreign.id}`))).status).toBe("active");
    const keys = await json<{ data: unknown[] }>(await manage(`/issuing-keys?project_id=${project.id}`));
    expect(keys.data).toHaveLength(1);
  });

  it("creates tokens within its ceilings: missing limits set to the ceiling, larger ones refused", async () => {
    const { key } = await setup({
      max_duration_minutes: 60,
      max_cost_usd: 5,
      max_requests: 100,
      allowed_models: ["gpt-4o-mini"],
      period_budgets: [{ period: "day", max_cost_usd: 1 }],
    });
    const res = await asKey(key.key, "/tokens", { method: "POST", body: {} });
    expect(res.status).toBe(201);
    const t = await json<TokenOut>(res);
    expect(t.max_cost_usd).toBe(5);
    expect(t.max_requests).toBe(100);
    expect(t.allowed_models).toEqual(["gpt-4o-mini"]);
    expect(t.period_budgets).toEqual([{ period: "day", max_cost_usd: 1 }]);
    expect(Date.parse(t.expires_at) - Date.now()).toBeLessThanOrEqual(60 * 60_000 + 1000);
    const smaller = await json<TokenOut>(
      await asKey(key.key, "/tokens", {
        method: "POST",
        body: { max_cost_usd: 0.5, duration_minutes: 5, max_requests: 3 },
      }),
    );
    expect(smaller.max_cost_usd).toBe(0.5);
    // A lifetime budget under the day ceiling satisfies it: no day budget added.
    expect(smaller.period_budgets).toBeNull();
    const over: [string, Record<string, unknown>][] = [
      ["duration_minutes", { duration_minutes: 61 }],
      ["max_cost_usd", { max_cost_usd: 5.01 }],
      ["max_cost_usd", { max_cost_usd: null }],
      ["max_requests", { max_requests: 101 }],
      ["allowed_models", { allowed_models: ["gpt-4o"] }],
      ["allowed_models", { allowed_models: ["gpt-4o-mini", "*"] }],
      ["period_budgets", { period_budgets: [{ period: "day", max_cost_usd: 2 }] }],
      ["can_mint", { can_mint: true }],
    ];
    for (const [param, body] of over) {
      const r = await asKey(key.key, "/tokens", { method: "POST", body });
      expect(r.status, JSON.stringify(body)).toBe(403);
      const e = await json<{ error: { code: string; param: string } }>(r);
      expect(e.error.code).toBe("ceiling_exceeded");
      expect(e.error.param).toBe(param);
    }
    // A batch is held to the same ceilings.
    const b = await asKey(key.key, "/tokens/batch", { method: "POST", body: { count: 2, max_cost_usd: 6 } });
    expect(b.status).toBe(403);
  });

  it("refuses ceilings with models outside the project's", async () => {
    const project = await createProject({ allowed_models: ["gpt-4o-mini"] });
    const res = await manage("/issuing-keys", {
      method: "POST",
      body: { project_id: project.id, name: "k", ceilings: { allowed_models: ["gpt-4o"] } },
    });
    expect(res.status).toBe(400);
  });
});
