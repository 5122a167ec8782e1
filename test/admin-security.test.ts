import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FREE_ATTEMPTS } from "../src/admin/guard";
import { partitionOf } from "../src/usage/consumer";
import { adminCall, freshIp, login } from "./admin-helpers";
import { call, createProject, createToken } from "./helpers";

// The admin pages against someone guessing passwords, reusing a cookie, or writing HTML into an event.

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
    await env.EVENTS_BUCKET.put(`${partitionOf(Date.now())}${crypto.randomUUID()}.jsonl`, JSON.stringify(ev));
    for (const page of [`/admin/events?project_id=${p.id}`, `/admin/tokens/${t.id}`]) {
      const html = await (await adminCall(page, {}, admin)).text();
      expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
      expect(html).not.toContain("<img src=x");
    }
  });
});
