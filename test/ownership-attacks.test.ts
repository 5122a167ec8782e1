import type OpenAI from "openai";
import { toFile } from "openai";
import { describe, expect, it, vi } from "vitest";
import { projectWith } from "./support/objects";
import { newTag, proxy, upstreamSaw } from "./support/proxy";

// An attacker's review of object ownership (docs/security.md, "What a token may touch"): a token of one
// project tries to reach another project's objects on the shared upstream account by ways the first tests
// did not try. Each case names the hole it closes.
vi.setConfig({ testTimeout: 30_000 });

const LINE = '{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{}}\n';
const upload = async (sdk: OpenAI) =>
  sdk.files.create({ file: await toFile(new TextEncoder().encode(LINE), "in.jsonl"), purpose: "user_data" });

describe("a body's objects are checked whatever the client calls its content type", () => {
  // Hole: only bodies whose content-type contained the lower-case "application/json" were read. Any other
  // spelling an upstream still reads as JSON (media types are case-insensitive; OpenAI's own examples send
  // none with some clients) went upstream unread, so the ids in it were never checked: a token with no
  // capability at all could name another project's file, response or vector store.
  it("Application/JSON, text/plain, none, forms: read and checked; JSON-looking text it cannot read refused", async () => {
    const a = await projectWith();
    const b = await projectWith(1, {});
    const file = await upload(a.sdks[0]!);
    const response = await a.sdks[0]!.responses.create({ model: "gpt-4o-mini", input: "hello" });
    const tag = newTag();
    const body = JSON.stringify({
      model: "gpt-4o-mini",
      previous_response_id: response.id,
      input: [{ role: "user", content: [{ type: "input_file", file_id: file.id }] }],
    });
    const bytes = new TextEncoder().encode(body);
    const types: (string | null)[] = [
      "Application/JSON",
      "APPLICATION/JSON; charset=utf-8",
      "text/plain",
      "text/plain;charset=UTF-8",
      null,
    ];
    for (const type of types) {
      const headers: Record<string, string> = { "x-mock-tag": tag };
      if (type) headers["content-type"] = type;
      // A Uint8Array body gets no content-type of its own from fetch.
      const res = await proxy("/responses", { token: b.tokens[0]!.token, body: bytes, headers });
      const error = ((await res.json()) as { error: { code: string } }).error;
      expect([type, res.status, error.code]).toEqual([type, 404, "object_not_found"]);
    }
    // A form names objects by its field names; JSON-looking text the gateway cannot read as an object (which
    // a lenient upstream parser might) is refused, never forwarded unchecked.
    const form = `model=gpt-4o-mini&input=hi&previous_response_id=${encodeURIComponent(response.id)}`;
    const formRes = await proxy("/responses", {
      token: b.tokens[0]!.token,
      body: form,
      headers: { "content-type": "application/x-www-form-urlencoded", "x-mock-tag": tag },
    });
    expect(formRes.status).toBe(404);
    const nested = `model=gpt-4o-mini&input=hi&tools[0][type]=file_search&tools[0][vector_store_ids][0]=vs_theirs`;
    const nestedRes = await proxy("/responses", {
      token: b.tokens[0]!.token,
      body: nested,
      headers: { "content-type": "application/x-www-form-urlencoded", "x-mock-tag": tag },
    });
    expect(nestedRes.status).toBe(404);
    const unreadable: [string, string][] = [
      ["application/json", body.replace('"model"', '"temperature":NaN,"model"')],
      ["text/plain", body.replace('"model"', '"temperature":NaN,"model"')],
      ["text/plain", `[${body}]`],
    ];
    for (const [type, text] of unreadable) {
      const res = await proxy("/responses", {
        token: b.tokens[0]!.token,
        body: text,
        headers: { "content-type": type, "x-mock-tag": tag },
      });
      const error = ((await res.json()) as { error: { code: string } }).error;
      expect([type, res.status, error.code]).toEqual([type, 400, "invalid_json"]);
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    // The owner's own request in any spelling still goes through, and an empty POST (a cancel) is no body.
    const own = await proxy("/responses", {
      token: a.tokens[0]!.token,
      body: bytes,
      headers: { "content-type": "Application/JSON" },
    });
    expect(own.status).toBe(200);
    const cancel = await proxy(`/responses/${response.id}/cancel`, {
      token: a.tokens[0]!.token,
      method: "POST",
    });
    expect(cancel.status).not.toBe(400);
  });
});

describe("a batch's requests name objects too", () => {
  // Hole: a batch runs the requests of its input file upstream with the project's key, and the gateway
  // checked only the file's owner, never what the lines inside it name. A token with files and batches
  // enabled could upload lines continuing another project's response or reading its files and vector
  // stores, and have the upstream run them.
  it("a batch whose input lines name another project's objects is refused before it is created", async () => {
    const a = await projectWith();
    const b = await projectWith();
    const victimFile = await upload(a.sdks[0]!);
    const victim = await a.sdks[0]!.responses.create({ model: "gpt-4o-mini", input: "secret" });
    const line = (body: unknown) =>
      `${JSON.stringify({ custom_id: crypto.randomUUID(), method: "POST", url: "/v1/responses", body })}\n`;
    const ownFile = await upload(b.sdks[0]!);
    const lines = [
      line({ model: "gpt-4o-mini", input: "fine" }),
      line({ model: "gpt-4o-mini", input: "more", previous_response_id: victim.id }),
      line({
        model: "gpt-4o-mini",
        input: [{ role: "user", content: [{ type: "input_file", file_id: victimFile.id }] }],
      }),
    ];
    const tag = newTag();
    const tries: [string, string][] = [
      [lines[0]! + lines[1]!, victim.id],
      [lines[0]! + lines[2]!, victimFile.id],
      // A line the gateway cannot read cannot be checked: refused too.
      [`${lines[0]!}{"custom_id":"x","body":{"temperature":NaN}}\n`, "Line 2"],
    ];
    for (const [content, named] of tries) {
      const input = await b.sdks[0]!.files.create({
        file: await toFile(new TextEncoder().encode(content), "in.jsonl"),
        purpose: "batch",
      });
      const res = await proxy("/batches", {
        token: b.tokens[0]!.token,
        json: { input_file_id: input.id, endpoint: "/v1/responses", completion_window: "24h" },
        headers: { "x-mock-tag": tag },
      });
      const text = await res.text();
      expect([res.status, text.includes(named)]).toEqual([named === "Line 2" ? 400 : 404, true]);
    }
    // Only the reads of the input files reached the upstream: no batch was made.
    expect((await upstreamSaw(tag)).filter((r) => r.method === "POST")).toHaveLength(0);
    // One's own objects in the lines are fine.
    const ownResponse = await b.sdks[0]!.responses.create({ model: "gpt-4o-mini", input: "mine" });
    const fine = await b.sdks[0]!.files.create({
      file: await toFile(
        new TextEncoder().encode(
          lines[0]! +
            line({ model: "gpt-4o-mini", input: "x", previous_response_id: ownResponse.id }) +
            line({
              model: "gpt-4o-mini",
              input: [{ role: "user", content: [{ type: "input_file", file_id: ownFile.id }] }],
            }),
        ),
        "in.jsonl",
      ),
      purpose: "batch",
    });
    const batch = await b.sdks[0]!.batches.create({
      input_file_id: fine.id,
      endpoint: "/v1/responses",
      completion_window: "24h",
    });
    expect(batch.id).toMatch(/^batch_/);
  });
});

describe("input items the upstream loads by id", () => {
  // Hole: only bare references (`{id}`, `item_reference`) were checked. A reasoning item replayed without
  // its `encrypted_content` carries nothing but its id: the upstream loads the stored reasoning by that id,
  // so another project's reasoning item could be put into a token's context.
  it("a reasoning item without its encrypted content is a reference; with it, a replay", async () => {
    const b = await projectWith(1, {});
    const tag = newTag();
    const asked = (item: Record<string, unknown>) =>
      proxy("/responses", {
        token: b.tokens[0]!.token,
        json: { model: "gpt-4o-mini", input: [item, { role: "user", content: "go on" }] },
        headers: { "x-mock-tag": tag },
      });
    const bare = await asked({ type: "reasoning", id: "rs_someone_else", summary: [] });
    expect(bare.status).toBe(404);
    expect(((await bare.json()) as { error: { param: string } }).error.param).toBe("input");
    expect(await upstreamSaw(tag)).toHaveLength(0);
    const replay = await asked({
      type: "reasoning",
      id: "rs_stateless",
      summary: [],
      encrypted_content: "gAAAA-opaque",
    });
    expect(replay.status).toBe(200);
  });
});
