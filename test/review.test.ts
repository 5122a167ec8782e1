import { createExecutionContext, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hourPrefix } from "../src/admin/events";
import { FREE_ATTEMPTS } from "../src/admin/guard";
import worker from "../src/index";
import { getDb } from "../src/storage/db";
import type { TokenState } from "../src/tokens/durable";
import { loadTokenConfig } from "../src/tokens/repo";
import { hashToken } from "../src/tokens/secret";
import { adminCall, freshIp, login } from "./admin-helpers";
import { BASE, call, createProject, createToken, json, MANAGEMENT_TOKEN, manage } from "./helpers";

// Findings of the hostile review: each test failed before its fix.

describe("admin login throttling under concurrency", () => {
  it("lets no more than the free attempts through when wrong passwords arrive at once", async () => {
    const ip = `198.51.100.${Math.floor(Math.random() * 200) + 1}`;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        adminCall("/admin/login", {
          form: { password: `wrong-${i}` },
          headers: { "cf-connecting-ip": ip },
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(FREE_ATTEMPTS);
    expect(statuses.filter((s) => s === 429)).toHaveLength(40 - FREE_ATTEMPTS);
  });

  it("still logs in with the right password after a few wrong ones", async () => {
    const ip = freshIp();
    const attempt = (password: string) =>
      adminCall("/admin/login", { form: { password, next: "/admin" }, headers: { "cf-connecting-ip": ip } });
    for (let i = 0; i < FREE_ATTEMPTS - 1; i++) expect((await attempt("wrong")).status).toBe(401);
    expect((await attempt("test-admin-password")).status).toBe(303);
    // A success starts the count again.
    for (let i = 0; i < FREE_ATTEMPTS - 1; i++) expect((await attempt("wrong")).status).toBe(401);
  });

  it("counts an IPv6 client by its /64, so rotating addresses within it does not reset the count", async () => {
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`;
    const statuses: number[] = [];
    for (let i = 0; i < FREE_ATTEMPTS + 2; i++) {
      const res = await adminCall("/admin/login", {
        form: { password: "wrong" },
        headers: { "cf-connecting-ip": `${prefix}::${(i + 1).toString(16)}` },
      });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, FREE_ATTEMPTS).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(FREE_ATTEMPTS)).toEqual([429, 429]);
  });
});

describe("revocation is retry-safe", () => {
  /** A used token whose first revoke wrote D1 but whose reload() call failed (the client saw a 500 and retries). */
  async function halfRevoked() {
    const project = await createProject();
    const token = await createToken(project.id);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(token.token)));
    expect((await stub.admit({})).ok).toBe(true);
    await env.DB.prepare("update tokens set is_active = 0, revoked_at = ? where id = ?")
      .bind(Date.now(), token.id)
      .run();
    return { project, token, stub };
  }

  it("a repeated DELETE re-tells the token's object, healing a revoke whose reload was lost", async () => {
    const { token, stub } = await halfRevoked();
    expect((await manage(`/tokens/${token.id}`, { method: "DELETE" })).status).toBe(204);
    const after = await stub.admit({});
    expect(!after.ok && after.code).toBe("token_inactive");
  });

  it("a repeated revoke by value heals the same way", async () => {
    const { token, stub } = await halfRevoked();
    const res = await manage("/tokens", { method: "DELETE", body: { token: token.token } });
    expect(res.status).toBe(204);
    const after = await stub.admit({});
    expect(!after.ok && after.code).toBe("token_inactive");
  });

  it("a repeated bulk revoke of a project heals its used tokens too", async () => {
    const { project, stub } = await halfRevoked();
    const res = await manage(`/projects/${project.id}/tokens/revoke`, { method: "POST" });
    expect(await json(res)).toEqual({ revoked_count: 0 });
    const after = await stub.admit({});
    expect(!after.ok && after.code).toBe("token_inactive");
  });
});

describe("audit of revoke by value", () => {
  it("names the revoked token (by id, never by secret)", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    expect((await manage("/tokens", { method: "DELETE", body: { token: token.token } })).status).toBe(204);
    const audit = await json<{ data: { action: string; target_id: string | null; details: unknown }[] }>(
      await manage(`/audit?target_id=${token.id}`),
    );
    expect(audit.data.map((a) => a.action)).toEqual(["token.revoke_by_value", "token.create"]);
    expect(JSON.stringify(audit.data)).not.toContain(token.token);
  });
});

describe("a missing or broken ENCRYPTION_KEY", () => {
  const post = (key: string | undefined) =>
    worker.fetch(
      new Request(`${BASE}/manage/projects`, {
        method: "POST",
        headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: `enc-${crypto.randomUUID()}`, api_key: "sk-test-upstream-key-123456" }),
      }),
      { ...env, ENCRYPTION_KEY: key as string },
      createExecutionContext(),
    );

  it.each([
    ["unset", undefined],
    ["empty", ""],
    ["too short", "c2hvcnQ="],
    ["not base64", "%%%%"],
  ])("is a clear 503, not a 500 (%s)", async (_name, key) => {
    const res = await post(key);
    expect(res.status).toBe(503);
    const body = await json<{ error: { code: string; message: string } }>(res);
    expect(body.error.code).toBe("encryption_key_invalid");
    expect(body.error.message).toContain("ENCRYPTION_KEY");
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

describe("admin pages and client-controlled event fields", () => {
  it("render model, path, user agent and error of R2 events as text", async () => {
    const admin = await login();
    const p = await createProject();
    const t = await createToken(p.id);
    const XSS = "<img src=x onerror=alert(1)>\"'";
    const ev = {
      id: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      token_id: t.id,
      project_id: p.id,
      method: "POST",
      path: `/v1/chat/completions/${XSS}`,
      status: 400,
      duration_ms: 1,
      ttfb_ms: 1,
      stream: false,
      model: XSS,
      usage: null,
      usage_source: "none",
      cost_usd: null,
      error: XSS,
      aborted: false,
      upstream_request_id: XSS,
      colo: XSS,
      user_agent: XSS,
    };
    await env.EVENTS_BUCKET.put(`${hourPrefix(Date.now())}${crypto.randomUUID()}.jsonl`, JSON.stringify(ev));
    for (const page of [`/admin/events?project_id=${p.id}`, `/admin/tokens/${t.id}`]) {
      const html = await (await adminCall(page, {}, admin)).text();
      expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
      expect(html).not.toContain("<img src=x");
    }
  });
});

describe("admin logout", () => {
  it("ends the session on the server: the old cookie no longer opens a page or the management API", async () => {
    const admin = await login();
    expect((await adminCall("/admin", {}, admin)).status).toBe(200);
    const out = await adminCall("/admin/logout", { form: { _csrf: admin.csrf } }, admin);
    expect(out.status).toBe(303);
    // A copy of the cookie taken before the logout (another tab, a stolen cookie) is now refused.
    const page = await adminCall("/admin", {}, admin);
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toContain("/admin/login");
    const api = await call("/manage/projects", { headers: { cookie: admin.cookie } });
    expect(api.status).toBe(401);
    // Other sessions stay open.
    const other = await login();
    expect((await adminCall("/admin", {}, other)).status).toBe(200);
  });
});

describe("token object: a load racing a revocation", () => {
  it("an alarm that reloads an evicted object's config cannot overwrite a newer revocation", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    const hash = await hashToken(token.token);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(hash));
    expect((await stub.admit({})).ok).toBe(true); // arms the mirror alarm
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // As after an eviction: no config in memory. The alarm's first D1 read is slow (it answers with the
    // row as it was before the revocation, after the revocation's own reload has finished).
    await runInDurableObject(stub, (instance: TokenState) => {
      const obj = instance as unknown as { config: unknown; load: () => Promise<void> };
      const original = obj.load.bind(instance);
      let first = true;
      obj.config = undefined;
      obj.load = async () => {
        if (!first) return original();
        first = false;
        const snapshot = await loadTokenConfig(getDb(env), hash);
        await gate;
        obj.config = snapshot;
      };
    });
    const alarm = runDurableObjectAlarm(stub);
    await new Promise((r) => setTimeout(r, 20));
    const revoke = manage(`/tokens/${token.id}`, { method: "DELETE" });
    await new Promise((r) => setTimeout(r, 100));
    release();
    await alarm;
    expect((await revoke).status).toBe(204);
    const after = await stub.admit({});
    expect(!after.ok && after.code).toBe("token_inactive");
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

describe("project deletion is retry-safe", () => {
  it("a DELETE whose reload call failed can be repeated, and the project's used tokens stop", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(token.token)));
    expect((await stub.admit({})).ok).toBe(true);
    // The token's object fails every call of the first DELETE (an overloaded or restarting object; issue 10
    // pushes the change with `apply` and retries each call, so the fault lasts three calls); RPC finds
    // methods on the prototype, so the patch goes there and is undone below.
    const proto = Object.getPrototypeOf(
      await runInDurableObject(stub, (instance: TokenState) => instance),
    ) as { apply: TokenState["apply"] };
    const original = proto.apply;
    let failures = 3;
    proto.apply = async function (this: TokenState, change) {
      if (failures > 0) {
        failures--;
        throw new Error("object overloaded");
      }
      return original.call(this, change);
    };
    try {
      const first = await manage(`/projects/${project.id}`, { method: "DELETE" });
      // Issue 10: a named 502 (token_objects_unreachable) instead of a bare 500.
      expect(first.status).toBe(502);
      const second = await manage(`/projects/${project.id}`, { method: "DELETE" });
      expect(second.status, await second.clone().text()).toBe(204);
    } finally {
      proto.apply = original;
    }
    const after = await stub.admit({});
    expect(after.ok).toBe(false);
  });
});
