import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { adminCall, adminPost, login } from "./admin-helpers";
import { createProject, createToken, json, manage } from "./helpers";
import { proxy } from "./support/proxy";
import { addAlias, addUpstream, mockBase, mockName } from "./support/routing";

type UpstreamJson = {
  id: string;
  name: string;
  base_url: string;
  keys: { id: string; hint: string; failing: boolean }[];
};

describe("admin: a project's upstreams and aliases", () => {
  it("adds an upstream from a preset, adds and rotates keys, defines an alias, shows health", async () => {
    const admin = await login();
    const project = await createProject();
    const page = await adminCall(`/admin/projects/${project.id}/routes`, {}, admin);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("default");
    expect(await (await adminCall(`/admin/projects/${project.id}`, {}, admin)).text()).toContain(
      `/admin/projects/${project.id}/routes`,
    );

    const added = await adminPost(admin, `/admin/projects/${project.id}/upstreams`, {
      name: "groq",
      preset: "groq",
      api_key: "gsk-admin-secret-value-4321",
      models: "llama-*, mixtral-*",
      first_byte_timeout_ms: "2000",
    });
    expect(added.status).toBe(303);
    expect(added.headers.get("location")).toBe(`/admin/projects/${project.id}/routes?msg=upstream_added`);
    const list = await json<{ data: UpstreamJson[] }>(await manage(`/projects/${project.id}/upstreams`));
    const groq = list.data.find((u) => u.name === "groq")!;
    expect(groq).toMatchObject({ base_url: "https://api.groq.com/openai/v1", keys: [{ hint: "gsk-…4321" }] });

    expect(
      (
        await adminPost(admin, `/admin/upstreams/${groq.id}/keys`, {
          api_key: "gsk-second-8888",
          weight: "2",
        })
      ).status,
    ).toBe(303);
    expect(
      (
        await adminPost(admin, `/admin/upstreams/${groq.id}/keys/${groq.keys[0]!.id}/rotate`, {
          api_key: "gsk-rotated-7777",
        })
      ).status,
    ).toBe(303);

    const bad = await adminPost(admin, `/admin/projects/${project.id}/aliases`, {
      alias_name: "smart",
      strategy: "ordered",
      targets: "nope:model",
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("no upstream named");
    const alias = await adminPost(admin, `/admin/projects/${project.id}/aliases`, {
      alias_name: "smart",
      strategy: "weighted",
      targets: "groq:llama-3.3-70b=3\ndefault:gpt-4o=1",
    });
    expect(alias.status).toBe(303);
    // The same name again replaces it.
    expect(
      (
        await adminPost(admin, `/admin/projects/${project.id}/aliases`, {
          alias_name: "smart",
          targets: "default:gpt-4o",
        })
      ).status,
    ).toBe(303);
    const aliases = await json<{ data: { id: string; strategy: string; targets: unknown[] }[] }>(
      await manage(`/projects/${project.id}/aliases`),
    );
    expect(aliases.data).toEqual([
      expect.objectContaining({ strategy: "ordered", targets: [{ upstream: "default", model: "gpt-4o" }] }),
    ]);

    const html = await (await adminCall(`/admin/projects/${project.id}/routes`, {}, admin)).text();
    expect(html).toContain("gsk-…7777");
    expect(html).toContain("gsk-…8888");
    expect(html).not.toContain("gsk-rotated-7777");
    expect(html).not.toContain("gsk-admin-secret-value-4321");
    expect(html).toContain("default:gpt-4o");
    expect((await adminPost(admin, `/admin/aliases/${aliases.data[0]!.id}/delete`)).status).toBe(303);

    const audit = await json<{ data: { action: string; actor: string }[] }>(
      await manage(`/audit?target_id=${groq.id}`),
    );
    expect(audit.data.map((a) => a.action)).toEqual(["upstream_key.rotate", "upstream_key.add"]);
    expect(audit.data.every((a) => a.actor === "admin")).toBe(true);
  }, 30_000);

  it("escapes what an operator typed and refuses a form without its CSRF token", async () => {
    const admin = await login();
    const project = await createProject();
    const refused = await adminCall(
      `/admin/projects/${project.id}/upstreams`,
      { form: { name: "x", base_url: "https://x.example/v1" } },
      admin,
    );
    expect(refused.status).toBe(403);
    const res = await adminPost(admin, `/admin/projects/${project.id}/upstreams`, {
      name: "<script>",
      base_url: "https://x.example/v1",
    });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).not.toContain("<script>");
    expect(text).toContain("&lt;script&gt;");
  });
});

describe("admin: the dashboard's upstream table", () => {
  it("shows errors and failed attempts per upstream from the rollups", async () => {
    const admin = await login();
    const project = await createProject({ base_url: `${env.MOCK_UPSTREAM_URL}/v1` });
    const name = `flaky-${crypto.randomUUID().slice(0, 6)}`;
    const flaky = await addUpstream(project.id, {
      name,
      base_url: mockBase({ name: mockName("f"), status: 502 }),
    });
    await addAlias(project.id, "smart", [
      { upstream: name, model: "gpt-4o-mini" },
      { upstream: "default", model: "gpt-4o-mini" },
    ]);
    const token = await createToken(project.id);
    const res = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "smart", messages: [{ role: "user", content: "x" }] },
    });
    expect(res.status).toBe(200);
    await res.text();
    const until = Date.now() + 20_000;
    let html = "";
    while (Date.now() < until) {
      html = await (await adminCall("/admin?range=hour", {}, admin)).text();
      if (html.includes(name)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(html).toContain(name);
    expect(html).toContain(`/admin/projects/${project.id}/routes`);
    expect(flaky.id).toBeTruthy();
  }, 30_000);
});

