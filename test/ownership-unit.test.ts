import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ApiError } from "../src/lib/errors";
import { recordOf } from "../src/ownership/answers";
import type { NewRecord, ObjectRegistry, Owner } from "../src/ownership/durable";
import { accessOf } from "../src/ownership/endpoints";
import { MAX_REFS, referencedObjects } from "../src/ownership/refs";

const registry = () => env.OBJECT_REGISTRY.get(env.OBJECT_REGISTRY.newUniqueId());
const mine: Owner = { tokenId: "t1", scope: "token" };
const theirs: Owner = { tokenId: "t2", scope: "token" };
const project: Owner = { tokenId: "t2", scope: "project" };

function rec(id: string, extra: Partial<NewRecord> = {}): NewRecord {
  return {
    id,
    kind: "file",
    upstream: "",
    tokenId: "t1",
    createdAt: 1_000,
    expiresAt: null,
    slideMs: null,
    tag: null,
    ...extra,
  };
}

describe("which requests need what", () => {
  const cases: [string, string, Partial<ReturnType<typeof accessOf>>][] = [
    ["POST", "chat/completions", { capability: null, target: null, stores: "chat_completion" }],
    ["GET", "chat/completions", { capability: "stored_completions", list: "chat_completion" }],
    [
      "GET",
      "chat/completions/chatcmpl-1/messages",
      {
        capability: "stored_completions",
        target: { kind: "chat_completion", id: "chatcmpl-1", param: null },
      },
    ],
    ["POST", "responses", { capability: null, stores: "response" }],
    ["POST", "responses/input_tokens", { capability: null, target: null, stores: null }],
    [
      "GET",
      "responses/resp_1/input_items",
      { capability: null, target: { kind: "response", id: "resp_1", param: null } },
    ],
    ["DELETE", "responses/resp_1", { deletes: true }],
    ["POST", "files", { capability: "files", creates: "file" }],
    ["GET", "files", { capability: "files", list: "file" }],
    [
      "GET",
      "files/file-1/content",
      { capability: "files", target: { kind: "file", id: "file-1", param: null }, deletes: false },
    ],
    // A sub-path nobody knows yet: still the capability, still the owner of the id.
    [
      "POST",
      "files/file-1/something-new",
      { capability: "files", target: { kind: "file", id: "file-1", param: null } },
    ],
    [
      "POST",
      "uploads/upload_1/parts",
      {
        capability: "files",
        creates: "upload_part",
        target: { kind: "upload", id: "upload_1", param: null },
      },
    ],
    ["POST", "uploads/upload_1/complete", { derives: true }],
    ["GET", "batches/batch_1", { capability: "batches", derives: true }],
    [
      "POST",
      "vector_stores/vs_1/file_batches/vsfb_1/cancel",
      { capability: "vector_stores", target: { kind: "vector_store", id: "vs_1", param: null } },
    ],
    [
      "GET",
      "fine_tuning/jobs/ftjob-1/events",
      { capability: "fine_tuning", target: { kind: "fine_tuning_job", id: "ftjob-1", param: null } },
    ],
    ["POST", "fine_tuning/alpha/graders/run", { capability: "fine_tuning", target: null }],
    [
      "DELETE",
      "models/ft:gpt-4o-mini:org::x",
      { capability: "model_deletion", target: { kind: "model", id: "ft:gpt-4o-mini:org::x", param: null } },
    ],
    ["GET", "models/gpt-4o", { capability: null, target: null }],
    ["POST", "embeddings", { capability: null, target: null, stores: null }],
  ];
  it.each(cases)("%s %s", (method, path, expected) => {
    expect(accessOf(method, path.split("/"))).toMatchObject(expected);
  });

  it("never forwards checkpoint permissions (they share models with other organisations)", () => {
    expect(() => accessOf("POST", ["fine_tuning", "checkpoints", "ft:x", "permissions"])).toThrow(ApiError);
    // Anthropic's message batches: account-wide, with no owner the gateway could check.
    expect(() => accessOf("GET", ["messages", "batches"])).toThrow(ApiError);
    expect(accessOf("POST", ["messages"])).toMatchObject({ capability: null, target: null });
  });
});

