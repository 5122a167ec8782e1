import type OpenAI from "openai";
import { toFile } from "openai";
import { describe, expect, it, vi } from "vitest";
import { fileContentBytes } from "./support/mock-files";
import { errorOf, patchProject, projectWith, statusOf } from "./support/objects";
import { allUpstreamRequests, mockProjectToken, newTag, proxy, upstreamSaw } from "./support/proxy";

// Two projects on ONE upstream account (the same key), as an operator with one OpenAI key would run a
// class: every object id is global in that account, and the upstream itself would show anyone everything.
// A miss on a response, item or stored completion waits RECORD_GRACE_MS (they are recorded off the client's
// path): tests probing several of them take seconds.
vi.setConfig({ testTimeout: 30_000 });

const LINE = '{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{}}\n';
const upload = async (sdk: OpenAI, purpose: "batch" | "user_data" | "assistants" | "fine-tune" = "batch") =>
  sdk.files.create({ file: await toFile(new TextEncoder().encode(LINE), "in.jsonl"), purpose });

describe("endpoints per project", () => {
  it("refuses every account-wide capability to a project that has not enabled it, and says how to", async () => {
    const { token } = await mockProjectToken();
    const tag = newTag();
    const tries: [string, string, unknown?][] = [
      ["GET", "/files"],
      ["POST", "/files"],
      ["GET", "/files/file-abc"],
      ["GET", "/files/file-abc/content"],
      ["DELETE", "/files/file-abc"],
      ["POST", "/uploads", { filename: "a", purpose: "batch", bytes: 1, mime_type: "text/plain" }],
      ["GET", "/batches"],
      [
        "POST",
        "/batches",
        { input_file_id: "file-abc", endpoint: "/v1/chat/completions", completion_window: "24h" },
      ],
      ["GET", "/vector_stores"],
      ["POST", "/vector_stores", { name: "x" }],
      ["GET", "/chat/completions"],
      ["GET", "/chat/completions/chatcmpl-abc"],
      ["DELETE", "/chat/completions/chatcmpl-abc"],
      ["GET", "/chat/completions/chatcmpl-abc/messages"],
      ["POST", "/conversations", {}],
      ["GET", "/conversations/conv_abc"],
      ["GET", "/fine_tuning/jobs"],
      ["POST", "/fine_tuning/jobs", { model: "gpt-4o-mini", training_file: "file-abc" }],
      ["DELETE", "/models/ft:gpt-4o-mini:org::abc"],
    ];
    for (const [method, path, body] of tries) {
      const res = await proxy(path, {
        method,
        token: token.token,
        headers: { "x-mock-tag": tag },
        ...(body === undefined ? {} : { json: body }),
      });
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect([method, path, res.status, error.code]).toEqual([method, path, 404, "endpoint_not_found"]);
      expect(error.message).toMatch(/not enabled for this token's project.*capabilities/);
      expect(res.headers.get("x-should-retry")).toBe("false");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    // Inference is the default: still there.
    const chat = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
    });
    expect(chat.status).toBe(200);
  });

  it("opens a capability when the project enables it, and closes it again", async () => {
    const { project, token } = await mockProjectToken();
    expect((await proxy("/files", { token: token.token })).status).toBe(404);
    await patchProject(project.id, { capabilities: ["files", "files"] });
    const res = await proxy("/files", { token: token.token });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ object: "list", data: [], has_more: false });
    expect((await proxy("/batches", { token: token.token })).status).toBe(404);
    await patchProject(project.id, { capabilities: [] });
    expect((await proxy("/files", { token: token.token })).status).toBe(404);
  });
});

