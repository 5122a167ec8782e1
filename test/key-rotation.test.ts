import {
  createExecutionContext,
  createScheduledController,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { decryptSecret, encryptSecret, reencryptSecret } from "../src/lib/crypto";
import { ENCRYPTED_COLUMNS, reencryptColumn, reencryptStored } from "../src/maintenance/reencrypt";
import { upstreamKeys } from "../src/storage/schema";
import type { TokenState } from "../src/tokens/durable";
import { hashToken } from "../src/tokens/secret";
import { createProject } from "./helpers";
import { mockProjectToken, UPSTREAM_KEY } from "./support/proxy";

const OLD = env.ENCRYPTION_KEY;
const fresh = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

// The project's key lives with its default upstream (issue 13): the row this file follows.
const KEY_OF_PROJECT =
  "select k.id, k.key_encrypted k from upstream_keys k join upstreams u on u.id = k.upstream_id where u.project_id = ?";
const storedKey = async (id: string) =>
  (await env.DB.prepare(KEY_OF_PROJECT).bind(id).first<{ k: string }>())!.k;
const keyIdOf = async (projectId: string) =>
  (await env.DB.prepare(KEY_OF_PROJECT).bind(projectId).first<{ id: string }>())!.id;

const chat = (secret: string, e: Env) =>
  worker.fetch(
    new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
    }),
    e,
    createExecutionContext(),
  );

/** The ciphertext the token's Durable Object hands out with its admissions. */
async function objectCiphertext(secret: string): Promise<string | undefined> {
  const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(secret)));
  return runInDurableObject(stub, (instance: TokenState) => {
    // The object's copy of its configuration is src/tokens/durable-config.ts.
    const config = (
      instance as unknown as {
        held: {
          config?: { project: { routing: { upstreams: { keys: { keyEncrypted: string }[] }[] } } } | null;
        };
      }
    ).held.config;
    return config?.project.routing.upstreams[0]?.keys[0]?.keyEncrypted;
  });
}

describe("ENCRYPTION_KEY rotation: crypto", () => {
  it("the previous key still opens what it sealed; re-encryption moves it under the current key", async () => {
    const next = fresh();
    const sealed = await encryptSecret("sk-secret", OLD);
    const keys = { current: next, previous: OLD };
    expect(await decryptSecret(sealed, keys)).toBe("sk-secret");
    await expect(decryptSecret(sealed, next)).rejects.toThrow();
    const moved = (await reencryptSecret(sealed, keys))!;
    expect(moved).toMatch(/^v1:/);
    expect(await decryptSecret(moved, next)).toBe("sk-secret");
    expect(await reencryptSecret(moved, keys)).toBeNull();
    // Neither key: an error, never a wrong plaintext.
    await expect(reencryptSecret(await encryptSecret("x", fresh()), keys)).rejects.toThrow();
    await expect(decryptSecret(sealed, { current: next, previous: "not a key" })).rejects.toThrow(
      "ENCRYPTION_KEY_PREVIOUS",
    );
  });
});

describe("ENCRYPTION_KEY rotation: no downtime", () => {
  it("traffic keeps flowing while the cron re-encrypts, and after the previous key is removed", async () => {
    const { project, token } = await mockProjectToken();
    const before = await storedKey(project.id);
    expect((await chat(token.token, env)).status).toBe(200);
    expect(await objectCiphertext(token.token)).toBe(before);

    // Step 1 of docs/operations.md: the new key, with the old one as ENCRYPTION_KEY_PREVIOUS.
    const next = fresh();
    const rotating = { ...env, ENCRYPTION_KEY: next, ENCRYPTION_KEY_PREVIOUS: OLD };
    // Step 2: the cron runs (scheduled handler) while requests keep coming.
    const traffic = Array.from({ length: 24 }, (_, i) =>
      new Promise((r) => setTimeout(r, i * 5)).then(() => chat(token.token, rotating)),
    );
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController(), rotating, ctx);
    await waitOnExecutionContext(ctx);
    const statuses = await Promise.all(traffic.map(async (p) => (await p).status));
    expect(statuses.every((s) => s === 200)).toBe(true);

    const after = await storedKey(project.id);
    expect(after).not.toBe(before);
    expect(await decryptSecret(after, next)).toBe(UPSTREAM_KEY);
    // The token's object was told: it no longer holds a ciphertext only the old key opens.
    expect(await objectCiphertext(token.token)).toBe(after);
    const audit = await env.DB.prepare(
      "select result, details from audit_log where action = 'encryption.reencrypt' order by id desc limit 1",
    ).first<{ result: string; details: string }>();
    expect(audit?.result).toBe("ok");
    expect(JSON.parse(audit!.details)).toMatchObject({ failed: 0, done: true });
    expect(JSON.parse(audit!.details).reencrypted).toBeGreaterThanOrEqual(1);

    // Step 3: ENCRYPTION_KEY_PREVIOUS removed. New projects and the old one work under the new key alone.
    const done = { ...env, ENCRYPTION_KEY: next };
    expect((await chat(token.token, done)).status).toBe(200);
    // Had a project been left under the old key, its requests would say so (503), not fail obscurely.
    const { token: left } = await mockProjectToken();
    const refused = await chat(left.token, done);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("encryption_key_invalid");
    // A run without a previous key changes nothing and writes nothing.
    expect(await reencryptStored(done)).toEqual({ reencrypted: 0, current: 0, failed: 0 });
    // Re-encrypted back for the other tests of this file, which use the configured key.
    await reencryptStored({ ...env, ENCRYPTION_KEY_PREVIOUS: next });
    expect(await decryptSecret(await storedKey(project.id), OLD)).toBe(UPSTREAM_KEY);
  });

  it("a value neither key opens is reported and left alone; a row whose holders cannot be told is put back", async () => {
    const p = await createProject();
    const next = fresh();
    const keys = { current: next, previous: OLD };
    const foreign = await encryptSecret("sk-other", fresh());
    await env.DB.prepare("update upstream_keys set key_encrypted = ? where id = ?")
      .bind(foreign, await keyIdOf(p.id))
      .run();
    const only = { ...ENCRYPTED_COLUMNS[0]!, changed: undefined };
    const r = await reencryptColumn({ ...env, ENCRYPTION_KEY: next }, only, keys);
    expect(r.failed).toBeGreaterThanOrEqual(1);
    expect(await storedKey(p.id)).toBe(foreign);

    const q = await createProject();
    const original = await storedKey(q.id);
    const qKey = await keyIdOf(q.id);
    const unreachable = {
      table: upstreamKeys,
      id: upstreamKeys.id,
      value: upstreamKeys.keyEncrypted,
      changed: async (_e: Env, id: string) => {
        if (id === qKey) throw new Error("object unreachable");
      },
    };
    const r2 = await reencryptColumn({ ...env, ENCRYPTION_KEY: next }, unreachable, keys);
    expect(r2.failed).toBeGreaterThanOrEqual(2);
    expect(await storedKey(q.id)).toBe(original);
    expect(await decryptSecret(original, OLD)).toBe("sk-test-upstream-key-1234567890");
    // Put the rest back under the configured key for the other tests.
    await reencryptColumn(env, only, { current: OLD, previous: next });
    await env.DB.prepare("delete from projects where id = ?").bind(p.id).run();
  });
});
