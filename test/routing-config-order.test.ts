import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { getDb } from "../src/storage/db";
import { projects } from "../src/storage/schema";
import type { Admission } from "../src/tokens/admission";
import { tokenObject } from "../src/tokens/admission-cache";
import { loadProjectConfig } from "../src/tokens/config-repo";
import { pushChange } from "../src/tokens/notify";
import { hashToken } from "../src/tokens/secret";
import type { ProjectConfig } from "../src/tokens/token-config";
import { createToken, json, manage, type TokenJson } from "./helpers";
import { proxy, sleep } from "./support/proxy";
import { mockBase, mockName, mockSaw, routedProject } from "./support/routing";

// The seam between routing changes and project pushes (issue 13): an upstream, key or alias change moves
// the project's version on (touchProject) before its tokens' objects re-read D1, and an object ignores a
// push of a version not newer than the one it holds. So a push of the project's configuration read before
// the change — a PATCH of the project racing it, a relay delivering late — can never put the old routing
// table back into an object. Attacked here with pushes held back and delivered after the change, and with
// changes, project pushes and requests all racing.

const messages = [{ role: "user" as const, content: "Say something" }];
const SLOW = { timeout: 60_000 };

/** The project's configuration as a push would carry it, read now. */
async function readProject(projectId: string): Promise<ProjectConfig> {
  const db = getDb(env);
  const row = await db.query.projects.findFirst({ where: eq(projects.id, projectId) });
  if (!row) throw new Error("no project");
  return loadProjectConfig(db, row);
}

/** Which mock upstream served a request of this token (null: none did). */
async function servedBy(token: TokenJson): Promise<string | null> {
  const res = await proxy("/chat/completions", { token: token.token, json: { model: "smart", messages } });
  await res.text();
  expect(res.status).toBe(200);
  return res.headers.get("x-mock-upstream-name");
}

/** The routing version the token's object decides with (one counted admission). */
async function objectRoutingVersion(token: TokenJson): Promise<number> {
  const admission = (await tokenObject(env, await hashToken(token.token)).admit({
    model: "smart",
  })) as Admission;
  if (!admission.ok) throw new Error(`refused: ${JSON.stringify(admission)}`);
  return admission.routingVersion;
}

async function patch(path: string, body: unknown): Promise<void> {
  const res = await manage(path, { method: "PATCH", body });
  if (res.status !== 200) throw new Error(`PATCH ${path}: ${res.status} ${await res.text()}`);
}

/** A project with upstreams a, b (and more), alias `smart` over them in order, and two tokens: one counted
 * (its object decides every request), one with nothing to count (admitted from the isolate's copy). */
async function setup(n = 2) {
  const names = Array.from({ length: n }, (_, i) => mockName(`u${i}`));
  const labels = names.map((_, i) => `u${i}`);
  const { project, token, upstreams } = await routedProject(
    names.map((name, i) => ({ name: labels[i]!, mock: { name } })),
    { max_requests: 10_000 },
    { name: "smart", models: names.map(() => "gpt-4o-mini") },
  );
  const free = await createToken(project.id);
  return { project, counted: token, free, upstreams, names };
}