describe("ownership across two projects on one upstream account", () => {
  it("files: a token of the other project cannot get, download, delete, list or use them", async () => {
    const a = await projectWith();
    const b = await projectWith();
    const [sa] = a.sdks as [OpenAI];
    const [sb] = b.sdks as [OpenAI];
    const file = await upload(sa);
    expect(file.id).toMatch(/^file-/);

    expect((await sa.files.retrieve(file.id)).id).toBe(file.id);
    const tag = newTag();
    const probe = { headers: { "x-mock-tag": tag } };
    const missing = await errorOf(sb.files.retrieve(file.id, probe));
    expect(missing).toMatchObject({ status: 404, code: "object_not_found" });
    expect(missing.message).toContain(`No such File object: ${file.id}`);
    expect(await statusOf(sb.files.content(file.id, probe))).toBe(404);
    expect(await statusOf(sb.files.delete(file.id, probe))).toBe(404);
    const theirs = await sb.files.list({}, probe);
    expect(theirs.data.map((f) => f.id)).not.toContain(file.id);
    // As a body input: a batch, a vector store, a chat content part, a Responses input file.
    const asInput = [
      sb.batches.create(
        { input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" },
        probe,
      ),
      sb.vectorStores.create({ name: "x", file_ids: [file.id] }, probe),
      sb.chat.completions.create(
        {
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: [{ type: "file", file: { file_id: file.id } }] }],
        },
        probe,
      ),
      sb.responses.create(
        {
          model: "gpt-4o-mini",
          input: [{ role: "user", content: [{ type: "input_file", file_id: file.id }] }],
        },
        probe,
      ),
      sb.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: file.id }, probe),
    ];
    for (const call of asInput)
      expect(await errorOf(call)).toMatchObject({ status: 404, code: "object_not_found" });
    // Nothing of it reached the upstream: the refusals are the gateway's, whether the file exists or not.
    expect(await upstreamSaw(tag)).toHaveLength(0);

    // Its owner still has it, byte for byte.
    const content = await sa.files.content(file.id);
    expect(await content.text()).toContain("custom_id");
    expect((await sa.files.list()).data.map((f) => f.id)).toContain(file.id);
    expect((await sa.files.delete(file.id)).deleted).toBe(true);
    expect(await statusOf(sa.files.retrieve(file.id))).toBe(404);
  });

  it("batches: created from one's own file only; their output files belong to the batch's owner", async () => {
    const a = await projectWith();
    const b = await projectWith();
    const [sa] = a.sdks as [OpenAI];
    const [sb] = b.sdks as [OpenAI];
    const input = await upload(sa);
    const batch = await sa.batches.create({
      input_file_id: input.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    expect(await statusOf(sb.batches.retrieve(batch.id))).toBe(404);
    expect(await statusOf(sb.batches.cancel(batch.id))).toBe(404);
    expect((await sb.batches.list()).data.map((x) => x.id)).not.toContain(batch.id);
    const done = await sa.batches.retrieve(batch.id);
    expect(done.output_file_id).toMatch(/^file-/);
    // Recorded before the answer reached the client: the very next request may download it.
    expect(await (await sa.files.content(done.output_file_id!)).text()).toBe("{}\n");
    expect(await statusOf(sb.files.content(done.output_file_id!))).toBe(404);
    expect((await sa.batches.list()).data.map((x) => x.id)).toEqual([batch.id]);
  });

  it("vector stores: by id, by list, in file_search tools, and their files", async () => {
    const a = await projectWith();
    const b = await projectWith();
    const [sa] = a.sdks as [OpenAI];
    const [sb] = b.sdks as [OpenAI];
    const file = await upload(sa, "assistants");
    const vs = await sa.vectorStores.create({ name: "notes", file_ids: [file.id] });
    expect((await sa.vectorStores.retrieve(vs.id)).name).toBe("notes");
    expect(await statusOf(sb.vectorStores.retrieve(vs.id))).toBe(404);
    expect(await statusOf(sb.vectorStores.delete(vs.id))).toBe(404);
    expect(await statusOf(sb.vectorStores.files.list(vs.id))).toBe(404);
    expect(await statusOf(sb.vectorStores.search(vs.id, { query: "x" }))).toBe(404);
    expect((await sb.vectorStores.list()).data.map((x) => x.id)).not.toContain(vs.id);
    const search = sb.responses.create({
      model: "gpt-4o-mini",
      input: "find it",
      tools: [{ type: "file_search", vector_store_ids: [vs.id] }],
    });
    expect(await errorOf(search)).toMatchObject({ status: 404, param: "vector_store_ids" });
    // Adding someone else's file to one's own store is using it as input too.
    const own = await sb.vectorStores.create({ name: "mine" });
    expect(await statusOf(sb.vectorStores.files.create(own.id, { file_id: file.id }))).toBe(404);
    expect((await sa.vectorStores.files.list(vs.id)).data.map((f) => f.id)).toEqual([file.id]);
    expect((await sa.vectorStores.list()).data.map((x) => x.id)).toEqual([vs.id]);
  });

  it("responses: get, delete, cancel, input items, previous_response_id and item references are the creator's", async () => {
    const a = await projectWith(1, {});
    const b = await projectWith(1, {});
    const [sa] = a.sdks as [OpenAI];
    const [sb] = b.sdks as [OpenAI];
    const first = await sa.responses.create({ model: "gpt-4o-mini", input: "hello" });
    expect(first.id).toMatch(/^resp_/);
    expect((await sa.responses.retrieve(first.id)).id).toBe(first.id);
    const items = await sa.responses.inputItems.list(first.id);
    expect(items.data.length).toBe(1);

    const tag = newTag();
    const probe = { headers: { "x-mock-tag": tag } };
    expect(await statusOf(sb.responses.retrieve(first.id, {}, probe))).toBe(404);
    expect(await statusOf(sb.responses.inputItems.list(first.id, {}, probe))).toBe(404);
    expect(await statusOf(sb.responses.cancel(first.id, probe))).toBe(404);
    expect(await statusOf(sb.responses.delete(first.id, probe))).toBe(404);
    const follow = sb.responses.create(
      { model: "gpt-4o-mini", input: "more", previous_response_id: first.id },
      probe,
    );
    expect(await errorOf(follow)).toMatchObject({ status: 404, param: "previous_response_id" });
    const outputItem = first.output[0]!.id!;
    const reference = sb.responses.create(
      { model: "gpt-4o-mini", input: [{ type: "item_reference", id: outputItem }] },
      probe,
    );
    expect(await errorOf(reference)).toMatchObject({ status: 404, param: "input" });
    const inputItem = items.data[0]!.id;
    expect(
      await statusOf(
        sb.responses.create({ model: "gpt-4o-mini", input: [{ id: inputItem } as never] }, probe),
      ),
    ).toBe(404);
    expect(await upstreamSaw(tag)).toHaveLength(0);

    // The creator continues its own thread, by id and by item.
    const second = await sa.responses.create({
      model: "gpt-4o-mini",
      input: "more",
      previous_response_id: first.id,
    });
    expect(second.id).not.toBe(first.id);
    const third = await sa.responses.create({
      model: "gpt-4o-mini",
      input: [
        { type: "item_reference", id: outputItem },
        { type: "item_reference", id: inputItem },
      ],
    });
    expect(third.status).toBe("completed");
    expect((await sa.responses.delete(first.id)) ?? "deleted").toBeDefined();
    expect(await statusOf(sa.responses.retrieve(first.id))).toBe(404);
  });

  it("a streamed response is the creator's as soon as its first event arrives, and only the creator's", async () => {
    const a = await projectWith(1, {});
    const b = await projectWith(1, {});
    const [sa] = a.sdks as [OpenAI];
    const [sb] = b.sdks as [OpenAI];
    const stream = await sa.responses.create({ model: "gpt-4o-mini", input: "hi", stream: true });
    let id = "";
    let cancelled = 0;
    for await (const event of stream) {
      if (event.type === "response.created") {
        id = event.response.id;
        // Mid-stream: the client may act on the id it was just given (here: cancel it).
        cancelled = await statusOf(sa.responses.cancel(id));
      }
    }
    expect(id).toMatch(/^resp_/);
    expect(cancelled).toBe(200);
    expect(await statusOf(sa.responses.retrieve(id))).toBe(200);
    expect(await statusOf(sb.responses.retrieve(id))).toBe(404);
  });

  it("responses with store: false record nothing and stay retrievable by nobody", async () => {
    const a = await projectWith(1, {});
    const [sa] = a.sdks as [OpenAI];
    const res = await sa.responses.create({ model: "gpt-4o-mini", input: "hi", store: false });
    expect(await statusOf(sa.responses.retrieve(res.id))).toBe(404);
  });

  it("conversations: reachable, listable and usable as Responses context by their creator only", async () => {
    const a = await projectWith();
    const b = await projectWith();
    const [sa] = a.sdks as [OpenAI];
    const [sb] = b.sdks as [OpenAI];
    const conv = await sa.conversations.create({ items: [{ type: "message", role: "user", content: "hi" }] });
    expect(conv.id).toMatch(/^conv_/);
    expect(await statusOf(sb.conversations.retrieve(conv.id))).toBe(404);
    expect(await statusOf(sb.conversations.items.list(conv.id))).toBe(404);
    expect(await statusOf(sb.conversations.delete(conv.id))).toBe(404);
    for (const conversation of [conv.id, { id: conv.id }]) {
      const use = sb.responses.create({ model: "gpt-4o-mini", input: "x", conversation });
      expect(await errorOf(use)).toMatchObject({ status: 404, param: "conversation" });
    }
    const items = await sa.conversations.items.list(conv.id);
    expect(items.data).toHaveLength(1);
    const reply = await sa.responses.create({ model: "gpt-4o-mini", input: "x", conversation: conv.id });
    expect(reply.status).toBe("completed");
    // An item of the conversation, referenced by id: the creator's, not the other project's.
    const item = items.data[0]!.id!;
    expect(
      await statusOf(
        sb.responses.create({ model: "gpt-4o-mini", input: [{ type: "item_reference", id: item }] }),
      ),
    ).toBe(404);
    expect(
      await statusOf(
        sa.responses.create({ model: "gpt-4o-mini", input: [{ type: "item_reference", id: item }] }),
      ),
    ).toBe(200);
  });

  it("stored chat completions: the creator's to read, list, update and delete", async () => {
    const a = await projectWith();
    const b = await projectWith();
    const [sa] = a.sdks as [OpenAI];
    const [sb] = b.sdks as [OpenAI];
    const messages = [{ role: "user" as const, content: "hi" }];
    const stored = await sa.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      store: true,
      metadata: { k: "v" },
    });
    expect(stored.id).toMatch(/^chatcmpl-/);
    // Recorded off the client's path: asked for at once, it is found all the same.
    expect((await sa.chat.completions.retrieve(stored.id)).id).toBe(stored.id);
    const streamed = await sa.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      store: true,
      stream: true,
    });
    let streamedId = "";
    for await (const chunk of streamed) streamedId ||= chunk.id;
    expect((await sa.chat.completions.retrieve(streamedId)).id).toBe(streamedId);
    await sa.chat.completions.create({ model: "gpt-4o-mini", messages }); // not stored: not listed

    expect(await statusOf(sb.chat.completions.retrieve(stored.id))).toBe(404);
    expect(await statusOf(sb.chat.completions.messages.list(stored.id))).toBe(404);
    expect(await statusOf(sb.chat.completions.update(stored.id, { metadata: { k: "w" } }))).toBe(404);
    expect(await statusOf(sb.chat.completions.delete(stored.id))).toBe(404);
    expect((await sb.chat.completions.list()).data).toEqual([]);
    const mine = await sa.chat.completions.list();
    expect(mine.data.map((c) => c.id).sort()).toEqual([stored.id, streamedId].sort());
    expect((await sa.chat.completions.list({ metadata: { k: "v" } })).data.map((c) => c.id)).toEqual([
      stored.id,
    ]);
    expect((await sa.chat.completions.messages.list(stored.id)).data).toHaveLength(1);
    expect((await sa.chat.completions.delete(stored.id)).deleted).toBe(true);
  });

  it("uploads: parts and the file they complete into are the uploader's", async () => {
    const a = await projectWith();
    const b = await projectWith();
    const [sa] = a.sdks as [OpenAI];
    const [sb] = b.sdks as [OpenAI];
    const start = () =>
      sa.uploads.create({ filename: "x.jsonl", purpose: "batch", bytes: 6, mime_type: "text/jsonl" });
    const up = await start();
    const part = await sa.uploads.parts.create(up.id, {
      data: await toFile(new TextEncoder().encode("abc\n"), "p"),
    });
    expect(
      await statusOf(
        sb.uploads.parts.create(up.id, { data: await toFile(new TextEncoder().encode("x"), "p") }),
      ),
    ).toBe(404);
    expect(await statusOf(sb.uploads.complete(up.id, { part_ids: [part.id] }))).toBe(404);
    expect(await statusOf(sb.uploads.cancel(up.id))).toBe(404);
    // Another project's part named in one's own upload.
    const theirs = await sb.uploads.create({
      filename: "y",
      purpose: "batch",
      bytes: 1,
      mime_type: "text/plain",
    });
    expect(await errorOf(sb.uploads.complete(theirs.id, { part_ids: [part.id] }))).toMatchObject({
      status: 404,
      param: "part_ids",
    });
    const done = await sa.uploads.complete(up.id, { part_ids: [part.id] });
    expect(done.file?.id).toMatch(/^file-/);
    expect(await (await sa.files.content(done.file!.id)).text()).toBe("abc\n");
    expect(await statusOf(sb.files.retrieve(done.file!.id))).toBe(404);
  });

  it("fine-tuning: jobs, their models (deletable by their owner only) and result files", async () => {
    const a = await projectWith();
    const b = await projectWith();
    const [sa] = a.sdks as [OpenAI];
    const [sb] = b.sdks as [OpenAI];
    const training = await upload(sa, "fine-tune");
    const job = await sa.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: training.id });
    expect(await statusOf(sb.fineTuning.jobs.retrieve(job.id))).toBe(404);
    expect(await statusOf(sb.fineTuning.jobs.cancel(job.id))).toBe(404);
    expect((await sb.fineTuning.jobs.list()).data).toEqual([]);
    const done = await sa.fineTuning.jobs.retrieve(job.id);
    const model = done.fine_tuned_model!;
    expect(model).toMatch(/^ft:/);
    expect(await statusOf(sb.models.delete(model))).toBe(404);
    expect(await statusOf(sb.files.retrieve(done.result_files[0]!))).toBe(404);
    expect(await statusOf(sa.files.retrieve(done.result_files[0]!))).toBe(200);
    expect((await sa.fineTuning.jobs.list()).data.map((j) => j.id)).toEqual([job.id]);
    expect((await sa.models.delete(model)).deleted).toBe(true);
  });

  it("lists page through exactly one's own objects, however many the account holds", async () => {
    const a = await projectWith();
    const b = await projectWith();
    const [sa] = a.sdks as [OpenAI];
    const [sb] = b.sdks as [OpenAI];
    const mine: string[] = [];
    for (let i = 0; i < 7; i++) {
      mine.push((await upload(sa)).id);
      await upload(sb);
    }
    const seen: string[] = [];
    for await (const f of sa.files.list({ limit: 2 })) seen.push(f.id);
    expect(seen).toEqual([...mine].reverse());
    const asc: string[] = [];
    for await (const f of sa.files.list({ limit: 3, order: "asc" })) asc.push(f.id);
    expect(asc).toEqual(mine);
    const first = await sa.files.list({ limit: 3 });
    expect(first.data).toHaveLength(3);
    expect(first.has_more).toBe(true);
    // A cursor of someone else's object finds nothing (it cannot be placed without telling where it is).
    const theirs = (await sb.files.list({ limit: 1 })).data[0]!.id;
    expect((await sa.files.list({ after: theirs })).data).toEqual([]);
    // `purpose` filters from the record.
    await upload(sa, "user_data");
    expect((await sa.files.list({ purpose: "user_data" })).data).toHaveLength(1);
    // A page of the gateway's own size: the raw list holds all eight.
    const raw = await proxy(`/files?limit=100`, { token: a.tokens[0]!.token });
    expect(((await raw.json()) as { data: unknown[] }).data).toHaveLength(8);
  });
});

