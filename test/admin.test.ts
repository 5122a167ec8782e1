import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hourPrefix } from "../src/admin/events";
import { lockMs } from "../src/admin/guard";
import worker from "../src/index";
import { getDb } from "../src/storage/db";
import { usageHourly } from "../src/storage/schema";
import {
  ADMIN_PASSWORD,
  type Admin,
  adminCall,
  adminPost,
  cookieOf,
  csrfIn,
  freshIp,
  login,
} from "./admin-helpers";
import { BASE, createProject, createToken, json, manage, uniqueName } from "./helpers";
import { mockProjectToken, proxy } from "./support/proxy";

const XSS = "<img src=x onerror=alert(1)>";

async function newProject(admin: Admin, name = uniqueName()): Promise<string> {
  const res = await adminPost(admin, "/admin/projects", {
    name,
    api_key: "sk-upstream-secret-abcd1234",
    provider: "openai",
  });
  expect(res.status).toBe(303);
  return /\/admin\/projects\/([0-9a-f-]{36})/.exec(res.headers.get("location") ?? "")![1]!;
}

describe("admin login and session", () => {
  it("redirects every page to the login when logged out", async () => {
    for (const path of [
      "/admin",
      "/admin/projects",
      "/admin/tokens?status=active",
      "/admin/events",
      "/admin/audit",
    ]) {
      const res = await adminCall(path);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe(`/admin/login?next=${encodeURIComponent(path)}`);
    }
    const post = await adminCall("/admin/projects", { form: { name: "x", api_key: "y" } });
    expect(post.status).toBe(401);
  });

  it("logs in with the password and sets a strict session cookie", async () => {
    const page = await adminCall("/admin/login");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<label for="f-password">');
    const res = await adminCall("/admin/login", {
      form: { password: ADMIN_PASSWORD, next: "/admin/tokens" },
      headers: { "cf-connecting-ip": freshIp() },
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/tokens");
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^__Host-llmproxy_admin=ey/);
    for (const flag of ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=43200"])
      expect(cookie).toContain(flag);
    const dash = await adminCall("/admin", {}, { cookie: cookieOf(res), csrf: "" });
    expect(dash.status).toBe(200);
    expect(dash.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(dash.headers.get("cache-control")).toBe("no-store");
  });

  it("refuses a wrong password, an off-site login form and an open redirect", async () => {
    const ip = freshIp();
    const wrong = await adminCall("/admin/login", {
      form: { password: "nope" },
      headers: { "cf-connecting-ip": ip },
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("Wrong password.");
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const offSite = await adminCall("/admin/login", {
      form: { password: ADMIN_PASSWORD },
      headers: { origin: "https://evil.example", "cf-connecting-ip": freshIp() },
    });
    expect(offSite.status).toBe(403);
    const redirect = await adminCall("/admin/login", {
      form: { password: ADMIN_PASSWORD, next: "//evil.example/admin" },
      headers: { "cf-connecting-ip": freshIp() },
    });
    expect(redirect.headers.get("location")).toBe("/admin");
  });

  it("slows down repeated wrong passwords per client, even with the right password", async () => {
    expect(lockMs(4)).toBe(0);
    expect(lockMs(5)).toBe(2000);
    expect(lockMs(50)).toBe(15 * 60_000);
    const ip = freshIp();
    const attempt = (password: string) =>
      adminCall("/admin/login", { form: { password }, headers: { "cf-connecting-ip": ip } });
    for (let i = 0; i < 4; i++) expect((await attempt("wrong")).status).toBe(401);
    const fifth = await attempt("wrong");
    expect(await fifth.text()).toContain("locked for 2 s");
    const locked = await attempt(ADMIN_PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.headers.get("retry-after")).toBe("2");
    expect(await locked.text()).toContain("Too many wrong passwords");
    // Another client is not affected.
    expect(
      (
        await adminCall("/admin/login", {
          form: { password: ADMIN_PASSWORD },
          headers: { "cf-connecting-ip": freshIp() },
        })
      ).status,
    ).toBe(303);
  });

  it("fails closed when ADMIN_PASSWORD is not configured", async () => {
    const res = await worker.fetch(
      new Request(`${BASE}/admin/login`),
      { ...env, ADMIN_PASSWORD: "" },
      createExecutionContext(),
    );
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("ADMIN_PASSWORD secret is not configured");
    const post = await worker.fetch(
      new Request(`${BASE}/admin/login`, {
        method: "POST",
        headers: { origin: BASE, "content-type": "application/x-www-form-urlencoded" },
        body: "password=",
      }),
      { ...env, ADMIN_PASSWORD: "" },
      createExecutionContext(),
    );
    expect(post.status).toBe(503);
  });

  it("rejects a tampered or foreign session and logs out", async () => {
    const admin = await login();
    const [h, p] = admin.cookie.split("=")[1]!.split(".");
    const forged = `__Host-llmproxy_admin=${h}.${p}.AAAA`;
    expect((await adminCall("/admin", {}, { cookie: forged, csrf: "" })).status).toBe(303);
    const out = await adminPost(admin, "/admin/logout");
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/admin/login?msg=logged_out");
    expect(out.headers.get("set-cookie")).toMatch(/__Host-llmproxy_admin=;.*Max-Age=0/);
  });
});

describe("admin CSRF", () => {
  it("refuses a change without the CSRF token or from another origin", async () => {
    const admin = await login();
    const name = uniqueName("csrf");
    const noToken = await adminCall("/admin/projects", { form: { name, api_key: "k" } }, admin);
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).toContain("CSRF check failed");
    const otherOrigin = await adminCall(
      "/admin/projects",
      { form: { _csrf: admin.csrf, name, api_key: "k" }, headers: { origin: "https://evil.example" } },
      admin,
    );
    expect(otherOrigin.status).toBe(403);
    const list = await json<{ data: { name: string }[] }>(await manage("/projects?limit=500"));
    expect(list.data.some((p) => p.name === name)).toBe(false);
  });

  it("lets the session use the management API, changes only with x-csrf-token", async () => {
    const admin = await login();
    const list = await adminCall("/manage/projects", {}, admin);
    expect(list.status).toBe(200);
    const body = JSON.stringify({ name: uniqueName("api"), api_key: "sk-x-12345678" });
    const headers = { cookie: admin.cookie, "content-type": "application/json", origin: BASE };
    const refused = await adminCall("/manage/projects", { method: "POST", headers });
    expect(refused.status).toBe(403);
    expect((await json<{ error: { code: string } }>(refused)).error.code).toBe("csrf_failed");
    const made = await worker.fetch(
      new Request(`${BASE}/manage/projects`, {
        method: "POST",
        headers: { ...headers, "x-csrf-token": admin.csrf },
        body,
      }),
      env,
      createExecutionContext(),
    );
    expect(made.status).toBe(201);
    const id = (await json<{ id: string }>(made)).id;
    const audit = await json<{ data: { actor: string; action: string }[] }>(
      await manage(`/audit?target_id=${id}`),
    );
    expect(audit.data[0]).toMatchObject({ actor: "admin", action: "project.create" });
  });
});

describe("admin projects", () => {
  it("escapes what a user typed (the XSS probe)", async () => {
    const admin = await login();
    const name = `${XSS}-${uniqueName()}`;
    const id = await newProject(admin, name);
    for (const path of [
      `/admin/projects/${id}`,
      "/admin/projects",
      `/admin/projects/${id}/delete`,
      "/admin/tokens/new",
    ]) {
      const html = await (await adminCall(path, {}, admin)).text();
      expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
      expect(html).not.toContain("<img src=x");
    }
  });

  it("shows field errors and the API's message, never echoes the key", async () => {
    const admin = await login();
    const res = await adminPost(admin, "/admin/projects", {
      name: "ok-name",
      api_key: "sk-never-echo-this",
      base_url: "ftp://nope",
      metadata: "{not json",
    });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain("Invalid metadata: not valid JSON");
    expect(html).not.toContain("sk-never-echo-this");
    expect(html).toContain('value="ok-name"');
  });

  it("edits, deactivates, rotates the key (hint only) and deletes with a count of tokens", async () => {
    const admin = await login();
    const id = await newProject(admin);
    await createToken(id);
    await createToken(id);
    expect(
      (
        await adminPost(admin, `/admin/projects/${id}`, {
          name: uniqueName("renamed"),
          provider: "openai",
          base_url: "https://example.com/v1",
          // Another host: the key for it goes with the move (issue 11).
          api_key: "sk-example-host-key-1234",
        })
      ).status,
    ).toBe(303);
    expect((await adminPost(admin, `/admin/projects/${id}/active`, { active: "false" })).status).toBe(303);
    expect((await json<{ is_active: boolean }>(await manage(`/projects/${id}`))).is_active).toBe(false);
    expect(
      (await adminPost(admin, `/admin/projects/${id}/key`, { api_key: "sk-rotated-key-WXYZ" })).status,
    ).toBe(303);
    const page = await (await adminCall(`/admin/projects/${id}`, {}, admin)).text();
    expect(page).toContain("sk-r…WXYZ");
    expect(page).not.toContain("sk-rotated-key-WXYZ");
    const confirm = await (await adminCall(`/admin/projects/${id}/delete`, {}, admin)).text();
    expect(confirm).toContain("2 active tokens");
    expect((await adminPost(admin, `/admin/projects/${id}/delete`)).headers.get("location")).toBe(
      "/admin/projects?msg=project_deleted",
    );
    expect((await manage(`/projects/${id}`)).status).toBe(404);
  });

  it("revokes all tokens of a project after a confirmation", async () => {
    const admin = await login();
    const p = await createProject();
    const t = await createToken(p.id);
    const confirm = await (await adminCall(`/admin/projects/${p.id}/revoke-tokens`, {}, admin)).text();
    expect(confirm).toContain("1 active token");
    expect((await adminPost(admin, `/admin/projects/${p.id}/revoke-tokens`)).status).toBe(303);
    expect((await json<{ status: string }>(await manage(`/tokens/${t.id}`))).status).toBe("revoked");
  });
});

/** The redirect after a token create, followed as a browser would: the session plus the cookie it set. */
async function followCreated(admin: Admin, res: Response) {
  expect(res.status).toBe(303);
  const location = res.headers.get("location") ?? "";
  const id = /^\/admin\/tokens\/([0-9a-f-]{36})\/created$/.exec(location)?.[1];
  expect(id).toBeDefined();
  const carried = cookieOf(res);
  const page = await adminCall(location, {}, { ...admin, cookie: `${admin.cookie}; ${carried}` });
  expect(page.status).toBe(200);
  return { id: id!, location, carried, html: await page.text(), page };
}

describe("admin tokens", () => {
  it("creates a token with every option and shows the secret once", async () => {
    const admin = await login();
    const p = await createProject();
    const res = await adminPost(admin, "/admin/tokens", {
      project_id: p.id,
      name: "notebook",
      duration_minutes: "90",
      max_requests: "10",
      rate_requests_1: "5",
      rate_window_1: "60",
      rate_requests_2: "100",
      rate_window_2: "3600",
      max_tokens: "5000",
      max_cost_usd: "1.5",
      allowed_models: "gpt-4o-mini, gpt-4o",
      metadata: '{"user": "alice"}',
    });
    const { id, html } = await followCreated(admin, res);
    const secret = /data-testid="token-secret">(wt_[0-9A-Za-z]+)</.exec(html)?.[1];
    expect(secret).toMatch(/^wt_/);
    expect(html).toContain(`OPENAI_BASE_URL=${BASE}/v1`);
    expect(html).toContain(`OPENAI_API_KEY=${secret}`);
    expect(res.headers.get("location")).not.toContain(secret!);
    expect(res.headers.get("set-cookie")).not.toContain(secret!);
    const t = await json<Record<string, unknown>>(await manage(`/tokens/${id}`));
    expect(t).toMatchObject({
      name: "notebook",
      max_requests: 10,
      rate_limit: [
        { requests: 5, window_seconds: 60 },
        { requests: 100, window_seconds: 3600 },
      ],
      max_tokens: 5000,
      max_cost_usd: 1.5,
      allowed_models: ["gpt-4o-mini", "gpt-4o"],
      metadata: { user: "alice" },
    });
    const detail = await (await adminCall(`/admin/tokens/${id}`, {}, admin)).text();
    expect(detail).not.toContain(secret!);
    expect(detail).toContain("5 per 60 s");
  });

  it("POST → redirect → GET: a reload shows no secret and creates no second token", async () => {
    const admin = await login();
    const p = await createProject();
    const res = await adminPost(admin, "/admin/tokens", {
      project_id: p.id,
      name: "once",
      duration_minutes: "60",
    });
    const { id, location, carried, html, page } = await followCreated(admin, res);
    const secret = /data-testid="token-secret">(wt_[0-9A-Za-z]+)</.exec(html)?.[1];
    expect(secret).toMatch(/^wt_/);
    // The page that showed it deletes the cookie that carried it.
    expect(page.headers.get("set-cookie")).toMatch(/^__Host-llmproxy_new_[0-9a-f-]{36}=;.*Max-Age=0/);
    expect(page.headers.get("cache-control")).toBe("no-store");
    // A reload (the browser no longer has the cookie): the page again, without the secret.
    const reload = await adminCall(location, {}, admin);
    expect(reload.status).toBe(200);
    const again = await reload.text();
    expect(again).not.toContain(secret!);
    expect(again).toContain("was shown once");
    // The carried cookie replayed in another session, or altered, shows nothing either.
    const other = await login();
    const replay = await adminCall(location, {}, { ...other, cookie: `${other.cookie}; ${carried}` });
    expect(await replay.text()).not.toContain(secret!);
    // A character in the middle: the last one of base64url may carry only padding bits (no change at all).
    const at = carried.indexOf("=") + Math.floor((carried.length - carried.indexOf("=")) / 2);
    const tampered = carried.slice(0, at) + (carried[at] === "A" ? "B" : "A") + carried.slice(at + 1);
    const forged = await adminCall(location, {}, { ...admin, cookie: `${admin.cookie}; ${tampered}` });
    expect(await forged.text()).not.toContain(secret!);
    // One token, whatever was reloaded.
    const list = await json<{ data: { id: string }[] }>(await manage(`/tokens?project_id=${p.id}`));
    expect(list.data.map((t) => t.id)).toEqual([id]);
  });

  it("takes an expiry typed as UTC date and time instead of a duration", async () => {
    const admin = await login();
    const p = await createProject();
    const at = new Date(Date.now() + 2 * 3_600_000).toISOString().slice(0, 16);
    const res = await adminPost(admin, "/admin/tokens", {
      project_id: p.id,
      duration_minutes: "",
      expires_at: at,
    });
    const { id } = await followCreated(admin, res);
    const t = await json<{ expires_at: string }>(await manage(`/tokens/${id}`));
    expect(t.expires_at).toBe(`${at}:00.000Z`);
  });

  it("explains invalid input in the form", async () => {
    const admin = await login();
    const p = await createProject();
    const res = await adminPost(admin, "/admin/tokens", { project_id: p.id, duration_minutes: "999999" });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("must be at most 525600 minutes");
  });

  it("filters the list and revokes with a confirmation", async () => {
    const admin = await login();
    const p = await createProject();
    const a = await createToken(p.id, { name: `findme-${XSS}` });
    await createToken(p.id, { name: "other" });
    const list = await (
      await adminCall(`/admin/tokens?project_id=${p.id}&search=findme&status=`, {}, admin)
    ).text();
    expect(list).toContain("findme-&lt;img");
    expect(list).not.toContain(">other<");
    const confirm = await (await adminCall(`/admin/tokens/${a.id}/revoke`, {}, admin)).text();
    expect(confirm).toContain(p.name);
    expect((await adminPost(admin, `/admin/tokens/${a.id}/revoke`)).status).toBe(303);
    const revoked = await (
      await adminCall(`/admin/tokens?project_id=${p.id}&status=revoked`, {}, admin)
    ).text();
    expect(revoked).toContain("findme-");
    const bad = await adminCall("/admin/tokens?status=bogus", {}, admin);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("Invalid filters");
  });
});

type AuditRow = { actor: string; action: string; result: string; details: { fields?: string[] } | null };
const lastAudit = async (id: string) =>
  (await json<{ data: AuditRow[] }>(await manage(`/audit?target_id=${id}`))).data[0];
const chat = (token: string) =>
  proxy("/chat/completions", {
    token,
    json: { model: "gpt-4o-mini", max_tokens: 20, messages: [{ role: "user", content: "Hi" }] },
  });

describe("admin token edit and live allowance", () => {
  it("edits every field of a token through the API's rules, audited with what changed", async () => {
    const admin = await login();
    const p = await createProject();
    const t = await createToken(p.id, { name: `before-${XSS}`, max_requests: 5 });
    const edit = await (await adminCall(`/admin/tokens/${t.id}/edit`, {}, admin)).text();
    expect(edit).toContain('name="_csrf"');
    expect(edit).toContain("before-&lt;img src=x");
    expect(edit).not.toContain("<img src=x");
    expect(edit).toMatch(/id="f-max_requests"[^>]*value="5"/);
    const res = await adminPost(admin, `/admin/tokens/${t.id}`, {
      name: "after",
      is_active: "true",
      duration_minutes: "30",
      max_requests: "",
      rate_requests_1: "10",
      rate_window_1: "60",
      rate_requests_2: "1000",
      rate_window_2: "86400",
      max_tokens: "9000",
      max_cost_usd: "2.5",
      allowed_models: "gpt-4o-mini\ngpt-4o",
      metadata: '{"team": "ml"}',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/admin/tokens/${t.id}?msg=token_saved`);
    const after = await json<Record<string, unknown> & { expires_at: string }>(
      await manage(`/tokens/${t.id}`),
    );
    expect(after).toMatchObject({
      name: "after",
      max_requests: null,
      rate_limit: [
        { requests: 10, window_seconds: 60 },
        { requests: 1000, window_seconds: 86400 },
      ],
      max_tokens: 9000,
      max_cost_usd: 2.5,
      allowed_models: ["gpt-4o-mini", "gpt-4o"],
      metadata: { team: "ml" },
      is_active: true,
    });
    expect(Math.abs(Date.parse(after.expires_at) - (Date.now() + 30 * 60_000))).toBeLessThan(60_000);
    const audit = await lastAudit(t.id);
    expect(audit).toMatchObject({ actor: "admin", action: "token.update", result: "ok" });
    expect(audit?.details?.fields?.sort()).toEqual(
      [
        "allowed_models",
        "duration_minutes",
        "max_cost_usd",
        "max_requests",
        "max_tokens",
        "metadata",
        "name",
        "rate_limit",
      ].sort(),
    );

    // The form as the edit page fills it changes nothing; an expiry typed as UTC date is taken.
    const refilled = await (await adminCall(`/admin/tokens/${t.id}/edit`, {}, admin)).text();
    expect(refilled).toMatch(/id="f-rate_window_2"[^>]*value="86400"/);
    const same = {
      name: "after",
      is_active: "true",
      rate_requests_1: "10",
      rate_window_1: "60",
      rate_requests_2: "1000",
      rate_window_2: "86400",
      max_tokens: "9000",
      max_cost_usd: "2.5",
      allowed_models: "gpt-4o-mini\ngpt-4o",
      metadata: '{\n  "team": "ml"\n}',
    };
    const unchanged = await adminPost(admin, `/admin/tokens/${t.id}`, same);
    expect(unchanged.headers.get("location")).toBe(`/admin/tokens/${t.id}?msg=token_unchanged`);
    const at = new Date(Date.now() + 5 * 3_600_000).toISOString().slice(0, 16);
    expect((await adminPost(admin, `/admin/tokens/${t.id}`, { ...same, expires_at: at })).status).toBe(303);
    expect((await json<{ expires_at: string }>(await manage(`/tokens/${t.id}`))).expires_at).toBe(
      `${at}:00.000Z`,
    );
  });

  it("explains invalid input with the API's messages and keeps what was typed", async () => {
    const admin = await login();
    const p = await createProject();
    const t = await createToken(p.id, { name: "keep-me" });
    const api = await json<{ error: { fields: { path: string; message: string }[] } }>(
      await manage(`/tokens/${t.id}`, { method: "PATCH", body: { max_requests: 0 } }),
    );
    const res = await adminPost(admin, `/admin/tokens/${t.id}`, {
      name: "typed-name",
      max_requests: "0",
      metadata: '{"a": 1}',
    });
    expect(res.status).toBe(400);
    const html = await res.text();
    // The page shows the very message the API gives (HTML-escaped).
    const message = api.error.fields[0]!.message.replaceAll(">", "&gt;");
    expect(html).toContain(`Invalid form: max_requests: ${message}`);
    expect(html).toMatch(/id="f-max_requests"[^>]*aria-invalid="true"/);
    expect(html).toContain('value="typed-name"');
    const both = await adminPost(admin, `/admin/tokens/${t.id}`, {
      duration_minutes: "60",
      expires_at: "2030-01-01T00:00",
    });
    expect(await both.text()).toContain("give either duration_minutes or expires_at, not both");
    const past = await adminPost(admin, `/admin/tokens/${t.id}`, { expires_at: "2001-01-01T00:00" });
    expect(past.status).toBe(400);
    expect(await past.text()).toContain("expires_at must be in the future.");
    expect((await json<{ name: string }>(await manage(`/tokens/${t.id}`))).name).toBe("keep-me");
  });

  it("refuses an edit or a deactivation without the CSRF token", async () => {
    const admin = await login();
    const p = await createProject();
    const t = await createToken(p.id, { name: "untouched" });
    const edit = await adminCall(`/admin/tokens/${t.id}`, { form: { name: "forged" } }, admin);
    expect(edit.status).toBe(403);
    const off = await adminCall(`/admin/tokens/${t.id}/active`, { form: { active: "false" } }, admin);
    expect(off.status).toBe(403);
    const other = await adminCall(
      `/admin/tokens/${t.id}`,
      { form: { _csrf: admin.csrf, name: "forged" }, headers: { origin: "https://evil.example" } },
      admin,
    );
    expect(other.status).toBe(403);
    expect(await json(await manage(`/tokens/${t.id}`))).toMatchObject({ name: "untouched", is_active: true });
  });

  it("deactivates and reactivates from the detail page; a revoked token stays revoked", async () => {
    const admin = await login();
    const p = await createProject();
    const t = await createToken(p.id);
    const off = await adminPost(admin, `/admin/tokens/${t.id}/active`, { active: "false" });
    expect(off.headers.get("location")).toBe(`/admin/tokens/${t.id}?msg=token_deactivated`);
    expect((await json<{ status: string }>(await manage(`/tokens/${t.id}`))).status).toBe("inactive");
    const page = await (await adminCall(`/admin/tokens/${t.id}?msg=token_deactivated`, {}, admin)).text();
    expect(page).toContain("Token deactivated");
    expect(page).toContain(">Reactivate</button>");
    expect((await adminPost(admin, `/admin/tokens/${t.id}/active`, { active: "true" })).status).toBe(303);
    expect((await json<{ status: string }>(await manage(`/tokens/${t.id}`))).status).toBe("active");
    await manage(`/tokens/${t.id}`, { method: "DELETE" });
    const again = await adminPost(admin, `/admin/tokens/${t.id}/active`, { active: "true" });
    expect(again.status).toBe(409);
    expect(await again.text()).toContain("A revoked token cannot be reactivated");
    const edit = await (await adminCall(`/admin/tokens/${t.id}/edit`, {}, admin)).text();
    expect(edit).toContain("This token is revoked");
    expect(edit).not.toContain('name="is_active"');
  });

  it("shows the live allowance of the token and of its project's caps", async () => {
    const admin = await login();
    const { project, token } = await mockProjectToken(
      { max_requests: 10, rate_limit: { requests: 5, window_seconds: 60 }, max_tokens: 100_000 },
      { max_requests: 1000 },
    );
    const before = await (await adminCall(`/admin/tokens/${token.id}`, {}, admin)).text();
    expect(before).toContain("No live counters yet");
    expect((await chat(token.token)).status).toBe(200);
    const api = await json<{ allowance: { requests: { used: number }; windows: { remaining: number }[] } }>(
      await manage(`/tokens/${token.id}`),
    );
    expect(api.allowance.requests.used).toBe(1);
    const html = await (await adminCall(`/admin/tokens/${token.id}`, {}, admin)).text();
    const card = html.slice(html.indexOf('data-testid="allowance"'));
    expect(card).toContain("Live allowance");
    expect(card).toMatch(
      /<th scope="row">Requests<\/th><td class="num">1<\/td><td class="num">—<\/td><td class="num">9<\/td><td class="num">10<\/td>/,
    );
    expect(card).toMatch(/5 per 60 s<\/td><td class="num">1<\/td><td class="num">4<\/td>/);
    expect(card).toContain("Project-wide caps");
    expect(card).toMatch(
      /Requests<\/th><td class="num">1<\/td><td class="num">—<\/td><td class="num">999<\/td><td class="num">1,000<\/td>/,
    );
    const projectPage = await (await adminCall(`/admin/projects/${project.id}`, {}, admin)).text();
    const caps = projectPage.slice(projectPage.indexOf('data-testid="project-caps"'));
    expect(caps).toMatch(
      /Requests<\/th><td class="num">1<\/td><td class="num">—<\/td><td class="num">999<\/td>/,
    );
  });
});

describe("admin project endpoints and object scope", () => {
  it("enables account-wide capabilities with checkboxes, widens the object scope, and shows both", async () => {
    const admin = await login();
    const name = uniqueName("caps");
    const res = await adminPost(admin, "/admin/projects", {
      name,
      api_key: "sk-upstream-secret-abcd1234",
      provider: "openai",
      cap_files: "on",
      cap_batches: "on",
    });
    expect(res.status).toBe(303);
    const id = /\/admin\/projects\/([0-9a-f-]{36})/.exec(res.headers.get("location") ?? "")![1]!;
    expect(await json(await manage(`/projects/${id}`))).toMatchObject({
      capabilities: ["files", "batches"],
      object_scope: "token",
    });
    const edit = await (await adminCall(`/admin/projects/${id}/edit`, {}, admin)).text();
    expect(edit).toMatch(/name="cap_files" checked/);
    expect(edit).not.toMatch(/name="cap_vector_stores" checked/);
    const saved = await adminPost(admin, `/admin/projects/${id}`, {
      name,
      provider: "openai",
      base_url: "https://api.openai.com/v1",
      cap_vector_stores: "on",
      object_scope: "project",
    });
    expect(saved.headers.get("location")).toBe(`/admin/projects/${id}?msg=project_saved`);
    expect(await json(await manage(`/projects/${id}`))).toMatchObject({
      capabilities: ["vector_stores"],
      object_scope: "project",
    });
    const page = await (await adminCall(`/admin/projects/${id}`, {}, admin)).text();
    expect(page).toContain("vector_stores");
    expect(page).toContain("every token of the project");
    const bad = await adminPost(admin, `/admin/projects/${id}`, {
      name,
      provider: "openai",
      object_scope: "world",
    });
    expect(bad.status).toBe(400);
  });
});

describe("admin project caps and token defaults", () => {
  it("creates and edits a project with caps, models, origins and defaults for new tokens", async () => {
    const admin = await login();
    const name = uniqueName("caps");
    const res = await adminPost(admin, "/admin/projects", {
      name,
      api_key: "sk-upstream-secret-abcd1234",
      provider: "openai",
      max_requests: "1000",
      max_cost_usd: "25",
      allowed_models: "gpt-4o-mini, gpt-4o*",
      allowed_origins: "https://app.example.com",
      td_duration_minutes: "1440",
      td_max_requests: "50",
      td_rate_requests_1: "10",
      td_rate_window_1: "60",
      td_allowed_models: "gpt-4o-mini",
    });
    expect(res.status).toBe(303);
    const id = /\/admin\/projects\/([0-9a-f-]{36})/.exec(res.headers.get("location") ?? "")![1]!;
    expect(await json(await manage(`/projects/${id}`))).toMatchObject({
      max_requests: 1000,
      max_tokens: null,
      max_cost_usd: 25,
      allowed_models: ["gpt-4o-mini", "gpt-4o*"],
      allowed_origins: ["https://app.example.com"],
      token_defaults: {
        duration_minutes: 1440,
        max_requests: 50,
        rate_limit: [{ requests: 10, window_seconds: 60 }],
        allowed_models: ["gpt-4o-mini"],
      },
    });
    const t = await createToken(id);
    expect(await json(await manage(`/tokens/${t.id}`))).toMatchObject({
      max_requests: 50,
      rate_limit: [{ requests: 10, window_seconds: 60 }],
    });
    const page = await (await adminCall(`/admin/projects/${id}`, {}, admin)).text();
    expect(page).toContain("1,440 minutes");
    expect(page).toContain("No token of the project was used yet");

    const edit = await (await adminCall(`/admin/projects/${id}/edit`, {}, admin)).text();
    expect(edit).toMatch(/id="f-td_duration_minutes"[^>]*value="1440"/);
    expect(edit).toMatch(/id="f-td_rate_window_1"[^>]*value="60"/);
    expect(edit).toMatch(/id="f-max_cost_usd"[^>]*value="25"/);
    const saved = await adminPost(admin, `/admin/projects/${id}`, {
      name,
      provider: "openai",
      base_url: "https://api.openai.com/v1",
      max_requests: "",
      max_tokens: "500000",
      max_cost_usd: "25",
      allowed_models: "gpt-4o-mini, gpt-4o*",
      allowed_origins: "https://app.example.com",
      td_max_requests: "20",
    });
    expect(saved.headers.get("location")).toBe(`/admin/projects/${id}?msg=project_saved`);
    expect(await json(await manage(`/projects/${id}`))).toMatchObject({
      max_requests: null,
      max_tokens: 500_000,
      max_cost_usd: 25,
      token_defaults: { max_requests: 20 },
    });
    expect((await lastAudit(id))?.details?.fields?.sort()).toEqual([
      "max_requests",
      "max_tokens",
      "token_defaults",
    ]);
  });

  it("shows the API's messages beside the caps and defaults that caused them", async () => {
    const admin = await login();
    const id = await newProject(admin);
    const res = await adminPost(admin, `/admin/projects/${id}`, {
      name: uniqueName(),
      provider: "openai",
      max_requests: "0",
      allowed_origins: "ftp://files.example.com",
      td_max_requests: "0",
      td_duration_minutes: "999999",
    });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain("Invalid form: ");
    expect(html).toContain("token_defaults.duration_minutes: ");
    expect(html).toMatch(/id="e-td_max_requests"/);
    expect(html).toMatch(/id="e-td_duration_minutes"/);
    expect(html).toMatch(/id="e-max_requests"/);
    expect(html).toContain("or an origin like https://app.example.com");
    expect(html).toMatch(/id="f-td_duration_minutes"[^>]*value="999999"/);
  });

  it("refuses a caps change without the CSRF token", async () => {
    const admin = await login();
    const id = await newProject(admin);
    const res = await adminCall(
      `/admin/projects/${id}`,
      { form: { name: uniqueName(), provider: "openai", max_requests: "1" } },
      admin,
    );
    expect(res.status).toBe(403);
    expect((await json<{ max_requests: number | null }>(await manage(`/projects/${id}`))).max_requests).toBe(
      null,
    );
  });
});

describe("admin dashboard and logs", () => {
  it("charts the usage rollups and names the top project", async () => {
    const admin = await login();
    const p = await createProject({ name: uniqueName("busy") });
    const t = await createToken(p.id, { name: "dash-token" });
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    await getDb(env)
      .insert(usageHourly)
      .values([
        {
          hour,
          projectId: p.id,
          tokenId: t.id,
          model: "gpt-4o-mini",
          requests: 900_000,
          errors: 9000,
          promptTokens: 100,
          completionTokens: 50,
          costUsd: 0.5,
        },
        {
          hour: hour - 3_600_000,
          projectId: p.id,
          tokenId: t.id,
          model: "gpt-4o-mini",
          requests: 100_000,
          errors: 0,
          promptTokens: 10,
          completionTokens: 5,
          costUsd: 0.25,
        },
      ]);
    const html = await (await adminCall("/admin?range=day", {}, admin)).text();
    expect(html).toContain(p.name);
    expect(html).toContain("dash-token");
    expect(html).toContain("gpt-4o-mini");
    expect(html).toContain("<svg");
    const hourPage = await (await adminCall("/admin?range=hour", {}, admin)).text();
    expect(hourPage).toContain('aria-current="true">Last hour');
    const tokenPage = await (await adminCall(`/admin/tokens/${t.id}?range=month`, {}, admin)).text();
    expect(tokenPage).toContain("Requests: 1.0M in total");
  });

  it("reads recent requests from the R2 log with filters", async () => {
    const admin = await login();
    const p = await createProject();
    const t = await createToken(p.id);
    const ev = (id: string, status: number) => ({
      id,
      timestamp: new Date().toISOString(),
      token_id: t.id,
      project_id: p.id,
      method: "POST",
      path: "/v1/chat/completions",
      status,
      duration_ms: 120,
      ttfb_ms: 80,
      stream: false,
      model: "gpt-4o-mini",
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
      usage_source: "upstream",
      cost_usd: 0.0001,
      error: status >= 400 ? "upstream_error" : null,
      aborted: false,
      upstream_request_id: null,
      colo: null,
      user_agent: null,
    });
    const id1 = crypto.randomUUID();
    const id2 = crypto.randomUUID();
    await env.EVENTS_BUCKET.put(
      `${hourPrefix(Date.now())}${crypto.randomUUID()}.jsonl`,
      `${JSON.stringify(ev(id1, 200))}\nnot json\n${JSON.stringify(ev(id2, 502))}\n`,
    );
    const all = await (await adminCall(`/admin/events?project_id=${p.id}`, {}, admin)).text();
    expect(all).toContain("upstream_error");
    expect(all.match(/\/v1\/chat\/completions/g)).toHaveLength(2);
    const errors = await (await adminCall(`/admin/events?project_id=${p.id}&outcome=ok`, {}, admin)).text();
    expect(errors.match(/\/v1\/chat\/completions/g)).toHaveLength(1);
    const detail = await (await adminCall(`/admin/tokens/${t.id}`, {}, admin)).text();
    expect(detail).toContain("upstream_error");
  });

  it("lists management actions in the audit log", async () => {
    const admin = await login();
    const id = await newProject(admin);
    const html = await (await adminCall(`/admin/audit?target_id=${id}`, {}, admin)).text();
    expect(html).toContain("project.create");
    expect(html).toContain(">admin<");
    expect(csrfIn(html)).toBe(admin.csrf);
  });

  it("answers unknown pages and ids with a readable page", async () => {
    const admin = await login();
    const missing = await adminCall("/admin/nope", {}, admin);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain("There is no admin page at this address.");
    const unknown = await adminCall(`/admin/projects/${crypto.randomUUID()}`, {}, admin);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toMatch(/No project with id/);
    const bad = await adminCall("/admin/tokens/not-a-uuid", {}, admin);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("must be a UUID");
  });

  it("serves its own stylesheet and script, cacheable", async () => {
    const css = await adminCall("/admin/assets/admin.css");
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toContain("text/css");
    expect(await css.text()).toContain("prefers-color-scheme:dark");
    expect((await adminCall("/admin/assets/admin.js")).headers.get("cache-control")).toContain("max-age");
  });
});