describe("routing changes × project pushes: the newer routing table wins", SLOW, () => {
  it("a push read before an upstream was deactivated, delivered after, does not bring it back", async () => {
    const { project, counted, free, upstreams, names } = await setup();
    const [a, b] = names as [string, string];
    for (const t of [counted, free]) expect(await servedBy(t)).toBe(a);
    // A project change whose push is read now (with `a` active) and delivered late, after the deactivation.
    await patch(`/projects/${project.id}`, { allowed_origins: ["https://app.example"] });
    const stale = await readProject(project.id);
    await patch(`/upstreams/${upstreams[0]!.id}`, { is_active: false });
    const fresh = await readProject(project.id);
    // The routing change moved the project's version on, strictly.
    expect(fresh.version).toBeGreaterThan(stale.version);
    expect(fresh.routing.version).not.toBe(stale.routing.version);
    const keys = await Promise.all([counted, free].map((t) => hashToken(t.token)));
    expect(await pushChange(env, keys, { kind: "project", project: stale })).toEqual([]);
    const seenA = await mockSaw(a);
    for (let i = 0; i < 3; i++) for (const t of [counted, free]) expect(await servedBy(t)).toBe(b);
    expect(await objectRoutingVersion(counted)).toBe(fresh.routing.version);
    // Past the isolate's reuse bound (ADMISSION_CACHE_MS), the free token asks its object again.
    await sleep(1_100);
    expect(await servedBy(free)).toBe(b);
    expect(await mockSaw(a)).toBe(seenA);
  });

  it("every upstream, key and alias change moves the version on: a push read just before any of them loses", async () => {
    const { project, counted, upstreams, names } = await setup();
    const [a, b] = upstreams as [(typeof upstreams)[0], (typeof upstreams)[0]];
    const alias = (await json<{ data: { id: string }[] }>(await manage(`/projects/${project.id}/aliases`)))
      .data[0]!;
    let keyId = "";
    const changes: [string, () => Promise<Response>][] = [
      [
        "add an upstream",
        () =>
          manage(`/projects/${project.id}/upstreams`, {
            method: "POST",
            body: {
              name: "c",
              provider: "openai-compatible",
              base_url: mockBase({ name: mockName("c") }),
              api_key: "sk-upstream-secret-key-0123456789",
            },
          }),
      ],
      [
        "change an upstream",
        () => manage(`/upstreams/${b.id}`, { method: "PATCH", body: { models: ["gpt-4o-mini"] } }),
      ],
      [
        "add a key",
        async () => {
          const res = await manage(`/upstreams/${a.id}/keys`, {
            method: "POST",
            body: { api_key: "sk-second-upstream-key-0123456789", weight: 3 },
          });
          keyId = (await res.clone().json<{ id: string }>()).id;
          return res;
        },
      ],
      [
        "change a key's weight",
        () => manage(`/upstreams/${a.id}/keys/${keyId}`, { method: "PATCH", body: { weight: 5 } }),
      ],
      ["delete a key", () => manage(`/upstreams/${a.id}/keys/${keyId}`, { method: "DELETE" })],
      [
        "change an alias",
        () =>
          manage(`/aliases/${alias.id}`, {
            method: "PATCH",
            body: { targets: [{ upstream: "u1", model: "gpt-4o-mini" }] },
          }),
      ],
      [
        "add an alias",
        () =>
          manage(`/projects/${project.id}/aliases`, {
            method: "POST",
            body: { name: "other", targets: [{ upstream: "u0", model: "gpt-4o-mini" }] },
          }),
      ],
      [
        "deactivate an upstream",
        () => manage(`/upstreams/${a.id}`, { method: "PATCH", body: { is_active: false } }),
      ],
    ];
    const key = await hashToken(counted.token);
    await servedBy(counted);
    for (const [label, change] of changes) {
      const stale = await readProject(project.id);
      const res = await change();
      expect(res.status, `${label}: ${await res.clone().text()}`).toBeLessThan(300);
      const fresh = await readProject(project.id);
      expect(fresh.version, label).toBeGreaterThan(stale.version);
      expect(fresh.routing.version, label).not.toBe(stale.routing.version);
      await pushChange(env, [key], { kind: "project", project: stale });
      expect(await objectRoutingVersion(counted), label).toBe(fresh.routing.version);
    }
    // The last change took `u0` out: the alias (now on u1 alone) is served by b.
    expect(await servedBy(counted)).toBe(names[1]);
  });

  it("under concurrency: upstreams taken out one by one while project pushes and requests race them", async () => {
    const rounds = 3;
    const { project, counted, free, upstreams, names } = await setup(rounds + 1);
    const frozen = new Map<string, number>();
    for (let r = 1; r <= rounds; r++) {
      // Held back from before the round, delivered after it: the slowest possible push of the old table.
      const held = await readProject(project.id);
      const racing = Array.from({ length: 6 }, (_, i) =>
        i % 2 === 0
          ? patch(`/projects/${project.id}`, { allowed_origins: [`https://r${r}-${i}.example`] })
          : proxy("/chat/completions", {
              token: (i % 4 === 1 ? counted : free).token,
              json: { model: "smart", messages },
            }).then((res) => res.text()),
      );
      const requests = Array.from({ length: 10 }, (_, i) =>
        proxy("/chat/completions", {
          token: (i % 2 === 0 ? counted : free).token,
          json: { model: "smart", messages },
        }).then(async (res) => {
          await res.text();
          return res.status;
        }),
      );
      await Promise.all([
        patch(`/upstreams/${upstreams[r - 1]!.id}`, { is_active: false }),
        ...racing,
        ...requests,
      ]);
      for (const s of await Promise.all(requests)) expect(s).toBe(200);
      const keys = await Promise.all([counted, free].map((t) => hashToken(t.token)));
      await pushChange(env, keys, { kind: "project", project: held });
      frozen.set(names[r - 1]!, await mockSaw(names[r - 1]!));
      // From here on every request goes to the next upstream; the ones taken out never see another.
      const served = await Promise.all(
        Array.from({ length: 10 }, (_, i) => servedBy(i % 2 === 0 ? counted : free)),
      );
      expect(new Set(served)).toEqual(new Set([names[r]]));
    }
    for (const [name, seen] of frozen) expect(await mockSaw(name), name).toBe(seen);
    expect(await objectRoutingVersion(counted)).toBe((await readProject(project.id)).routing.version);
  });
});
