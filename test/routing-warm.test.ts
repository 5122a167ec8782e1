import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Admission } from "../src/tokens/admission";
import { hashToken } from "../src/tokens/secret";
import { proxy } from "./support/proxy";
import { mockName, mockSaw, routedProject } from "./support/routing";

// Issue 13, item 8: the route costs nothing on the warm path — no D1 query, at most one Durable Object call
// (docs/routing.md, "No cost on the warm path"). The figures are in bench/README.md; these tests attack the
// two structural promises behind them.

const messages = [{ role: "user" as const, content: "Say something" }];

/** Deletes a project's upstreams, keys and aliases in D1 behind the gateway's back (no reload is told). */
async function emptyRoutingRows(projectId: string) {
  await env.DB.batch([
    env.DB.prepare(
      "delete from upstream_keys where upstream_id in (select id from upstreams where project_id = ?)",
    ).bind(projectId),
    env.DB.prepare("delete from model_aliases where project_id = ?").bind(projectId),
    env.DB.prepare("delete from upstreams where project_id = ?").bind(projectId),
  ]);
}

describe("routes on the warm path", { timeout: 30_000 }, () => {
  for (const [label, tokenExtra] of [
    ["a counted token (its object decides every request)", { max_requests: 100 }],
    ["a token with nothing to count (admitted from the isolate's copy)", {}],
  ] as const) {
    it(`reads no D1: ${label} keeps routing with the rows gone`, async () => {
      const a = mockName("a");
      const b = mockName("b");
      const { project, token } = await routedProject(
        [
          { name: "a", mock: { name: a, status: 503 } },
          { name: "b", mock: { name: b } },
        ],
        tokenExtra,
      );
      const ask = async () => {
        const res = await proxy("/chat/completions", {
          token: token.token,
          json: { model: "smart", messages },
        });
        await res.text();
        return [res.status, res.headers.get("x-mock-upstream-name")];
      };
      expect(await ask()).toEqual([200, b]);
      await emptyRoutingRows(project.id);
      // The alias, both upstreams and their keys now exist only in the token's object and the isolate.
      for (let i = 0; i < 5; i++) expect(await ask()).toEqual([200, b]);
      expect(await mockSaw(b)).toBe(6);
    });
  }

  it("the object sends the routing table only when the isolate's version is not current", async () => {
    const { token } = await routedProject([{ name: "a", mock: { name: mockName("a") } }], {
      max_requests: 100,
    });
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(token.token)));
    const first = (await stub.admit({ model: "smart" })) as Admission;
    if (!first.ok) throw new Error(`refused: ${JSON.stringify(first)}`);
    expect(first.routing?.aliases.map((x) => x.name)).toEqual(["smart"]);
    const current = (await stub.admit({ model: "smart", routingVersion: first.routingVersion })) as Admission;
    expect(current.ok && current.routing).toBe(undefined);
    const stale = (await stub.admit({
      model: "smart",
      routingVersion: first.routingVersion + 1,
    })) as Admission;
    expect(stale.ok && stale.routing?.version).toBe(first.routingVersion);
  });
});
