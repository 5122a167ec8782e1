import { describe, expect, it } from "vitest";
import { adminCall, adminPost, login } from "./admin-helpers";
import { createProject, json, manage } from "./helpers";

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
