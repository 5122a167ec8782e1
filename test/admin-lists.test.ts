import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { processBatch } from "../src/usage/consumer";
import { adminCall, login } from "./admin-helpers";
import { createProject, createToken, manage, uniqueName } from "./helpers";
import { mockProjectToken, proxy, sleep } from "./support/proxy";
import { event } from "./usage-fixtures";

const rowsOf = (html: string) => [...html.matchAll(/<tr data-request-id="([^"]+)"/g)].map((m) => m[1]);

describe("admin projects list", () => {
  it("pages past 500 projects, in name order, with Unicode names at the page boundaries", async () => {
    const admin = await login();
    const prefix = uniqueName();
    // Straight into D1: 520 projects through the API would take most of a minute.
    const now = Date.now();
    const names = Array.from({ length: 520 }, (_, i) => `${prefix}-${String(i).padStart(3, "0")}-日本語🦀`);
    const insert = env.DB.prepare(
      "insert into projects (id, name, created_at, updated_at) values (?, ?, ?, ?)",
    );
    for (let i = 0; i < names.length; i += 100) {
      await env.DB.batch(names.slice(i, i + 100).map((n) => insert.bind(crypto.randomUUID(), n, now, now)));
    }
    const seen: string[] = [];
    let path: string | undefined = "/admin/projects";
    let pages = 0;
    while (path && pages < 40) {
      const res = await adminCall(path, {}, admin);
      expect(res.status).toBe(200);
      const html = await res.text();
      seen.push(
        ...[...html.matchAll(/<a href="\/admin\/projects\/[0-9a-f-]{36}">([^<]+)<\/a>/g)].map((m) => m[1]!),
      );
      const next = /<a class="btn" href="(\/admin\/projects\?cursor=[^"]+)">/.exec(html)?.[1];
      path = next?.replaceAll("&amp;", "&");
      pages++;
    }
    const ours = seen.filter((n) => n.startsWith(prefix));
    expect(ours).toEqual(names);
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBeGreaterThan(10);
  });

  it("refuses a forged cursor with a readable page, not a 500", async () => {
    const admin = await login();
    for (const cursor of ["%%%", "bm90IGpzb24", "_-_-", "wA"]) {
      const res = await adminCall(`/admin/projects?cursor=${cursor}`, {}, admin);
      expect(res.status).toBe(400);
      expect(await res.text()).toContain("not a cursor");
    }
  });
});

describe("admin request log finds a request", () => {
  it("by the x-request-id the client saw, end to end through the queue; shows the token's name", {
    timeout: 30_000,
  }, async () => {
    const admin = await login();
    const { token, project } = await mockProjectToken({ name: "finder-notebook" });
    const res = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
    });
    await res.text();
    const requestId = res.headers.get("x-request-id")!;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    let html = "";
    for (let i = 0; i < 80; i++) {
      html = await (await adminCall(`/admin/events?request_id=${requestId}`, {}, admin)).text();
      if (rowsOf(html).length) break;
      await sleep(250);
    }
    expect(rowsOf(html)).toEqual([requestId]);
    expect(html).toContain("finder-notebook");
    expect(html).toContain(`href="/admin/tokens/${token.id}"`);
    expect(html).toContain(`href="/admin/projects/${project.id}"`);
    // The same through the management API.
    const api = await manage(`/events?request_id=${requestId}`);
    expect(((await api.json()) as { data: { id: string }[] }).data.map((e) => e.id)).toEqual([requestId]);
  });

  it("by request id through the ledger or, once the ledger forgot it, by scanning; by token name, hint or id", async () => {
    const admin = await login();
    const p = await createProject();
    const name = `search-${uniqueName()}`;
    const named = await createToken(p.id, { name });
    const other = await createToken(p.id);
    const mine = event({ project_id: p.id, token_id: named.id });
    const theirs = event({ project_id: p.id, token_id: other.id });
    await processBatch(
      [
        { id: crypto.randomUUID(), body: mine, attempts: 1 },
        { id: crypto.randomUUID(), body: theirs, attempts: 1 },
      ],
      env,
    );
    const get = async (q: string) => rowsOf(await (await adminCall(`/admin/events?${q}`, {}, admin)).text());

    expect(await get(`request_id=${mine.id}`)).toEqual([mine.id]);
    expect(await get(`request_id=${mine.id}&token=${other.id}`)).toEqual([]);
    await env.DB.prepare("delete from event_ledger where event_id = ?").bind(mine.id).run();
    expect(await get(`request_id=${mine.id}`)).toEqual([mine.id]);

    expect(await get(`token=${encodeURIComponent(name)}`)).toEqual([mine.id]);
    expect(await get(`token=${encodeURIComponent(named.token_hint)}`)).toEqual([mine.id]);
    expect(await get(`token=${other.id}`)).toEqual([theirs.id]);
    const nobody = await (await adminCall("/admin/events?token=no-such-token-anywhere", {}, admin)).text();
    expect(rowsOf(nobody)).toEqual([]);
    expect(nobody).toContain("No token has this id");
    // What was typed is shown back escaped.
    const probe = await (
      await adminCall(`/admin/events?request_id=${encodeURIComponent('"><script>x</script>')}`, {}, admin)
    ).text();
    expect(probe).not.toContain("<script>x");
  });
});
