// A person's walk through the admin pages in headless Chromium, against the gateway under `wrangler dev`.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type Gateway, SECRETS, startGateway } from "./gateway";
import { startUpstream, type Upstream } from "./mock";
import { seedShowcase } from "./seed";

const SCREENSHOTS = process.env.SCREENSHOTS === "1";
const SHOTS = new URL("../docs/screenshots/", import.meta.url).pathname;
const XSS = "<img src=x onerror=alert(1)>";

function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"]).toString().trim();
}

let gw: Gateway;
let upstream: Upstream;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
const dialogs: string[] = [];
const state = { projectId: "", tokenId: "", secret: "", proxy: false };

async function shot(name: string, p: Page = page) {
  if (!SCREENSHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await p.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

function manage(path: string, init: RequestInit = {}) {
  return fetch(`${gw.url}/manage${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${SECRETS.MANAGEMENT_TOKEN}`,
      "content-type": "application/json",
      ...init.headers,
    },
  });
}

function chat(secret: string) {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }),
  });
}

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ beforeStart: SCREENSHOTS ? seedShowcase : undefined });
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  ctx = await browser.newContext({ baseURL: gw.url, viewport: { width: 1280, height: 860 } });
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: gw.url });
  page = await ctx.newPage();
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
});

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
  await upstream?.close();
});