describe("ownership within one project", () => {
  it("is per token by default; the project setting widens it to all its tokens, and back", async () => {
    const p = await projectWith(2);
    const [s1, s2] = p.sdks as [OpenAI, OpenAI];
    const file = await upload(s1);
    const resp = await s1.responses.create({ model: "gpt-4o-mini", input: "hi" });
    expect(await statusOf(s2.files.retrieve(file.id))).toBe(404);
    expect(await statusOf(s2.responses.retrieve(resp.id))).toBe(404);
    expect((await s2.files.list()).data).toEqual([]);

    await patchProject(p.projectId, { object_scope: "project" });
    expect((await s2.files.retrieve(file.id)).id).toBe(file.id);
    expect((await s2.responses.retrieve(resp.id)).id).toBe(resp.id);
    expect((await s2.files.list()).data.map((f) => f.id)).toEqual([file.id]);
    const follow = await s2.responses.create({
      model: "gpt-4o-mini",
      input: "more",
      previous_response_id: resp.id,
    });
    expect(follow.status).toBe("completed");
    // Another project's token still sees nothing of it.
    const other = await projectWith(1);
    expect(await statusOf(other.sdks[0]!.files.retrieve(file.id))).toBe(404);

    await patchProject(p.projectId, { object_scope: "token" });
    expect(await statusOf(s2.files.retrieve(file.id))).toBe(404);
    expect((await s1.files.retrieve(file.id)).id).toBe(file.id);
  });
});

