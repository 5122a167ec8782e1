import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { adminCall, login } from "./admin-helpers";
import { call, createProject, createToken, json, MANAGEMENT_TOKEN, manage, uniqueName } from "./helpers";

type ErrorJson = { error: { message: string; type: string; param: string | null; code: string } };

describe("health", () => {
  it("answers /health without auth", async () => {
    const res = await call("/health");
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.status).toBe("ok");
    expect(typeof body.version).toBe("string");
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("reports readiness after touching D1", async () => {
    const res = await call("/health/ready");
    expect(res.status).toBe(200);
    expect((await json<{ checks: Record<string, string> }>(res)).checks.database).toBe("ok");
  });
});

describe("management auth", () => {
  it("refuses a missing or wrong token with 401 and the envelope", async () => {
    for (const headers of [{}, { authorization: "Bearer nope" }, { authorization: "Basic abc" }] as Record<
      string,
      string
    >[]) {
      const res = await call("/manage/projects", { headers });
      expect(res.status).toBe(401);
      expect((await json<ErrorJson>(res)).error.code).toBe("unauthorized");
      expect(res.headers.get("x-should-retry")).toBe("false");
    }
  });

  it("fails closed with 503 when MANAGEMENT_TOKEN is not configured", async () => {
    const req = new Request("http://gateway.test/manage/projects", { headers: { authorization: "Bearer " } });
    const res = await worker.fetch(req, { ...env, MANAGEMENT_TOKEN: "" }, createExecutionContext());
    expect(res.status).toBe(503);
    const body = await json<ErrorJson>(res);
    expect(body.error.code).toBe("management_disabled");
    expect(body.error.message).toContain("MANAGEMENT_TOKEN");
  });

  it("serves the OpenAPI document generated from the schemas", async () => {
    const res = await call("/manage/openapi.json");
    expect(res.status).toBe(200);
    const doc = await json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(res);
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/manage/tokens/{id}");
    expect(JSON.stringify(doc.paths["/manage/tokens"]?.post)).toContain("duration_minutes");
  });
});

describe("projects", () => {
  it("creates, reads, lists, patches and deletes without ever returning the key", async () => {
    const name = uniqueName();
    const created = await manage("/projects", {
      method: "POST",
      body: { name, api_key: "sk-proj-SECRETSECRETSECRET1234", description: "demo" },
    });
    expect(created.status).toBe(201);
    const text = await created.text();
    expect(text).not.toContain("SECRETSECRETSECRET");
    const project = JSON.parse(text);
    expect(project).toMatchObject({
      name,
      base_url: "https://api.openai.com/v1",
      provider: "openai",
      is_active: true,
    });
    expect(project.api_key_hint).toBe("sk-p…1234");

    const got = await json(await manage(`/projects/${project.id}`));
    expect(got.name).toBe(name);

    const patched = await manage(`/projects/${project.id}`, {
      method: "PATCH",
      body: { api_key: "sk-proj-ROTATEDROTATED9999", base_url: "https://llm.example/v1/" },
    });
    const patchedText = await patched.text();
    expect(patched.status).toBe(200);
    expect(patchedText).not.toContain("ROTATED");
    expect(JSON.parse(patchedText)).toMatchObject({
      api_key_hint: "sk-p…9999",
      base_url: "https://llm.example/v1",
    });

    // The key lives with the project's default upstream (issue 13), encrypted the same way.
    const stored = await env.DB.prepare(
      "select k.key_encrypted as api_key_encrypted from upstream_keys k join upstreams u on u.id = k.upstream_id where u.project_id = ?",
    )
      .bind(project.id)
      .first();
    expect(String(stored?.api_key_encrypted)).toMatch(/^v1:/);
    expect(String(stored?.api_key_encrypted)).not.toContain("ROTATED");

    const list = await json<{ data: { id: string }[]; next_cursor: string | null }>(
      await manage("/projects?limit=500"),
    );
    expect(list.data.some((p) => p.id === project.id)).toBe(true);

    expect((await manage(`/projects/${project.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await manage(`/projects/${project.id}`)).status).toBe(404);
  });

  it("paginates with next_cursor", async () => {
    for (let i = 0; i < 3; i++) await createProject();
    const first = await json<{ data: { name: string }[]; next_cursor: string | null }>(
      await manage("/projects?limit=2"),
    );
    expect(first.data).toHaveLength(2);
    expect(first.next_cursor).not.toBeNull();
    const second = await json<{ data: { name: string }[] }>(
      await manage(`/projects?limit=2&cursor=${first.next_cursor}`),
    );
    expect(second.data[0]!.name > first.data[1]!.name).toBe(true);
  });

  it("pages through any Unicode: a page may end on a project named 日本語 or 🦀", async () => {
    const prefix = uniqueName();
    const names = [`${prefix}-a-日本語`, `${prefix}-b-🦀`, `${prefix}-c-é`, `${prefix}-d-Ωμέγα`];
    for (const name of names) await createProject({ name });
    type Page = { data: { name: string }[]; next_cursor: string | null };
    const all = await json<Page>(await manage("/projects?limit=500"));
    const at = all.data.findIndex((p) => p.name === names[0]);
    expect(at).toBeGreaterThanOrEqual(0);
    // The first page ends exactly on 日本語; every following page of one ends on the next name.
    let page = await json<Page>(await manage(`/projects?limit=${at + 1}`));
    expect(page.data.at(-1)!.name).toBe(names[0]);
    for (const expected of names.slice(1)) {
      const res = await manage(`/projects?limit=1&cursor=${page.next_cursor}`);
      expect(res.status).toBe(200);
      page = await json<Page>(res);
      expect(page.data.map((p) => p.name)).toEqual([expected]);
    }
    // The longest name of the widest characters still makes a cursor the API takes back.
    const wide = await createProject({ name: "語".repeat(200) });
    const list = await json<Page>(await manage("/projects?limit=500"));
    const before = list.data.findIndex((p) => p.name === "語".repeat(200));
    const upTo = await json<Page>(await manage(`/projects?limit=${before + 1}`));
    expect(upTo.data.at(-1)!.name).toBe("語".repeat(200));
    expect((await manage(`/projects?limit=1&cursor=${upTo.next_cursor}`)).status).toBe(200);
    await manage(`/projects/${wide.id}`, { method: "DELETE" });
  });

  it("revokes every token of a project in bulk", async () => {
    const project = await createProject();
    await createToken(project.id);
    await createToken(project.id);
    const res = await manage(`/projects/${project.id}/tokens/revoke`, { method: "POST" });
    expect(await json(res)).toEqual({ revoked_count: 2 });
    const again = await manage(`/projects/${project.id}/tokens/revoke`, { method: "POST" });
    expect(await json(again)).toEqual({ revoked_count: 0 });
  });
});

describe("tokens", () => {
  it("shows the secret only at creation and stores only its hash", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { duration_minutes: 30, max_requests: 10, name: "ci" });
    // Issue 10: 32 random characters + a 16-character HMAC (was a 6-character CRC32).
    expect(token.token).toMatch(/^wt_[0-9A-Za-z]{48}$/);
    expect(token.status).toBe("active");
    expect(Date.parse(token.expires_at) - Date.now()).toBeGreaterThan(29 * 60_000);
    expect(token.remaining_requests).toBe(10);

    const got = await (await manage(`/tokens/${token.id}`)).text();
    expect(got).not.toContain(token.token);
    expect(JSON.parse(got).token).toBeUndefined();

    const rows = await env.DB.prepare("select * from tokens where id = ?").bind(token.id).all();
    expect(JSON.stringify(rows.results)).not.toContain(token.token);
  });

  it("lists with filters and revokes by id (idempotent) and by value", async () => {
    const project = await createProject();
    const a = await createToken(project.id, { name: "alpha" });
    const b = await createToken(project.id, { name: "beta" });
    expect((await manage(`/tokens/${a.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await manage(`/tokens/${a.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await manage("/tokens", { method: "DELETE", body: { token: b.token } })).status).toBe(204);

    const revoked = await json<{ data: { id: string; status: string }[] }>(
      await manage(`/tokens?project_id=${project.id}&status=revoked`),
    );
    expect(revoked.data.map((t) => t.id).sort()).toEqual([a.id, b.id].sort());
    const active = await json<{ data: unknown[] }>(
      await manage(`/tokens?project_id=${project.id}&status=active`),
    );
    expect(active.data).toHaveLength(0);
    const search = await json<{ data: { id: string }[] }>(
      await manage(`/tokens?project_id=${project.id}&search=alp`),
    );
    expect(search.data.map((t) => t.id)).toEqual([a.id]);
  });

  it("patches limits and expiry, and refuses to reactivate a revoked token", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    const res = await manage(`/tokens/${token.id}`, {
      method: "PATCH",
      body: { max_requests: 5, rate_limit: { requests: 10, window_seconds: 60 }, duration_minutes: 120 },
    });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ max_requests: 5, rate_limit: [{ requests: 10, window_seconds: 60 }] });
    await manage(`/tokens/${token.id}`, { method: "DELETE" });
    const reactivate = await manage(`/tokens/${token.id}`, { method: "PATCH", body: { is_active: true } });
    expect(reactivate.status).toBe(409);
  });

  it("records management actions in the audit log", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    await manage(`/tokens/${token.id}`, { method: "DELETE" });
    const audit = await json<{
      data: { action: string; target_id: string; result: string; actor: string }[];
    }>(await manage(`/audit?target_id=${token.id}`));
    expect(audit.data.map((a) => a.action)).toEqual(["token.revoke", "token.create"]);
    expect(audit.data.every((a) => a.result === "ok" && a.actor === "management_token")).toBe(true);
  });
});

describe("bad input never answers 500", async () => {
  const project = await createProject();
  const name = project.name;
  const missing = "00000000-0000-4000-8000-000000000000";
  const cases: [
    string,
    string,
    string,
    { body?: unknown; rawBody?: string; headers?: Record<string, string> },
    number,
    string,
  ][] = [
    [
      "invalid JSON",
      "POST",
      "/projects",
      { rawBody: "{nope", headers: { "content-type": "application/json" } },
      400,
      "invalid_json",
    ],
    [
      "wrong content type",
      "POST",
      "/projects",
      { rawBody: "name=x", headers: { "content-type": "text/plain" } },
      415,
      "unsupported_media_type",
    ],
    ["missing fields", "POST", "/projects", { body: {} }, 400, "validation_error"],
    ["mistyped field", "POST", "/projects", { body: { name: 42, api_key: "k" } }, 400, "validation_error"],
    [
      "unknown field",
      "POST",
      "/projects",
      { body: { name: "x", api_key: "k", colour: "red" } },
      400,
      "validation_error",
    ],
    [
      "10 000-character name",
      "POST",
      "/projects",
      { body: { name: "x".repeat(10_000), api_key: "k" } },
      400,
      "validation_error",
    ],
    [
      "bad base_url",
      "POST",
      "/projects",
      { body: { name: "y", api_key: "k", base_url: "ftp://x" } },
      400,
      "validation_error",
    ],
    ["duplicate name", "POST", "/projects", { body: { name, api_key: "k" } }, 409, "conflict"],
    ["malformed UUID", "GET", "/projects/not-a-uuid", {}, 400, "validation_error"],
    ["unknown project", "GET", `/projects/${missing}`, {}, 404, "not_found"],
    ["empty patch", "PATCH", `/projects/${project.id}`, { body: {} }, 400, "validation_error"],
    [
      "duration 0",
      "POST",
      "/tokens",
      { body: { project_id: project.id, duration_minutes: 0 } },
      400,
      "validation_error",
    ],
    [
      "negative duration",
      "POST",
      "/tokens",
      { body: { project_id: project.id, duration_minutes: -5 } },
      400,
      "validation_error",
    ],
    [
      "duration > 525600",
      "POST",
      "/tokens",
      { body: { project_id: project.id, duration_minutes: 525_601 } },
      400,
      "validation_error",
    ],
    [
      "fractional duration",
      "POST",
      "/tokens",
      { body: { project_id: project.id, duration_minutes: 1.5 } },
      400,
      "validation_error",
    ],
    [
      "duration as string",
      "POST",
      "/tokens",
      { body: { project_id: project.id, duration_minutes: "60" } },
      400,
      "validation_error",
    ],
    [
      "both expiries",
      "POST",
      "/tokens",
      { body: { project_id: project.id, duration_minutes: 5, expires_at: "2030-01-01T00:00:00Z" } },
      400,
      "validation_error",
    ],
    [
      "past expires_at",
      "POST",
      "/tokens",
      { body: { project_id: project.id, expires_at: "2000-01-01T00:00:00Z" } },
      400,
      "validation_error",
    ],
    ["unknown project_id", "POST", "/tokens", { body: { project_id: missing } }, 404, "not_found"],
    ["malformed project_id", "POST", "/tokens", { body: { project_id: "123" } }, 400, "validation_error"],
    [
      "negative max_requests",
      "POST",
      "/tokens",
      { body: { project_id: project.id, max_requests: -1 } },
      400,
      "validation_error",
    ],
    ["unknown token", "GET", `/tokens/${missing}`, {}, 404, "not_found"],
    ["malformed token id", "DELETE", "/tokens/xyz", {}, 400, "validation_error"],
    ["revoke unknown value", "DELETE", "/tokens", { body: { token: "wt_nothing" } }, 404, "not_found"],
    ["empty token patch", "PATCH", `/tokens/${missing}`, { body: {} }, 400, "validation_error"],
    ["bad status filter", "GET", "/tokens?status=weird", {}, 400, "validation_error"],
    ["bad cursor", "GET", "/tokens?cursor=%%%", {}, 400, "validation_error"],
    ["bad limit", "GET", "/projects?limit=0", {}, 400, "validation_error"],
    ["unknown route", "GET", "/nothing-here", {}, 404, "not_found"],
    [
      "usage range reversed",
      "GET",
      "/usage?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
      {},
      400,
      "validation_error",
    ],
    [
      "events range reversed",
      "GET",
      "/events?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
      {},
      400,
      "validation_error",
    ],
    [
      "audit range reversed",
      "GET",
      "/audit?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
      {},
      400,
      "validation_error",
    ],
  ];

  it.each(cases)("%s → %s %s", async (_label, method, path, init, status, code) => {
    const res = await manage(path, { method, ...init });
    expect(res.status).toBe(status);
    const body = await json<ErrorJson>(res);
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(10);
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("names the offending field", async () => {
    const res = await manage("/tokens", {
      method: "POST",
      body: { project_id: project.id, duration_minutes: 0 },
    });
    const body = await json<ErrorJson>(res);
    expect(body.error.param).toBe("duration_minutes");
    expect(body.error.message).toContain("duration_minutes");
  });
});

describe("names and labels", () => {
  it.each([
    ["a NUL", "bad\u0000name"],
    ["an escape sequence", "bad\u001b[2Jname"],
    ["a lone surrogate", "bad\ud800name"],
  ])("refuses a project name with %s (400, not stored)", async (_name, name) => {
    const res = await manage("/projects", {
      method: "POST",
      body: { name, api_key: "sk-test-upstream-key-123456" },
    });
    expect(res.status).toBe(400);
    expect((await json<{ error: { param: string } }>(res)).error.param).toBe("name");
  });
});

describe("metadata with a __proto__ key", () => {
  it("is refused with a 400 naming the key (API and admin form), not silently dropped", async () => {
    const project = await createProject();
    const res = await call("/manage/tokens", {
      method: "POST",
      headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, "content-type": "application/json" },
      rawBody: `{"project_id":"${project.id}","metadata":{"team":"ml","__proto__":{"admin":true}}}`,
    });
    expect(res.status).toBe(400);
    const body = await json<{ error: { code: string; message: string } }>(res);
    expect(body.error.code).toBe("validation_error");
    expect(body.error.message).toContain("__proto__");
    const admin = await login();
    const form = await adminCall(
      "/admin/tokens",
      { form: { _csrf: admin.csrf, project_id: project.id, metadata: '{"__proto__": {"x": 1}}' } },
      admin,
    );
    expect(form.status).toBe(400);
    expect(await form.text()).toContain("__proto__");
  });
});
