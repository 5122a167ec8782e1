import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { hashToken, isWellFormedToken } from "../src/tokens/secret";
import { createToken, json, manage } from "./helpers";
import { mockProjectToken, proxy, sleep } from "./support/proxy";

vi.setConfig({ testTimeout: 120_000 });

type Created = {
  id: string;
  token: string;
  name: string | null;
  max_requests: number | null;
  project_id: string;
};
type ErrorJson = { error: { code: string; message: string } };

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 5 };

describe("many tokens at once", () => {
  it("creates a batch of 1 000 tokens in one call: distinct secrets, stored as hashes, all usable", async () => {
    const { project } = await mockProjectToken();
    const t0 = Date.now();
    const res = await manage("/tokens/batch", {
      method: "POST",
      body: { project_id: project.id, count: 1000, name: "student", max_requests: 10, duration_minutes: 120 },
    });
    const ms = Date.now() - t0;
    expect(res.status).toBe(201);
    const { data } = await json<{ data: Created[] }>(res);
    console.log(`batch of 1000 tokens: ${ms} ms`);
    expect(data).toHaveLength(1000);
    expect(new Set(data.map((t) => t.token)).size).toBe(1000);
    expect(data.every((t) => isWellFormedToken(t.token) && t.max_requests === 10)).toBe(true);
    expect(data[0]?.name).toBe("student-1");
    expect(data[999]?.name).toBe("student-1000");
    const rows = await env.DB.prepare("select token_hash, object_key from tokens where project_id = ?")
      .bind(project.id)
      .all<{ token_hash: string; object_key: string }>();
    const hashes = new Set(rows.results.map((r) => r.token_hash));
    expect(rows.results).toHaveLength(1001);
    for (const t of data.slice(0, 50)) expect(hashes.has(await hashToken(t.token))).toBe(true);
    expect(rows.results.every((r) => r.object_key === r.token_hash)).toBe(true);
    // A sample works through the proxy, each with its own limits.
    const sample = [data[0], data[500], data[999]] as Created[];
    for (const t of sample) {
      const r = await proxy("/chat/completions", { token: t.token, json: chat });
      expect(r.status).toBe(200);
      expect(r.headers.get("x-llm-proxy-requests-remaining")).toBe("9");
      await r.arrayBuffer();
    }
    // One audit entry for the batch, naming the tokens.
    const audit = await json<{ data: { action: string; details: { count: number; ids: string[] } }[] }>(
      await manage("/audit?action=token.create_batch&limit=1"),
    );
    expect(audit.data[0]?.details.count).toBe(1000);
    expect(audit.data[0]?.details.ids).toHaveLength(1000);
  });

  it("names tokens one by one, and refuses a batch over 1 000 or without a count", async () => {
    const { project } = await mockProjectToken();
    const named = await manage("/tokens/batch", {
      method: "POST",
      body: { project_id: project.id, names: ["ann", "ben", "cy"] },
    });
    expect((await json<{ data: Created[] }>(named)).data.map((t) => t.name)).toEqual(["ann", "ben", "cy"]);
    for (const body of [
      { count: 1001 },
      {},
      { count: 2, names: ["a"] },
      { count: 2, name: "x", names: ["a", "b"] },
    ]) {
      const res = await manage("/tokens/batch", {
        method: "POST",
        body: { project_id: project.id, ...body },
      });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
  });
});

describe("rotation", () => {
  it("gives a new secret, keeps the old one for the grace period, and both count against the same limits", async () => {
    const { token } = await mockProjectToken({ max_requests: 5 });
    const use = (secret: string) => proxy("/chat/completions", { token: secret, json: chat });
    const first = await use(token.token);
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    const rotated = await manage(`/tokens/${token.id}/rotate`, {
      method: "POST",
      body: { grace_seconds: 2 },
    });
    expect(rotated.status).toBe(200);
    const body = await json<{ token: string; token_hint: string; previous_secret_valid_until: string }>(
      rotated,
    );
    expect(body.token).not.toBe(token.token);
    expect(isWellFormedToken(body.token)).toBe(true);
    expect(body.token_hint.slice(-4)).toBe(body.token.slice(-4));
    expect(Date.parse(body.previous_secret_valid_until) - Date.now()).toBeLessThanOrEqual(2_000);
    // Old and new together: 4 more requests in total, whichever secret.
    const mixed = await Promise.all(
      [token.token, body.token, token.token, body.token, body.token, token.token].map(use),
    );
    expect(mixed.filter((r) => r.status === 200)).toHaveLength(4);
    expect(mixed.filter((r) => r.status === 429)).toHaveLength(2);
    await Promise.all(mixed.map((r) => r.arrayBuffer()));
    const state = await json<{ request_count: number; remaining_requests: number }>(
      await manage(`/tokens/${token.id}`),
    );
    expect(state).toMatchObject({ request_count: 5, remaining_requests: 0 });
    // After the grace period the old secret is refused, saying why.
    await sleep(2_100);
    const old = await use(token.token);
    expect(old.status).toBe(401);
    const err = await json<ErrorJson>(old);
    expect(err.error.code).toBe("token_inactive");
    expect(err.error.message).toContain("rotation");
  });

  it("rotates a token never used, with no grace, twice; revokes by either secret", async () => {
    const { project, token } = await mockProjectToken({ max_requests: 3 });
    const r1 = await json<{ token: string }>(
      await manage(`/tokens/${token.id}/rotate`, { method: "POST", body: { grace_seconds: 0 } }),
    );
    const gone = await proxy("/chat/completions", { token: token.token, json: chat });
    expect(gone.status).toBe(401);
    const ok = await proxy("/chat/completions", { token: r1.token, json: chat });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    // A second rotation (default grace: one hour): r1 still works, r2 works, the first secret stays dead.
    const r2 = await json<{ token: string }>(
      await manage(`/tokens/${token.id}/rotate`, { method: "POST", body: {} }),
    );
    for (const s of [r1.token, r2.token]) {
      const r = await proxy("/chat/completions", { token: s, json: chat });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    expect((await proxy("/chat/completions", { token: token.token, json: chat })).status).toBe(401);
    // Revoking by the previous secret's value finds the token too.
    expect((await manage("/tokens", { method: "DELETE", body: { token: r1.token } })).status).toBe(204);
    const after = await proxy("/chat/completions", { token: r2.token, json: chat });
    expect(after.status).toBe(401);
    // A revoked token cannot be rotated; bad grace values are refused.
    expect((await manage(`/tokens/${token.id}/rotate`, { method: "POST", body: {} })).status).toBe(409);
    const fresh = await createToken(project.id);
    for (const grace_seconds of [-1, 8 * 86_400, 1.5, "60"]) {
      const res = await manage(`/tokens/${fresh.id}/rotate`, { method: "POST", body: { grace_seconds } });
      expect(res.status, String(grace_seconds)).toBe(400);
    }
  });
});