describe("objects a body names", () => {
  it("finds them by field name anywhere, each once, and item references in input lists", () => {
    const refs = referencedObjects({
      input_file_id: "file-a",
      previous_response_id: "resp_1",
      conversation: { id: "conv_1" },
      tools: [{ type: "file_search", vector_store_ids: ["vs_1", "vs_2"] }],
      messages: [
        {
          content: [
            { type: "file", file: { file_id: "file-b" } },
            { type: "file", file: { file_id: "file-a" } },
          ],
        },
      ],
      input: [
        { type: "item_reference", id: "msg_1" },
        { id: "rs_1" },
        { type: "message", id: "msg_2", content: "x" },
      ],
      part_ids: ["part_1"],
      deep: [[[{ training_file: "file-c" }]]],
    });
    const got = refs.map((r) => `${r.kind}:${r.id}:${r.param}`).sort();
    expect(got).toEqual(
      [
        "file:file-a:input_file_id",
        "response:resp_1:previous_response_id",
        "conversation:conv_1:conversation",
        "vector_store:vs_1:vector_store_ids",
        "vector_store:vs_2:vector_store_ids",
        "file:file-b:file_id",
        "item:msg_1:input",
        "item:rs_1:input",
        "upload_part:part_1:part_ids",
        "file:file-c:training_file",
      ].sort(),
    );
  });

  it("ignores citations, prototype names and non-string values", () => {
    const body = JSON.parse(
      '{"annotations":[{"file_id":"file-x"}],"__proto__":{"file_id":"file-p"},"constructor":"file-q","file_id":7}',
    ) as Record<string, unknown>;
    expect(referencedObjects(body).map((r) => r.id)).toEqual(["file-p"]);
  });

  it("walks a deeply nested body without recursion, and refuses an absurd number of ids", () => {
    let deep: Record<string, unknown> = { file_id: "file-deep" };
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    expect(referencedObjects(deep).map((r) => r.id)).toEqual(["file-deep"]);
    const many = { file_ids: Array.from({ length: MAX_REFS + 1 }, (_, i) => `file-${i}`) };
    expect(() => referencedObjects(many)).toThrow(/more than/);
  });
});

