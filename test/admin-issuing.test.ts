import { describe, expect, it, vi } from "vitest";
import { type Admin, adminCall, adminPost, cookieOf, login } from "./admin-helpers";
import { createProject, createToken, json, manage } from "./helpers";
import { mockProjectToken, proxy } from "./support/proxy";

vi.setConfig({ testTimeout: 30_000 });

const XSS = '<img src=x onerror="alert(1)">';

/** The redirect after a token create or rotation, followed as a browser would (with the cookie it set). */
async function follow(admin: Admin, res: Response) {
  expect(res.status).toBe(303);
  const location = res.headers.get("location") ?? "";
  const page = await adminCall(location, {}, { ...admin, cookie: `${admin.cookie}; ${cookieOf(res)}` });
  return { location, html: await page.text() };
}

describe("admin pages: issuing", () => {
  it("creates a token with budgets per period, a token window and minting", async () => {
    const admin = await login();
    const p = await createProject();
    const res = await adminPost(admin, "/admin/tokens", {
      project_id: p.id,
      name: "ci",
      count: "1",
      duration_minutes: "60",
      pb_day_cost: "5",
      pb_month_requests: "1000",
      budget_time_zone: "Europe/Berlin",
      tpm_tokens: "40000",
      tpm_window: "60",
      can_mint: "true",
    });
    const { location } = await follow(admin, res);
    const id = /^\/admin\/tokens\/([0-9a-f-]{36})\/created$/.exec(location)?.[1];
    const t = await json<Record<string, unknown>>(await manage(`/tokens/${id}`));
    expect(t).toMatchObject({
      period_budgets: [
        { period: "day", max_cost_usd: 5 },
        { period: "month", max_requests: 1000 },
      ],
      budget_time_zone: "Europe/Berlin",
      token_rate_limit: [{ tokens: 40000, window_seconds: 60 }],
      can_mint: true,
    });
    const detail = await (await adminCall(`/admin/tokens/${id}`, {}, admin)).text();
    expect(detail).toContain("Daily budget");
    expect(detail).toContain("Europe/Berlin");
    expect(detail).toContain("40,000 per 60 s");
    const bad = await adminPost(admin, "/admin/tokens", {
      project_id: p.id,
      budget_time_zone: "Nowhere/Else",
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("IANA time zone");
  });

  it("creates 25 tokens at once and shows every secret once, as CSV", async () => {
    const admin = await login();
    const p = await createProject();
    const form = {
      project_id: p.id,
      name: `student${XSS}`,
      count: "25",
      duration_minutes: "60",
      max_requests: "10",
      _once: crypto.randomUUID(),
    };
    const res = await adminPost(admin, "/admin/tokens", form);
    expect(res.status).toBe(201);
    const html = await res.text();
    expect(html).toContain("25 tokens created");
    const csv = /data-testid="batch-csv">([\s\S]*?)<\/pre>/.exec(html)?.[1] ?? "";
    const lines = csv.trim().split("\n");
    expect(lines[0]).toBe("id,name,token,expires_at");
    expect(lines).toHaveLength(26);
    expect(html).not.toContain("<img src=x");
    // The same form sent again (a reload) creates nothing.
    const again = await adminPost(admin, "/admin/tokens", form);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain("already created");
    const list = await json<{ data: unknown[] }>(await manage(`/tokens?project_id=${p.id}&limit=100`));
    expect(list.data).toHaveLength(25);
  });

  it("rotates a token's secret after a confirmation, showing the new one once", async () => {
    const admin = await login();
    const { token } = await mockProjectToken();
    const confirm = await (await adminCall(`/admin/tokens/${token.id}/rotate`, {}, admin)).text();
    expect(confirm).toContain('name="grace_seconds"');
    const res = await adminPost(admin, `/admin/tokens/${token.id}/rotate`, { grace_seconds: "0" });
    const { location, html } = await follow(admin, res);
    expect(location).toBe(`/admin/tokens/${token.id}/created?rotated=1`);
    expect(html).toContain("Secret rotated");
    const secret = /data-testid="token-secret">(wt_[0-9A-Za-z]+)</.exec(html)?.[1] as string;
    expect(secret).toHaveLength(94);
    const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] };
    expect((await proxy("/chat/completions", { token: token.token, json: chat })).status).toBe(401);
    expect((await proxy("/chat/completions", { token: secret, json: chat })).status).toBe(200);
    // Without the CSRF token nothing rotates.
    const forged = await adminCall(
      `/admin/tokens/${token.id}/rotate`,
      { form: { grace_seconds: "0" } },
      admin,
    );
    expect(forged.status).toBe(403);
  });

  it("manages a project's issuing keys, identity providers and end users", async () => {
    const admin = await login();
    const p = await createProject({ allowed_models: ["gpt-4o-mini"] });
    const page = await (await adminCall(`/admin/projects/${p.id}/issuing`, {}, admin)).text();
    expect(page).toContain("No issuing keys yet.");
    const created = await adminPost(admin, `/admin/projects/${p.id}/issuing/keys`, {
      key_name: `backend ${XSS}`,
      ceil_duration: "60",
      ceil_cost: "2",
      ceil_models: "gpt-4o-mini",
    });
    expect(created.status).toBe(201);
    const html = await created.text();
    expect(html).not.toContain("<img src=x");
    const key = /data-testid="key-secret">(ik_[0-9A-Za-z]+)</.exec(html)?.[1] as string;
    expect(key).toBeTruthy();
    const made = await manage("/tokens", {
      method: "POST",
      body: {},
      headers: { authorization: `Bearer ${key}` },
    });
    expect(made.status).toBe(201);
    expect((await json<{ max_cost_usd: number }>(made)).max_cost_usd).toBe(2);
    // Models outside the project's are refused, explained in the page.
    const bad = await adminPost(admin, `/admin/projects/${p.id}/issuing/keys`, {
      key_name: "x",
      ceil_models: "gpt-4o",
    });
    expect(bad.status).toBe(400);
    const keys = await json<{ data: { id: string }[] }>(await manage(`/issuing-keys?project_id=${p.id}`));
    const revoked = await adminPost(admin, `/admin/projects/${p.id}/issuing/keys/${keys.data[0]?.id}/revoke`);
    expect(revoked.status).toBe(303);
    expect(
      (await manage("/tokens", { method: "POST", body: {}, headers: { authorization: `Bearer ${key}` } }))
        .status,
    ).toBe(401);

    const provider = await adminPost(admin, `/admin/projects/${p.id}/issuing/providers`, {
      idp_name: "Supabase",
      issuer: `https://${crypto.randomUUID()}.supabase.co/auth/v1`,
      audience: "authenticated",
      hs256_secret: "a-very-long-shared-secret-of-more-than-32-chars",
      user_day_cost: "0.25",
      user_rpm: "30",
      allow_direct: "true",
    });
    expect(provider.status).toBe(303);
    const providers = await json<{ data: Record<string, unknown>[] }>(
      await manage(`/identity-providers?project_id=${p.id}`),
    );
    expect(providers.data[0]).toMatchObject({
      kind: "secret",
      allow_direct: true,
      user_limits: {
        period_budgets: [{ period: "day", max_cost_usd: 0.25 }],
        rate_limit: [{ requests: 30, window_seconds: 60 }],
      },
    });
    const after = await (await adminCall(`/admin/projects/${p.id}/issuing`, {}, admin)).text();
    expect(after).toContain("Supabase");
    expect(after).not.toContain("a-very-long-shared-secret");
    const short = await adminPost(admin, `/admin/projects/${p.id}/issuing/providers`, {
      idp_name: "x",
      issuer: "https://x.example",
      audience: "a",
      hs256_secret: "short",
    });
    expect(short.status).toBe(400);
    expect(await short.text()).not.toContain('value="short"');
  });

  it("shows a parent's escrow and its children's origin", async () => {
    const admin = await login();
    const p = await createProject();
    const parent = await createToken(p.id, { max_cost_usd: 3, can_mint: true });
    await (await import("./support/proxy")).workerFetch("http://gateway.test/issue/children", {
      method: "POST",
      headers: { authorization: `Bearer ${parent.token}`, "content-type": "application/json" },
      body: JSON.stringify({ count: 2, max_cost_usd: 1 }),
    });
    const html = await (await adminCall(`/admin/tokens/${parent.id}`, {}, admin)).text();
    expect(html).toContain("2 child tokens hold");
  });
});
