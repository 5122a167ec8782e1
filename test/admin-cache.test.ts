import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { getDb } from "../src/storage/db";
import { usageHourly } from "../src/storage/schema";
import { adminCall, adminPost, login } from "./admin-helpers";
import { createProject, createToken, json, manage, uniqueName } from "./helpers";

// The response cache in the admin pages: project form, purge, token form, dashboard figures.

vi.setConfig({ testTimeout: 20_000 });

const projectIdIn = (res: Response) =>
  /\/admin\/projects\/([0-9a-f-]{36})/.exec(res.headers.get("location") ?? "")![1]!;

type ProjectJson = {
  cache: { ttl_seconds: number; exclude: string[]; hits_skip_rate_limits: boolean } | null;
  cache_generation: number;
};

describe("admin: the response cache", () => {
  it("sets it up in the project form, shows it, purges it and turns it off", async () => {
    const admin = await login();
    const name = uniqueName("cached");
    const created = await adminPost(admin, "/admin/projects", {
      name,
      api_key: "sk-upstream-secret-abcd1234",
      provider: "openai",
      cache_ttl_seconds: "600",
      cache_exclude_embeddings: "on",
      cache_hits_skip_rate_limits: "on",
    });
    expect(created.status).toBe(303);
    const id = projectIdIn(created);
    expect(await json<ProjectJson>(await manage(`/projects/${id}`))).toMatchObject({
      cache: { ttl_seconds: 600, exclude: ["/embeddings"], hits_skip_rate_limits: true },
      cache_generation: 0,
    });

    const page = await (await adminCall(`/admin/projects/${id}`, {}, admin)).text();
    expect(page).toContain("on, 600 s; except /embeddings; hits skip rate windows");
    expect(page).toContain(`action="/admin/projects/${id}/cache/purge"`);
    expect(page).toContain("Cache hits");

    const edit = await (await adminCall(`/admin/projects/${id}/edit`, {}, admin)).text();
    expect(edit).toMatch(/id="f-cache_ttl_seconds"[^>]*value="600"/);
    expect(edit).toMatch(/name="cache_exclude_embeddings" checked/);
    expect(edit).not.toMatch(/name="cache_exclude_chat_completions" checked/);
    expect(edit).toMatch(/name="cache_hits_skip_rate_limits" checked/);

    const purged = await adminPost(admin, `/admin/projects/${id}/cache/purge`);
    expect(purged.headers.get("location")).toBe(`/admin/projects/${id}?msg=cache_purged`);
    expect((await json<ProjectJson>(await manage(`/projects/${id}`))).cache_generation).toBe(1);
    const audit = await json<{ data: { action: string; target_id: string }[] }>(
      await manage(`/audit?target_id=${id}`),
    );
    expect(audit.data.map((a) => a.action)).toContain("project.cache_purge");
    // Without the CSRF token nothing is purged.
    const forged = await adminCall(`/admin/projects/${id}/cache/purge`, { form: {} }, admin);
    expect(forged.status).toBe(403);
    expect((await json<ProjectJson>(await manage(`/projects/${id}`))).cache_generation).toBe(1);

    // An emptied TTL turns the cache off; an invalid one is explained beside the field.
    const bad = await adminPost(admin, `/admin/projects/${id}`, {
      name,
      provider: "openai",
      cache_ttl_seconds: "0",
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/id="e-cache_ttl_seconds"/);
    const off = await adminPost(admin, `/admin/projects/${id}`, { name, provider: "openai" });
    expect(off.headers.get("location")).toBe(`/admin/projects/${id}?msg=project_saved`);
    expect((await json<ProjectJson>(await manage(`/projects/${id}`))).cache).toBeNull();
    const offPage = await (await adminCall(`/admin/projects/${id}`, {}, admin)).text();
    expect(offPage).not.toContain("/cache/purge");
  });

  it("allows or denies a token the cache in the token forms", async () => {
    const admin = await login();
    const p = await createProject({ cache: { ttl_seconds: 60 } });
    const created = await adminPost(admin, "/admin/tokens", {
      project_id: p.id,
      name: "no-cache",
      cache: "false",
    });
    expect(created.status).toBe(303);
    const listed = await json<{ data: { id: string; name: string; cache: boolean }[] }>(
      await manage(`/tokens?project_id=${p.id}`),
    );
    const token = listed.data.find((t) => t.name === "no-cache")!;
    expect(token.cache).toBe(false);
    const detail = await (await adminCall(`/admin/tokens/${token.id}`, {}, admin)).text();
    expect(detail).toContain("denied");
    const edit = await (await adminCall(`/admin/tokens/${token.id}/edit`, {}, admin)).text();
    expect(edit).toMatch(/<option value="false" selected/);
    const saved = await adminPost(admin, `/admin/tokens/${token.id}`, { name: "no-cache", cache: "true" });
    expect(saved.status).toBe(303);
    expect((await json<{ cache: boolean }>(await manage(`/tokens/${token.id}`))).cache).toBe(true);
    // A token created without the field may use the cache.
    expect((await createToken(p.id)) as unknown as { cache: boolean }).toMatchObject({ cache: true });
  });

  it("shows hits, the hit rate and the money saved on the dashboard", async () => {
    const admin = await login();
    const p = await createProject({ name: uniqueName("saver"), cache: { ttl_seconds: 60 } });
    const t = await createToken(p.id);
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    await getDb(env).insert(usageHourly).values({
      hour,
      projectId: p.id,
      tokenId: t.id,
      model: "gpt-4o-mini",
      requests: 4,
      cacheHits: 3,
      cacheMisses: 1,
      costUsd: 0.25,
      savedUsd: 0.75,
    });
    const page = await (await adminCall(`/admin/projects/${p.id}?range=day`, {}, admin)).text();
    expect(page).toContain("75.0% of 4 cacheable");
    expect(page).toContain("$0.75");
    const usage = await json<{ data: { cache_hits: number; cache_misses: number; saved_usd: number }[] }>(
      await manage(`/usage?project_id=${p.id}&group_by=project`),
    );
    expect(usage.data[0]).toMatchObject({ cache_hits: 3, cache_misses: 1, saved_usd: 0.75 });
    const dashboard = await (await adminCall("/admin?range=day", {}, admin)).text();
    expect(dashboard).toContain("Saved by the cache");
  });
});