describe("the registry (one Durable Object per project)", () => {
  it("answers per token or per project, and by kind", async () => {
    const r = registry();
    await r.record([rec("file-1"), rec("vs_1", { kind: "vector_store" })]);
    const ids = async (owner: Owner, kind: "file" | "batch") =>
      (await r.find(owner, [{ kind, id: "file-1" }], 0)).map((f) => f.id);
    expect(await ids(mine, "file")).toEqual(["file-1"]);
    expect(await ids(theirs, "file")).toEqual([]);
    expect(await ids(project, "file")).toEqual(["file-1"]);
    // The same id asked for as another kind is not found (a file id where a batch id goes).
    expect(await ids(mine, "batch")).toEqual([]);
  });

  it("keeps the first owner of an id: a later answer naming it never moves it", async () => {
    const r = registry();
    await r.record([rec("file-1")]);
    await r.record([rec("file-1", { tokenId: "t2" })]);
    expect(await r.find(theirs, [{ kind: "file", id: "file-1" }], 0)).toEqual([]);
    // Derived objects belong to whoever owns what they came from.
    await r.record([rec("file-out", { tokenId: "t2", from: "file-1" })]);
    expect((await r.find(mine, [{ kind: "file", id: "file-out" }], 0)).map((f) => f.id)).toEqual([
      "file-out",
    ]);
  });

  it("waits for a response recorded off the client's path, and only for those kinds", async () => {
    const r = registry();
    const started = Date.now();
    const lookup = r.find(mine, [{ kind: "response", id: "resp_late" }], 2_000);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await r.record([rec("resp_late", { kind: "response" })]);
    expect((await lookup).map((f) => f.id)).toEqual(["resp_late"]);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(1_500);
    // A file is recorded before its id reaches anyone: a miss is final at once.
    const t0 = Date.now();
    expect(await r.find(mine, [{ kind: "file", id: "file-never" }], 2_000)).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(500);
    // Someone else's response: the wait ends in a miss.
    await r.record([rec("resp_other", { kind: "response", tokenId: "t2" })]);
    expect(await r.find(mine, [{ kind: "response", id: "resp_other" }], 100)).toEqual([]);
  });

  it("forgets records when their objects' lifetimes end, and its alarm sweeps them", async () => {
    const r = registry();
    const now = Date.now();
    await r.record([
      rec("file-short", { expiresAt: now + 3_600_000 }),
      rec("file-forever"),
      rec("vs_slide", { kind: "vector_store", expiresAt: now + 86_400_000, slideMs: 86_400_000 }),
    ]);
    const later = now + 2 * 3_600_000;
    await runInDurableObject(r, (o: ObjectRegistry) => {
      o.clock = () => later;
    });
    expect(await r.find(mine, [{ kind: "file", id: "file-short" }], 0)).toEqual([]);
    // A use through the gateway starts a sliding lifetime again.
    expect((await r.find(mine, [{ kind: "vector_store", id: "vs_slide" }], 0)).length).toBe(1);
    expect(await r.count()).toBe(3);
    expect(await runDurableObjectAlarm(r)).toBe(true);
    expect(await r.count()).toBe(2);
    const dayAndMore = later + 86_400_000 + 1;
    await runInDurableObject(r, (o: ObjectRegistry) => {
      o.clock = () => dayAndMore;
    });
    expect(await r.find(mine, [{ kind: "vector_store", id: "vs_slide" }], 0)).toEqual([]);
    expect((await r.find(mine, [{ kind: "file", id: "file-forever" }], 0)).length).toBe(1);
  });

  it("pages in creation order both ways, with cursors, tags and other tokens' objects left out", async () => {
    const r = registry();
    const all: NewRecord[] = [];
    for (let i = 0; i < 6; i++) {
      all.push(
        rec(`file-${i}`, {
          createdAt: 1_000 + Math.floor(i / 2) * 1_000,
          tag: i % 2 ? "batch" : "user_data",
        }),
      );
      all.push(rec(`file-x${i}`, { tokenId: "t2", createdAt: 1_000 }));
    }
    await r.record(all);
    const page = (q: Parameters<typeof r.page>[1]) => r.page(mine, q);
    const ids = (p: Awaited<ReturnType<typeof page>>) => p.items.map((i) => i.id);
    const first = await page({ kind: "file", limit: 4, order: "desc" });
    expect(ids(first)).toEqual(["file-5", "file-4", "file-3", "file-2"]);
    expect(first.hasMore).toBe(true);
    const second = await page({ kind: "file", limit: 4, order: "desc", after: "file-2" });
    expect(ids(second)).toEqual(["file-1", "file-0"]);
    expect(second.hasMore).toBe(false);
    expect(ids(await page({ kind: "file", limit: 2, order: "asc", after: "file-1" }))).toEqual([
      "file-2",
      "file-3",
    ]);
    expect(ids(await page({ kind: "file", limit: 2, order: "desc", before: "file-1" }))).toEqual([
      "file-3",
      "file-2",
    ]);
    expect(ids(await page({ kind: "file", limit: 10, order: "asc", tag: "batch" }))).toEqual([
      "file-1",
      "file-3",
      "file-5",
    ]);
    // Someone else's id as a cursor: an empty page, not a position.
    expect(await page({ kind: "file", limit: 10, order: "asc", after: "file-x0" })).toEqual({
      items: [],
      hasMore: false,
    });
  });

  it("turns an upstream answer into a record with the object's own lifetime", () => {
    const at = { tokenId: "t", upstream: "", now: 5_000_000 };
    expect(
      recordOf("file", { id: "file-1", created_at: 100, expires_at: 200, purpose: "batch" }, at),
    ).toMatchObject({
      createdAt: 100_000,
      expiresAt: 200_000,
      tag: "batch",
    });
    expect(recordOf("response", { id: "resp_1", created_at: 100 }, at)?.expiresAt).toBe(
      at.now + 30 * 86_400_000,
    );
    expect(recordOf("batch", { id: "batch_1", expires_at: 200 }, at)?.expiresAt).toBeNull();
    const vs = recordOf(
      "vector_store",
      { id: "vs_1", expires_after: { anchor: "last_active_at", days: 7 }, expires_at: 300 },
      at,
    );
    expect(vs).toMatchObject({ expiresAt: 300_000, slideMs: 7 * 86_400_000 });
    expect(recordOf("file", { object: "list" }, at)).toBeNull();
  });
});