describe("ownership: attacks on the path and the body", () => {
  it("decodes an id in the path once, as the upstream does: encodings reach neither more nor less", async () => {
    const a = await projectWith();
    const b = await projectWith();
    const file = await upload(a.sdks[0]!);
    const encoded = file.id.replace("file-", "%66ile%2D");
    const own = await proxy(`/files/${encoded}`, { token: a.tokens[0]!.token });
    expect(own.status).toBe(200);
    expect(((await own.json()) as { id: string }).id).toBe(file.id);
    const tag = newTag();
    for (const path of [
      `/files/${encoded}`,
      `/files/${encoded}/content`,
      `/files/${encodeURIComponent(file.id)}`,
    ]) {
      const res = await proxy(path, { token: b.tokens[0]!.token, headers: { "x-mock-tag": tag } });
      expect([path, res.status]).toEqual([path, 404]);
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("finds ids wherever the body names them, whatever the nesting", async () => {
    const a = await projectWith();
    const b = await projectWith();
    const file = await upload(a.sdks[0]!);
    const deep = {
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "x" }],
      extra: [[{ a: { file_ids: ["nope", file.id] } }]],
    };
    const res = await proxy("/chat/completions", { token: b.tokens[0]!.token, json: deep });
    expect(res.status).toBe(404);
    // Code interpreter's container files, in the tool's own file list.
    const tool = await proxy("/responses", {
      token: b.tokens[0]!.token,
      json: {
        model: "gpt-4o-mini",
        input: "x",
        tools: [{ type: "code_interpreter", container: { type: "auto", file_ids: [file.id] } }],
      },
    });
    expect(tool.status).toBe(404);
    // Citations in replayed output name files without using them: not a reference.
    const cited = await proxy("/chat/completions", {
      token: b.tokens[0]!.token,
      json: {
        model: "gpt-4o-mini",
        messages: [
          { role: "assistant", content: "x", annotations: [{ type: "file_citation", file_id: file.id }] },
        ],
      },
    });
    expect(cited.status).toBe(200);
  });

  it("refuses ids of other projects in a chat completion whatever the project enabled: nothing stored is shared", async () => {
    const a = await projectWith();
    const b = await projectWith(1, {});
    const file = await upload(a.sdks[0]!);
    const res = await proxy("/chat/completions", {
      token: b.tokens[0]!.token,
      json: {
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: [{ type: "file", file: { file_id: file.id } }] }],
      },
    });
    expect(res.status).toBe(404);
  });

  it("a project deleted takes its record along", async () => {
    const a = await projectWith();
    await upload(a.sdks[0]!);
    const before = await allUpstreamRequests();
    expect(before.length).toBeGreaterThan(0);
    const { manage } = await import("./helpers");
    expect((await manage(`/projects/${a.projectId}`, { method: "DELETE" })).status).toBe(204);
    const { registryStub } = await import("./support/objects");
    expect(await registryStub(a.projectId).count()).toBe(0);
  });
});

describe("binary file content through an owned file", () => {
  it("returns it byte for byte", async () => {
    const a = await projectWith();
    const bytes = fileContentBytes();
    const file = await a.sdks[0]!.files.create({
      file: await toFile(bytes, "blob.bin"),
      purpose: "user_data",
    });
    const res = await proxy(`/files/${file.id}/content`, { token: a.tokens[0]!.token });
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
  });
});