describe("admin: a key the upstream refuses", () => {
  it("is shown as failing (403) after traffic; 'Use again' clears the mark, audit-logged", async () => {
    const admin = await login();
    const project = await createProject({ base_url: `${env.MOCK_UPSTREAM_URL}/v1` });
    const name = `keys-${crypto.randomUUID().slice(0, 6)}`;
    const upstream = await addUpstream(project.id, {
      name,
      base_url: mockBase({ name: mockName("k") }),
      keys: [
        { api_key: "sk-forbidden-key-0001;status=403", weight: 1000 },
        { api_key: "sk-working-key-0002", weight: 1 },
      ],
    });
    await addAlias(project.id, "smart", [{ upstream: name, model: "gpt-4o-mini" }]);
    const token = await createToken(project.id);
    const res = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "smart", messages: [{ role: "user", content: "x" }] },
    });
    // The refused key is taken out and the other key serves the same request.
    expect(res.status).toBe(200);
    await res.text();
    const refused = upstream.keys[0]!;
    const until = Date.now() + 5_000;
    let html = "";
    while (Date.now() < until) {
      html = await (await adminCall(`/admin/projects/${project.id}/routes`, {}, admin)).text();
      if (html.includes("the upstream answered 403")) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(html).toContain("the upstream answered 403");
    expect(html).toContain(`/admin/upstreams/${upstream.id}/keys/${refused.id}/enable`);
    expect(html).not.toContain("sk-forbidden-key-0001");

    expect((await adminPost(admin, `/admin/upstreams/${upstream.id}/keys/${refused.id}/enable`)).status).toBe(
      303,
    );
    const after = await json<UpstreamJson>(await manage(`/upstreams/${upstream.id}`));
    expect(after.keys.find((k) => k.id === refused.id)!.failing).toBe(false);
    html = await (await adminCall(`/admin/projects/${project.id}/routes`, {}, admin)).text();
    expect(html).not.toContain("the upstream answered 403");
    const audit = await json<{ data: { action: string }[] }>(await manage(`/audit?target_id=${upstream.id}`));
    expect(audit.data.map((a) => a.action)).toContain("upstream_key.update");
  }, 30_000);
});
