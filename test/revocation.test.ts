import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getDb } from "../src/storage/db";
import { loadTokenConfig } from "../src/tokens/config-repo";
import type { TokenState } from "../src/tokens/durable";
import { hashToken } from "../src/tokens/secret";
import { createProject, createToken, json, manage } from "./helpers";

// A revocation reaches the token's Durable Object even when a call on the way failed and is retried, or
// raced a reload of the object's configuration.

describe("revocation is retry-safe", () => {
  /** A used token whose first revoke wrote D1 but whose reload() call failed (the client saw a 500 and retries). */
  async function halfRevoked() {
    const project = await createProject();
    const token = await createToken(project.id);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(token.token)));
    expect((await stub.admit({})).ok).toBe(true);
    await env.DB.prepare("update tokens set is_active = 0, revoked_at = ? where id = ?")
      .bind(Date.now(), token.id)
      .run();
    return { project, token, stub };
  }

  it("a repeated DELETE re-tells the token's object, healing a revoke whose reload was lost", async () => {
    const { token, stub } = await halfRevoked();
    expect((await manage(`/tokens/${token.id}`, { method: "DELETE" })).status).toBe(204);
    const after = await stub.admit({});
    expect(!after.ok && after.code).toBe("token_inactive");
  });

  it("a repeated revoke by value heals the same way", async () => {
    const { token, stub } = await halfRevoked();
    const res = await manage("/tokens", { method: "DELETE", body: { token: token.token } });
    expect(res.status).toBe(204);
    const after = await stub.admit({});
    expect(!after.ok && after.code).toBe("token_inactive");
  });

  it("a repeated bulk revoke of a project heals its used tokens too", async () => {
    const { project, stub } = await halfRevoked();
    const res = await manage(`/projects/${project.id}/tokens/revoke`, { method: "POST" });
    expect(await json(res)).toEqual({ revoked_count: 0 });
    const after = await stub.admit({});
    expect(!after.ok && after.code).toBe("token_inactive");
  });
});

describe("project deletion is retry-safe", () => {
  it("a DELETE whose push failed can be repeated, and the project's used tokens stop", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(token.token)));
    expect((await stub.admit({})).ok).toBe(true);
    // The token's object fails every call of the first DELETE's push (an overloaded or restarting object:
    // the push tries each object 3 times, issue 10 item 5); RPC finds methods on the prototype, so the
    // patch goes there and is undone below.
    const proto = Object.getPrototypeOf(
      await runInDurableObject(stub, (instance: TokenState) => instance),
    ) as { apply: (change: unknown) => Promise<void> };
    const original = proto.apply;
    let failures = 3;
    proto.apply = async function (this: TokenState, change: unknown) {
      if (failures > 0) {
        failures--;
        throw new Error("object overloaded");
      }
      return original.call(this, change);
    };
    try {
      const first = await manage(`/projects/${project.id}`, { method: "DELETE" });
      expect(first.status).toBe(502);
      const second = await manage(`/projects/${project.id}`, { method: "DELETE" });
      expect(second.status, await second.clone().text()).toBe(204);
    } finally {
      proto.apply = original;
    }
    const after = await stub.admit({});
    expect(after.ok).toBe(false);
  });
});

describe("token object: a load racing a revocation", () => {
  it("an alarm that reloads an evicted object's config cannot overwrite a newer revocation", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    const hash = await hashToken(token.token);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(hash));
    expect((await stub.admit({})).ok).toBe(true); // arms the mirror alarm
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // As after an eviction: no config in memory. The alarm's first D1 read is slow (it answers with the
    // row as it was before the revocation, after the revocation's own reload has finished).
    await runInDurableObject(stub, (instance: TokenState) => {
      // The object's copy of its configuration (src/tokens/durable-config.ts) holds `config` and `load`.
      const obj = (instance as unknown as { held: { config: unknown; load: () => Promise<void> } }).held;
      const original = obj.load.bind(obj);
      let first = true;
      obj.config = undefined;
      obj.load = async () => {
        if (!first) return original();
        first = false;
        const snapshot = await loadTokenConfig(getDb(env), hash);
        await gate;
        obj.config = snapshot;
      };
    });
    const alarm = runDurableObjectAlarm(stub);
    await new Promise((r) => setTimeout(r, 20));
    const revoke = manage(`/tokens/${token.id}`, { method: "DELETE" });
    await new Promise((r) => setTimeout(r, 100));
    release();
    await alarm;
    expect((await revoke).status).toBe(204);
    const after = await stub.admit({});
    expect(!after.ok && after.code).toBe("token_inactive");
  });
});

describe("audit of revoke by value", () => {
  it("names the revoked token (by id, never by secret)", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    expect((await manage("/tokens", { method: "DELETE", body: { token: token.token } })).status).toBe(204);
    const audit = await json<{ data: { action: string; target_id: string | null; details: unknown }[] }>(
      await manage(`/audit?target_id=${token.id}`),
    );
    expect(audit.data.map((a) => a.action)).toEqual(["token.revoke_by_value", "token.create"]);
    expect(JSON.stringify(audit.data)).not.toContain(token.token);
  });
});
