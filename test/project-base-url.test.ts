import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { isLoopback } from "../src/upstreams/base-url";
import { adminCall, adminPost, login } from "./admin-helpers";
import { createProject, json, MANAGEMENT_TOKEN, manage, uniqueName } from "./helpers";
import { mockProjectToken, newTag, proxy, UPSTREAM_KEY, upstreamSaw } from "./support/proxy";

type ErrorJson = { error: { code: string; param: string | null; message: string } };

const create = (base_url: string, envOverride?: Partial<Env>) =>
  worker.fetch(
    new Request("http://gateway.test/manage/projects", {
      method: "POST",
      headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: uniqueName(), api_key: "sk-test-key-0123456789", base_url }),
    }),
    { ...env, ...envOverride },
    createExecutionContext(),
  );

const patch = (id: string, body: Record<string, unknown>) =>
  manage(`/projects/${id}`, { method: "PATCH", body });

const baseUrlOf = async (id: string) =>
  (await json<{ base_url: string }>(await manage(`/projects/${id}`))).base_url;

describe("project base_url: where the stored key may go", () => {
  it("https anywhere; http:// only to this machine unless ALLOW_HTTP_UPSTREAMS is true; never credentials", async () => {
    expect((await create("https://llm.example/v1")).status).toBe(201);
    for (const ok of [
      "http://127.0.0.1:9/v1",
      "http://localhost:8080/v1",
      "http://[::1]:9/v1",
      "http://a.localhost/v1",
    ]) {
      expect((await create(ok)).status, ok).toBe(201);
    }
    for (const bad of ["http://llm.example/v1", "http://10.0.0.5/v1", "http://127.0.0.1.evil.example/v1"]) {
      const res = await create(bad);
      expect(res.status, bad).toBe(400);
      const body = await json<ErrorJson>(res);
      expect(body.error.code).toBe("validation_error");
      expect(body.error.param).toBe("base_url");
      expect(body.error.message).toContain("ALLOW_HTTP_UPSTREAMS");
    }
    expect((await create("http://llm.example/v1", { ALLOW_HTTP_UPSTREAMS: "true" })).status).toBe(201);
    for (const creds of [
      "https://user:pass@llm.example/v1",
      "https://api.openai.com@evil.example/v1",
      "https://:secret@llm.example/v1",
    ]) {
      const res = await create(creds);
      expect(res.status, creds).toBe(400);
      expect((await json<ErrorJson>(res)).error.message).toContain("credentials");
    }
    expect(isLoopback("LOCALHOST.")).toBe(true);
    expect(isLoopback("127.0.0.1.nip.io")).toBe(false);
  });

  it("a new host needs the key in the same request; a new path on the same host does not", async () => {
    const p = await createProject({ base_url: "https://api.openai.com/v1" });
    for (const elsewhere of [
      "https://evil.example/v1",
      "https://api.openai.com:8443/v1",
      "https://api.openai.com.evil.example/v1",
    ]) {
      const res = await patch(p.id, { base_url: elsewhere });
      expect(res.status, elsewhere).toBe(400);
      const body = await json<ErrorJson>(res);
      expect(body.error.param).toBe("api_key");
      expect(body.error.message).toContain("api_key");
    }
    // Nothing changed by the refused ones, not even other fields of the same patch.
    const both = await patch(p.id, { base_url: "https://evil.example/v1", description: "moved" });
    expect(both.status).toBe(400);
    expect(await json(await manage(`/projects/${p.id}`))).toMatchObject({
      base_url: "https://api.openai.com/v1",
      description: null,
    });
    // Same origin: a path change (and the host's case) needs no key.
    expect((await patch(p.id, { base_url: "https://API.openai.com/v2" })).status).toBe(200);
    expect(await baseUrlOf(p.id)).toBe("https://API.openai.com/v2");
    // With the key for the new host: moved, and the hint is the new key's.
    const moved = await patch(p.id, { base_url: "https://llm.example/v1", api_key: "sk-new-host-key-WXYZ" });
    expect(moved.status).toBe(200);
    expect(await json(moved)).toMatchObject({
      base_url: "https://llm.example/v1",
      api_key_hint: "sk-n…WXYZ",
    });
  });

  it("a refused move sends the stored key nowhere new: the next request still goes to the old upstream", async () => {
    const { project, token } = await mockProjectToken();
    const elsewhere = env.MOCK_UPSTREAM_URL.replace("127.0.0.1", "localhost");
    expect((await patch(project.id, { base_url: `${elsewhere}/v1` })).status).toBe(400);
    const tag = newTag();
    const res = await proxy("/models", { token: token.token, headers: { "x-mock-tag": tag } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const [seen] = await upstreamSaw(tag);
    expect(seen?.headers.host).toBe(new URL(env.MOCK_UPSTREAM_URL).host);
    expect(seen?.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
  });

  it("the admin edit form asks for the key when the host changes", async () => {
    const admin = await login();
    const p = await createProject({ base_url: "https://api.openai.com/v1" });
    const form = { name: p.name, provider: "openai", base_url: "https://evil.example/v1" };
    const refused = await adminPost(admin, `/admin/projects/${p.id}`, form);
    expect(refused.status).toBe(400);
    const html = await refused.text();
    expect(html).toMatch(/id="e-api_key">[^<]*needs the upstream API key/);
    expect(await baseUrlOf(p.id)).toBe("https://api.openai.com/v1");
    const edit = await (await adminCall(`/admin/projects/${p.id}/edit`, {}, admin)).text();
    expect(edit).toContain("Upstream API key for a new host");
    const moved = await adminPost(admin, `/admin/projects/${p.id}`, {
      ...form,
      api_key: "sk-new-host-key-1234",
    });
    expect(moved.status).toBe(303);
    expect(await baseUrlOf(p.id)).toBe("https://evil.example/v1");
  });
});
