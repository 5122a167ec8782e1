import { createExecutionContext, listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { generateLegacyTokenSecret, generateTokenSecret, hashToken } from "../src/tokens/secret";
import { json, manage } from "./helpers";
import { eventually, mockProjectToken, newTag, proxy, upstreamSaw } from "./support/proxy";

// Issue 10, item 4: anyone can mint well-formed tokens (a legacy token's CRC32 is public; a signed
// token's shape is). None of them may create a Durable Object, write to D1 or reach the upstream.

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** A token in the signed format with a random (so wrong) MAC. */
const forgedSigned = () =>
  `wt_${Array.from(crypto.getRandomValues(new Uint8Array(48)), (b) => ALPHABET[b % 62]).join("")}`;

type ErrorJson = { error: { code: string } };

/** Rows per table of the D1 database, and the Durable Objects of each namespace that hold storage. */
async function storage(): Promise<{ tables: Record<string, number>; objects: Record<string, number> }> {
  const names = await env.DB.prepare(
    "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '_cf_%' and name != 'd1_migrations'",
  ).all<{ name: string }>();
  const tables: Record<string, number> = {};
  for (const { name } of names.results) {
    const row = await env.DB.prepare(`select count(*) as n from "${name}"`).first<{ n: number }>();
    tables[name] = row?.n ?? 0;
  }
  const objects = {
    token: (await listDurableObjectIds(env.TOKEN_DO)).length,
    project: (await listDurableObjectIds(env.PROJECT_DO)).length,
    fanout: (await listDurableObjectIds(env.TOKEN_FANOUT)).length,
  };
  return { tables, objects };
}

/** Runs `count` calls of `task`, `concurrency` at a time. */
async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

describe("forged tokens", () => {
  it("refuses 10 000 distinct forged tokens without a Durable Object, a D1 write or an upstream call", {
    timeout: 180_000,
  }, async () => {
    // A real token used once, so the namespaces and tables are not empty to begin with.
    const { token } = await mockProjectToken({ max_requests: 100 });
    expect((await proxy("/models", { token: token.token })).status).toBe(200);
    // Its event reaches the rollups through the queue: wait for it, so only the forgeries change anything.
    await eventually(async () => ((await storage()).tables.usage_hourly ?? 0) > 0, 20_000);
    const before = await storage();
    const tag = newTag();
    const codes = await pool(10_000, 50, async (i) => {
      // Half signed-format forgeries, half legacy-format ones with a correct (public) checksum; some as
      // chat requests with a body to parse, some on other headers.
      const secret = i % 2 === 0 ? forgedSigned() : generateLegacyTokenSecret();
      const res =
        i % 5 === 0
          ? await proxy("/chat/completions", {
              headers: { "x-api-key": secret, "x-mock-tag": tag },
              json: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
            })
          : await proxy("/models", { token: secret, headers: { "x-mock-tag": tag } });
      return `${res.status} ${((await res.json()) as ErrorJson).error.code} ${i % 2 === 0 ? "signed" : "legacy"}`;
    });
    const tally = new Map<string, number>();
    for (const c of codes) tally.set(c, (tally.get(c) ?? 0) + 1);
    expect(Object.fromEntries(tally)).toEqual({
      "401 invalid_token signed": 5_000,
      "401 token_not_found legacy": 5_000,
    });
    expect(await upstreamSaw(tag)).toHaveLength(0);
    const after = await storage();
    expect(after.objects).toEqual(before.objects);
    // Token-related tables are untouched. Refusals of unidentified requests are counted, by hour and error
    // code only (rejections_hourly), and a bounded burst of them is logged as events (the event ledger):
    // the same few rows whatever the number of forged tokens.
    for (const table of ["projects", "tokens", "audit_log", "usage_hourly"]) {
      expect(after.tables[table], table).toBe(before.tables[table]);
    }
    expect(
      (after.tables.rejections_hourly ?? 0) - (before.tables.rejections_hourly ?? 0),
    ).toBeLessThanOrEqual(4);
  });

  it("keeps working for tokens issued in the legacy CRC32 format", async () => {
    const { token } = await mockProjectToken();
    const legacy = generateLegacyTokenSecret();
    // A token row as a pre-issue-10 gateway wrote it: the hash of a CRC32-format secret.
    // (Its object is named by that hash too, as migration 0005 set every existing token's object_key.)
    const hash = await hashToken(legacy);
    await env.DB.prepare("update tokens set token_hash = ?, object_key = ? where id = ?")
      .bind(hash, hash, token.id)
      .run();
    const res = await proxy("/models", { token: legacy });
    expect(res.status).toBe(200);
    // ... and revoking it by value works as before.
    expect((await manage("/tokens", { method: "DELETE", body: { token: legacy } })).status).toBe(204);
    const revoked = await proxy("/models", { token: legacy });
    expect([revoked.status, (await json<ErrorJson>(revoked)).error.code]).toEqual([401, "token_inactive"]);
  });

  it("leaves no storage behind for a genuine but unknown token (say, one deleted)", async () => {
    // A token only the gateway could have signed, unknown to D1: its object is asked (the MAC cannot tell
    // a deleted token from a live one) but writes nothing — no table, no key, no alarm.
    for (let i = 0; i < 20; i++) {
      const secret = await generateTokenSecret(env);
      const res = await proxy("/models", { token: secret });
      expect([res.status, (await json<ErrorJson>(res)).error.code]).toEqual([401, "token_not_found"]);
      const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(secret)));
      const stored = await runInDurableObject(stub, async (_: unknown, state: DurableObjectState) => ({
        tables: state.storage.sql.exec<{ n: number }>("select count(*) as n from sqlite_master").one().n,
        keys: [...state.storage.kv.list()].length,
        alarm: await state.storage.getAlarm(),
      }));
      expect(stored).toEqual({ tables: 0, keys: 0, alarm: null });
    }
  });

  it("refuses legacy tokens without a lookup once LEGACY_TOKENS is refuse", async () => {
    const req = new Request("http://gateway.test/v1/models", {
      headers: { authorization: `Bearer ${generateLegacyTokenSecret()}` },
    });
    const res = await worker.fetch(req, { ...env, LEGACY_TOKENS: "refuse" }, createExecutionContext());
    expect([res.status, (await json<ErrorJson>(res)).error.code]).toEqual([401, "token_not_found"]);
  });
});
