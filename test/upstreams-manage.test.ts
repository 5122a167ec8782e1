import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createProject, createToken, json, manage } from "./helpers";
import { proxy } from "./support/proxy";
import { addAlias, addUpstream, mockBase, mockName } from "./support/routing";

type ErrorJson = {
  error: { code: string; param: string | null; message: string; fields?: { path: string }[] };
};
type UpstreamJson = {
  id: string;
  name: string;
  provider: string;
  base_url: string;
  position: number;
  keys: { id: string; hint: string; weight: number; is_active: boolean; failing: boolean }[];
};

const SECRET = "sk-live-secret-value-ABCD1234";

describe("upstreams: management API", () => {
  it("a project's old fields became its `default` upstream, and still act on it", async () => {
    const project = await createProject({ base_url: "https://api.example.com/v1", api_key: SECRET });
    const list = await json<{ data: UpstreamJson[] }>(await manage(`/projects/${project.id}/upstreams`));
    expect(list.data).toHaveLength(1);
    expect(list.data[0]).toMatchObject({
      name: "default",
      provider: "openai",
      base_url: "https://api.example.com/v1",
      position: 0,
      keys: [{ hint: "sk-l…1234", weight: 1, is_active: true, failing: false }],
    });
    const keyId = list.data[0]!.keys[0]!.id;
    const patched = await manage(`/projects/${project.id}`, {
      method: "PATCH",
      body: { api_key: "sk-rotated-value-WXYZ", provider: "openai-compatible" },
    });
    expect(await json(patched)).toMatchObject({ api_key_hint: "sk-r…WXYZ", provider: "openai-compatible" });
    const after = await json<UpstreamJson>(await manage(`/upstreams/${list.data[0]!.id}`));
    // The old `api_key` field rotates the first key: same id, new hint.
    expect(after.keys).toEqual([expect.objectContaining({ id: keyId, hint: "sk-r…WXYZ" })]);
  });

  it("keys are write-only: no response, list or audit entry ever holds one", async () => {
    const project = await createProject();
    const created = await manage(`/projects/${project.id}/upstreams`, {
      method: "POST",
      body: {
        name: "groq",
        provider: "openai-compatible",
        base_url: "https://api.groq.com/openai/v1",
        api_key: SECRET,
      },
    });
    expect(created.status).toBe(201);
    const text = await created.text();
    expect(text).not.toContain(SECRET);
    const upstream = JSON.parse(text) as UpstreamJson;
    const added = await manage(`/upstreams/${upstream.id}/keys`, {
      method: "POST",
      body: { api_key: `${SECRET}-second`, weight: 3 },
    });
    expect(added.status).toBe(201);
    const addedText = await added.text();
    expect(addedText).not.toContain(SECRET);
    const key = JSON.parse(addedText) as { id: string; weight: number };
    expect(key.weight).toBe(3);
    const rotated = await manage(`/upstreams/${upstream.id}/keys/${key.id}/rotate`, {
      method: "POST",
      body: { api_key: "sk-new-value-for-second-9876" },
    });
    expect(await json(rotated)).toMatchObject({ id: key.id, hint: "sk-n…9876", weight: 3 });
    for (const path of [
      `/upstreams/${upstream.id}`,
      `/projects/${project.id}/upstreams`,
      `/audit?limit=500`,
    ]) {
      const body = await (await manage(path)).text();
      expect(body).not.toContain(SECRET);
      expect(body).not.toContain("sk-new-value-for-second-9876");
    }
    const stored = await env.DB.prepare("select key_encrypted from upstream_keys where id = ?")
      .bind(key.id)
      .first();
    expect(String(stored?.key_encrypted)).toMatch(/^v1:/);
    const audit = await json<{ data: { action: string; target_id: string }[] }>(
      await manage(`/audit?target_id=${upstream.id}`),
    );
    expect(audit.data.map((a) => a.action)).toEqual(["upstream_key.rotate", "upstream_key.add"]);
    const removed = await manage(`/upstreams/${upstream.id}/keys/${key.id}`, { method: "DELETE" });
    expect(removed.status).toBe(204);
    expect((await json<UpstreamJson>(await manage(`/upstreams/${upstream.id}`))).keys).toHaveLength(1);
  });

  it("names are unique per project; bad input is a 400 naming the field, never a 500", async () => {
    const project = await createProject();
    const base = {
      provider: "openai-compatible",
      base_url: "https://x.example/v1",
      api_key: "sk-x-1234567890",
    };
    expect(
      (await manage(`/projects/${project.id}/upstreams`, { method: "POST", body: { name: "a", ...base } }))
        .status,
    ).toBe(201);
    const dup = await manage(`/projects/${project.id}/upstreams`, {
      method: "POST",
      body: { name: "a", ...base },
    });
    expect(dup.status).toBe(409);
    const cases: [unknown, string][] = [
      [{ name: "has space", ...base }, "name"],
      [{ name: "b", ...base, provider: "carrier-pigeon" }, "provider"],
      [{ name: "b", ...base, base_url: "ftp://x" }, "base_url"],
      [{ name: "b", ...base, base_url: "https://x.example/v1?key=1" }, "base_url"],
      // A key over plain HTTP, or credentials in the URL: refused (http:// only to loopback).
      [{ name: "b", ...base, base_url: "http://x.example/v1" }, "base_url"],
      [{ name: "b", ...base, base_url: "https://user:pw@x.example/v1" }, "base_url"],
      [{ name: "b", ...base, retry_on: [400] }, "retry_on.0"],
      [{ name: "b", ...base, first_byte_timeout_ms: 5 }, "first_byte_timeout_ms"],
      [{ name: "b", ...base, keys: [{ api_key: "k" }] }, "keys"],
      [{ name: "b", ...base, api_key: undefined, keys: [{ api_key: "k", weight: 0 }] }, "keys.0.weight"],
      [{ name: "b", ...base, settings: { deep: { deeper: { x: 1 } } } }, "settings"],
    ];
    for (const [body, param] of cases) {
      const res = await manage(`/projects/${project.id}/upstreams`, { method: "POST", body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json<ErrorJson>(res)).error.param).toBe(param);
    }
    expect(
      (
        await manage(`/projects/${crypto.randomUUID()}/upstreams`, {
          method: "POST",
          body: { name: "z", ...base },
        })
      ).status,
    ).toBe(404);
    expect((await manage("/upstreams/not-a-uuid")).status).toBe(400);
    expect((await manage(`/upstreams/${crypto.randomUUID()}`)).status).toBe(404);
  });

  it("moving an upstream to another host needs its key in the same request", async () => {
    const project = await createProject({ base_url: "https://one.example/v1" });
    const list = await json<{ data: UpstreamJson[] }>(await manage(`/projects/${project.id}/upstreams`));
    const id = list.data[0]!.id;
    const alone = await manage(`/upstreams/${id}`, {
      method: "PATCH",
      body: { base_url: "https://evil.example/v1" },
    });
    expect(alone.status).toBe(400);
    expect((await json<ErrorJson>(alone)).error.param).toBe("api_key");
    // The same through the project's old field.
    const viaProject = await manage(`/projects/${project.id}`, {
      method: "PATCH",
      body: { base_url: "https://evil.example/v1" },
    });
    expect(viaProject.status).toBe(400);
    // Same host, another path: the key may follow.
    const samePath = await manage(`/upstreams/${id}`, {
      method: "PATCH",
      body: { base_url: "https://one.example/v2" },
    });
    expect(samePath.status).toBe(200);
    const moved = await manage(`/upstreams/${id}`, {
      method: "PATCH",
      body: { base_url: "https://two.example/v1", api_key: "sk-two-host-key-5678" },
    });
    expect(await json(moved)).toMatchObject({
      base_url: "https://two.example/v1",
      keys: [{ hint: "sk-t…5678" }],
    });
  });

  it("aliases name existing upstreams; a rename follows into them; a targeted upstream cannot be deleted", async () => {
    const project = await createProject();
    const up = await addUpstream(project.id, { name: "fast", base_url: "https://fast.example/v1" });
    const bad = await manage(`/projects/${project.id}/aliases`, {
      method: "POST",
      body: {
        name: "smart",
        targets: [
          { upstream: "fast", model: "m1" },
          { upstream: "nope", model: "m2" },
        ],
      },
    });
    expect(bad.status).toBe(400);
    expect((await json<ErrorJson>(bad)).error.param).toBe("targets.1.upstream");
    const alias = await addAlias(project.id, "smart", [
      { upstream: "fast", model: "m1" },
      { upstream: "default", model: "m2" },
    ]);
    const dup = await manage(`/projects/${project.id}/aliases`, {
      method: "POST",
      body: { name: "smart", targets: [{ upstream: "fast", model: "m1" }] },
    });
    expect(dup.status).toBe(409);
    expect((await manage(`/upstreams/${up.id}`, { method: "PATCH", body: { name: "quick" } })).status).toBe(
      200,
    );
    const renamed = await json<{ targets: { upstream: string }[] }>(await manage(`/aliases/${alias.id}`));
    expect(renamed.targets.map((t) => t.upstream)).toEqual(["quick", "default"]);
    const blocked = await manage(`/upstreams/${up.id}`, { method: "DELETE" });
    expect(blocked.status).toBe(409);
    expect((await json<ErrorJson>(blocked)).error.message).toContain("'smart'");
    const changed = await manage(`/aliases/${alias.id}`, {
      method: "PATCH",
      body: { strategy: "weighted", targets: [{ upstream: "default", model: "m2", weight: 2 }] },
    });
    expect(await json(changed)).toMatchObject({
      strategy: "weighted",
      targets: [{ upstream: "default", weight: 2 }],
    });
    expect((await manage(`/upstreams/${up.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await manage(`/aliases/${alias.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await manage(`/aliases/${alias.id}`)).status).toBe(404);
  });

  it("every change reaches tokens already in use at their next request", async () => {
    const name = mockName("live");
    const project = await createProject({ base_url: `${env.MOCK_UPSTREAM_URL}/v1` });
    const token = await createToken(project.id, { max_requests: 100 });
    const ask = (model: string) =>
      proxy("/chat/completions", {
        token: token.token,
        json: { model, messages: [{ role: "user", content: "x" }] },
      });
    expect((await ask("fast")).status).toBe(200); // no alias yet: the default upstream serves any model
    await addUpstream(project.id, { name: "other", mock: { name } });
    await addAlias(project.id, "fast", [{ upstream: "other", model: "gpt-4o-mini" }]);
    const routed = await ask("fast");
    expect(routed.status).toBe(200);
    expect(routed.headers.get("x-mock-upstream-name")).toBe(name);
  });

  it("documents every route in the OpenAPI document", async () => {
    const doc = await json<{ paths: Record<string, Record<string, unknown>> }>(
      await call("/manage/openapi.json"),
    );
    for (const path of [
      "/manage/projects/{id}/upstreams",
      "/manage/upstreams/{id}",
      "/manage/upstreams/{id}/health",
      "/manage/upstreams/{id}/keys",
      "/manage/upstreams/{id}/keys/{key_id}",
      "/manage/upstreams/{id}/keys/{key_id}/rotate",
      "/manage/projects/{id}/aliases",
      "/manage/aliases/{id}",
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });
});

describe("upstreams: health", () => {
  it("shows requests, errors and failed attempts per upstream and key from the request log", async () => {
    const a = mockName("a");
    const project = await createProject({ base_url: `${env.MOCK_UPSTREAM_URL}/v1` });
    const flaky = await addUpstream(project.id, { name: "flaky", mock: { name: a, status: 503 } });
    await addAlias(project.id, "smart", [
      { upstream: "flaky", model: "gpt-4o-mini" },
      { upstream: "default", model: "gpt-4o-mini" },
    ]);
    const token = await createToken(project.id);
    for (let i = 0; i < 2; i++) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        json: { model: "smart", messages: [{ role: "user", content: "x" }] },
      });
      expect(res.status).toBe(200);
      await res.text();
    }
    type Health = {
      failed_attempts: number;
      requests: number;
      keys: { id: string; failed_attempts: number }[];
    };
    let health: Health | undefined;
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      health = await json<Health>(await manage(`/upstreams/${flaky.id}/health`));
      if (health.failed_attempts >= 2) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(health).toMatchObject({ requests: 0, failed_attempts: 2 });
    expect(health!.keys[0]).toMatchObject({ id: flaky.keys[0]!.id, failed_attempts: 2 });
    expect(mockBase({ name: a })).toContain("/up/");
  }, 30_000);
});