describe("admin pages in a real browser", () => {
  it("redirects a logged-out visitor to the login", async () => {
    await page.goto("/admin/tokens");
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe(
      "/admin/login?next=%2Fadmin%2Ftokens",
    );
    await shot("login");
  });

  it("logs in and keeps the session in a HttpOnly, Secure, SameSite=Strict cookie", async () => {
    await page.getByLabel("Admin password").fill("wrong");
    await page.getByRole("button", { name: "Log in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("Wrong password.");
    await page.getByLabel("Admin password").fill(SECRETS.ADMIN_PASSWORD);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL("**/admin/tokens");
    const [cookie] = await ctx.cookies();
    expect(cookie).toMatchObject({
      name: "__Host-llmproxy_admin",
      httpOnly: true,
      secure: true,
      sameSite: "Strict",
      path: "/",
    });
    expect(cookie!.expires * 1000 - Date.now()).toBeGreaterThan(11 * 3_600_000);
    expect(await page.evaluate(() => document.cookie)).toBe("");
  });

  it("creates a project whose name is an XSS probe, shown as text", async () => {
    await page.goto("/admin/projects/new");
    await page.getByLabel("Name").fill(XSS);
    await page.getByLabel("Upstream API key").fill("sk-upstream-never-shown-1234");
    await page.getByLabel("Base URL").fill(`${upstream.url}/v1`);
    await page.getByRole("button", { name: "Create project" }).click();
    await page.waitForURL(/\/admin\/projects\/[0-9a-f-]{36}\?msg=project_created$/);
    state.projectId = /projects\/([0-9a-f-]{36})/.exec(page.url())![1]!;
    await expect.poll(() => page.locator("h1").textContent()).toContain(XSS);
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.content()).not.toContain("sk-upstream-never-shown-1234");
    expect(await page.getByText("sk-u…1234").count()).toBeGreaterThan(0);
    await page.goto("/admin/projects");
    expect(await page.getByRole("link", { name: XSS }).count()).toBe(1);
    expect(dialogs).toEqual([]);
  });

  it("creates a token, shows the secret once and copies it", async () => {
    await page.goto(`/admin/tokens/new?project_id=${state.projectId}`);
    await page.getByLabel("Name", { exact: true }).fill("browser-walk");
    await page.getByLabel("Duration (minutes)").fill("120");
    await page.getByLabel("Max requests").fill("50");
    await page.getByLabel("Rate window 1: requests").fill("30");
    await page.getByLabel("Rate window 1: per seconds").fill("60");
    await page.getByLabel("Allowed models").fill("gpt-4o-mini");
    await page.getByLabel("Metadata (JSON object)").fill('{"owner": "browser test"}');
    await page.getByRole("button", { name: "Create token" }).click();
    await page.getByRole("heading", { name: "Token created" }).waitFor();
    state.secret = (await page.getByTestId("token-secret").textContent())!.trim();
    expect(state.secret).toMatch(/^wt_[0-9A-Za-z]{48}$/);
    expect(await page.locator("pre").first().textContent()).toBe(
      `OPENAI_BASE_URL=${gw.url}/v1\nOPENAI_API_KEY=${state.secret}`,
    );
    await shot("token-created");
    await page.locator("[data-copy=token-secret]").click();
    await expect.poll(() => page.locator("[data-copy=token-secret]").textContent()).toBe("Copied");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(state.secret);
    // POST → redirect → GET: the page showing the secret is a GET; reloading it neither shows the secret
    // again nor creates a second token.
    expect(new URL(page.url()).pathname).toMatch(/^\/admin\/tokens\/[0-9a-f-]{36}\/created$/);
    await page.reload();
    await page.getByRole("heading", { name: "Token created" }).waitFor();
    expect(await page.content()).not.toContain(state.secret);
    expect(await page.getByText("was shown once").count()).toBe(1);
    const list = (await (await manage(`/tokens?project_id=${state.projectId}`)).json()) as {
      data: unknown[];
    };
    expect(list.data).toHaveLength(1);
    await page.getByRole("link", { name: "Token details" }).click();
    state.tokenId = /tokens\/([0-9a-f-]{36})/.exec(page.url())![1]!;
    expect(await page.content()).not.toContain(state.secret);
  });

  it("uses the token for a proxied request and finds it in the request log by its x-request-id", async () => {
    const other = await chat(state.secret);
    expect(other.status).toBe(200);
    const res = await chat(state.secret);
    expect(res.status).toBe(200);
    state.proxy = true;
    const requestId = res.headers.get("x-request-id")!;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    // As an operator would: the id a client reported, typed into the log's search.
    await page.goto("/admin/events");
    await page.getByLabel("Request id").fill(requestId);
    await page.getByRole("button", { name: "Filter" }).click();
    const rows = page.locator("tr[data-request-id]");
    await expect
      .poll(
        async () => {
          if ((await rows.count()) === 0) await page.reload();
          return rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-request-id")));
        },
        { timeout: 20_000, interval: 1000 },
      )
      .toEqual([requestId]);
    expect(new URL(page.url()).searchParams.get("request_id")).toBe(requestId);
    const row = rows.first();
    expect(await row.textContent()).toContain(requestId);
    expect(await row.textContent()).toContain("browser-walk");
    expect(await row.textContent()).toContain("/v1/chat/completions");
    // By the token's name: both requests.
    await page.goto("/admin/events");
    await page.getByLabel("Token").fill("browser-walk");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect
      .poll(
        async () => {
          await page.reload();
          return rows.count();
        },
        { timeout: 20_000, interval: 1000 },
      )
      .toBe(2);
    // The request id in a row is a link that finds that one request.
    await page.getByRole("link", { name: requestId }).click();
    expect(new URL(page.url()).searchParams.get("request_id")).toBe(requestId);
    expect(await rows.count()).toBe(1);
  });

  it("edits the token's limits and expiry; the detail page shows its live allowance", async () => {
    await page.goto(`/admin/tokens/${state.tokenId}`);
    const card = page.getByTestId("allowance");
    if (state.proxy) await expect.poll(() => card.textContent()).toContain("30 per 60 s");
    await page.getByRole("link", { name: "Edit", exact: true }).click();
    await page.getByLabel("Max requests").fill("40");
    await page.getByLabel("Token budget").fill("200000");
    await page.getByLabel("Rate window 2: requests").fill("1000");
    await page.getByLabel("Rate window 2: per seconds").fill("86400");
    await page.getByLabel("Duration from now (minutes)").fill("1440");
    await shot("token-edit");
    await page.getByRole("button", { name: "Save token" }).click();
    await expect.poll(() => page.getByRole("status").first().textContent()).toContain("Token saved");
    const token = (await (await manage(`/tokens/${state.tokenId}`)).json()) as Record<string, unknown>;
    expect(token).toMatchObject({
      name: "browser-walk",
      max_requests: 40,
      max_tokens: 200_000,
      rate_limit: [
        { requests: 30, window_seconds: 60 },
        { requests: 1000, window_seconds: 86400 },
      ],
    });
    expect(Date.parse(token.expires_at as string) - Date.now()).toBeGreaterThan(23 * 3_600_000);
    if (state.proxy) expect(await card.textContent()).toContain("1,000 per 86,400 s");
    await shot("token-allowance");
  });

  it("revokes the token after a confirmation; the next request is refused", async () => {
    await page.goto(`/admin/tokens/${state.tokenId}`);
    await page.getByRole("link", { name: "Revoke" }).click();
    await expect.poll(() => page.locator(".alert").textContent()).toContain("browser-walk");
    await page.getByRole("button", { name: "Revoke token" }).click();
    await expect.poll(() => page.getByRole("status").first().textContent()).toContain("Token revoked");
    expect(await page.locator("h1 .badge").textContent()).toBe("revoked");
    const token = (await (await manage(`/tokens/${state.tokenId}`)).json()) as { status: string };
    expect(token.status).toBe("revoked");
    if (state.proxy) {
      const res = await chat(state.secret);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("token_inactive");
    }
  });

  it("creates a batch of tokens from the form and downloads their secrets as CSV", async () => {
    await page.goto(`/admin/tokens/new?project_id=${state.projectId}`);
    await page.getByLabel("Name", { exact: true }).fill("pupil");
    await page.getByLabel("How many").fill("3");
    await page.getByLabel("Daily cost budget (USD)").fill("1");
    await page.getByRole("button", { name: "Create token" }).click();
    await page.getByRole("heading", { name: "3 tokens created" }).waitFor();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download CSV" }).click(),
    ]);
    const path = await download.path();
    const csv = (await import("node:fs")).readFileSync(path, "utf8").trim().split("\n");
    expect(csv[0]).toBe("id,name,token,expires_at");
    expect(csv.slice(1).map((l) => l.split(",")[1])).toEqual(["pupil-1", "pupil-2", "pupil-3"]);
    expect(csv[1]?.split(",")[2]).toMatch(/^wt_[0-9A-Za-z]{48}$/);
  });

  it("refuses a forged cross-site form and a script post without the CSRF token", async () => {
    // A page on another origin auto-submits a form to the gateway: the Strict cookie is not sent.
    const evilPort = await freePort();
    const evil: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(
        `<form id=f method=post action="${gw.url}/admin/projects"><input name=name value=csrf-probe><input name=api_key value=k></form><script>document.getElementById("f").submit()</script>`,
      );
    });
    await new Promise<void>((r) => evil.listen(evilPort, "127.0.0.1", r));
    try {
      const evilPage = await ctx.newPage();
      const answer = evilPage.waitForResponse((r) => r.url() === `${gw.url}/admin/projects`);
      await evilPage.goto(`http://localhost:${evilPort}/`);
      expect((await answer).status()).toBe(401);
      await evilPage.close();
    } finally {
      await new Promise((r) => evil.close(r));
    }
    // Same origin, with the cookie, but without the page's token.
    await page.goto("/admin/projects");
    const status = await page.evaluate(async () => {
      const body = new URLSearchParams({ name: "csrf-probe", api_key: "k" });
      return (await fetch("/admin/projects", { method: "POST", body })).status;
    });
    expect(status).toBe(403);
    const list = (await (await manage("/projects?limit=500")).json()) as { data: { name: string }[] };
    expect(list.data.some((p) => p.name === "csrf-probe")).toBe(false);
  });

  it("renders the main pages (screenshots), light and dark, phone width", async () => {
    for (const [name, path] of [
      ["dashboard", "/admin?range=month"],
      ["projects", "/admin/projects"],
      ["tokens", "/admin/tokens"],
      ["request-log", "/admin/events"],
      ["audit-log", "/admin/audit"],
    ] as const) {
      const res = await page.goto(path);
      expect(res?.status()).toBe(200);
      await shot(name);
    }
    if (SCREENSHOTS) {
      await page.goto("/admin/projects");
      await page.getByRole("link", { name: "mobile-app" }).click();
      await shot("project-detail");
      await page.getByRole("link", { name: "Edit", exact: true }).click();
      await shot("project-edit");
      await page.goto("/admin/tokens?search=ios-build");
      await page.getByRole("link", { name: "ios-build-1482" }).click();
      await shot("token-detail");
    }
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto("/admin?range=month");
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg).toBe("rgb(17, 20, 24)");
    await shot("dashboard-dark");
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize({ width: 390, height: 844 });
    // The edit forms and the allowance tables fit a phone too (tables scroll inside their card).
    for (const path of [
      `/admin/tokens/${state.tokenId}`,
      `/admin/tokens/${state.tokenId}/edit`,
      `/admin/projects/${state.projectId}/edit`,
      "/admin/tokens",
    ]) {
      await page.goto(path);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, path).toBeLessThanOrEqual(0);
    }
    await shot("tokens-phone");
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it("logs out", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL("**/admin/login?msg=logged_out");
    expect(await ctx.cookies()).toEqual([]);
    await page.goto("/admin");
    expect(page.url()).toContain("/admin/login");
  });
});
