// The mock upstream's stored objects: files, uploads, batches, vector stores, stored responses,
// conversations, stored chat completions, fine-tuning jobs and fine-tuned models, as OpenAI keeps them —
// per upstream account (the API key), with ids of OpenAI's shapes, cursor pagination
// (`after`/`before`/`limit`/`order` → `{object: "list", data, first_id, last_id, has_more}`), lifetimes
// (`expires_after`), and the upstream's own 404 for an id the account does not have. Every key sees every
// object of its account: exactly the sharing the gateway must not pass on.
//
// Plain Node with erasable types only, imported by mock-upstream.ts.

import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

type Obj = Record<string, unknown>;

/** What a route needs of the mock's request context. */
export type ObjectsCtx = {
  req: IncomingMessage;
  res: ServerResponse;
  body: Buffer;
  json: Record<string, unknown> | null;
};

type Stored = { obj: Obj; seq: number; content?: Buffer; extra?: Obj };

type Account = {
  objects: Map<string, Stored>;
  /** Items of responses and conversations, by id. */
  items: Map<string, Obj>;
  /** Input items of stored responses; items of conversations (ids, in order). */
  lists: Map<string, string[]>;
  /** Parts of uploads, by part id: the upload's id. */
  parts: Map<string, string>;
};

const accounts = new Map<string, Account>();
let seq = 0;

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const base62 = (n: number) => Array.from(randomBytes(n), (b) => BASE62[b % 62]).join("");
const hex = (n: number) => randomBytes(n).toString("hex");

/** Ids as OpenAI's look. */
export const ids = {
  file: () => `file-${base62(22)}`,
  upload: () => `upload_${base62(24)}`,
  part: () => `part_${base62(24)}`,
  batch: () => `batch_${hex(16)}`,
  vectorStore: () => `vs_${base62(24)}`,
  response: () => `resp_${hex(24)}`,
  message: () => `msg_${hex(24)}`,
  conversation: () => `conv_${hex(24)}`,
  chat: () => `chatcmpl-${base62(29)}`,
  job: () => `ftjob-${base62(24)}`,
};

const now = () => Math.floor(Date.now() / 1000);

function accountOf(req: IncomingMessage): Account {
  const key = String(req.headers.authorization ?? "");
  let account = accounts.get(key);
  if (!account) {
    account = { objects: new Map(), items: new Map(), lists: new Map(), parts: new Map() };
    accounts.set(key, account);
  }
  return account;
}

function send(res: ServerResponse, status: number, body: unknown): true {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    "x-request-id": `req_mock_obj_${++seq}`,
  });
  res.end(text);
  return true;
}

const notFound = (res: ServerResponse, message: string, param: string | null = null) =>
  send(res, 404, { error: { message, type: "invalid_request_error", param, code: null } });

const badRequest = (res: ServerResponse, message: string, param: string | null = null) =>
  send(res, 400, { error: { message, type: "invalid_request_error", param, code: null } });

function alive(s: Stored | undefined, object: string): s is Stored {
  if (!s || s.obj.object !== object) return false;
  const expires = s.obj.expires_at;
  return !(typeof expires === "number" && expires <= now() && object !== "batch");
}

function put(account: Account, obj: Obj, extra?: Partial<Stored>): Obj {
  account.objects.set(String(obj.id), { obj, seq: ++seq, ...extra });
  return obj;
}

/** OpenAI's cursor page over `all` (newest first unless `order=asc`). */
function page(query: URLSearchParams, all: Stored[], defaultLimit: number, defaultOrder: "asc" | "desc") {
  const order =
    query.get("order") === "asc" || (query.get("order") === null && defaultOrder === "asc") ? "asc" : "desc";
  const sorted = [...all].sort((a, b) => (order === "asc" ? a.seq - b.seq : b.seq - a.seq));
  let start = 0;
  const after = query.get("after");
  if (after) start = sorted.findIndex((s) => s.obj.id === after) + 1;
  const limit = Math.min(Number(query.get("limit")) || defaultLimit, 10_000);
  const data = sorted.slice(start, start + limit).map((s) => s.obj);
  return {
    object: "list",
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + limit < sorted.length,
  };
}

function listOf(account: Account, object: string, filter: (s: Stored) => boolean = () => true): Stored[] {
  return [...account.objects.values()].filter((s) => alive(s, object) && filter(s));
}

async function formOf(ctx: ObjectsCtx): Promise<FormData> {
  const type = String(ctx.req.headers["content-type"] ?? "");
  return new Response(new Uint8Array(ctx.body), { headers: { "content-type": type } }).formData();
}

function makeFile(
  account: Account,
  fields: { filename: string; purpose: string; bytes: Buffer; seconds?: number },
): Obj {
  const created = now();
  return put(
    account,
    {
      id: ids.file(),
      object: "file",
      bytes: fields.bytes.byteLength,
      created_at: created,
      expires_at: fields.seconds ? created + fields.seconds : null,
      filename: fields.filename,
      purpose: fields.purpose,
      status: "processed",
      status_details: null,
    },
    { content: fields.bytes },
  );
}

function fileExists(account: Account, id: unknown): boolean {
  return typeof id === "string" && alive(account.objects.get(id), "file");
}

/** Items of a response's input as OpenAI stores them (each with an id). */
function inputItems(input: unknown): Obj[] {
  const list =
    typeof input === "string" ? [{ role: "user", content: input }] : Array.isArray(input) ? input : [];
  return list.map((item) => ({ id: ids.message(), type: "message", status: "completed", ...(item as Obj) }));
}

/**
 * A Responses answer the mock made (mock-upstream.ts builds it): stored (with its input items) unless the
 * request said `store: false`. Returns a message for a `previous_response_id` or `conversation` the account
 * does not have (the upstream answers 400 then).
 */
export function storeResponse(
  req: IncomingMessage,
  json: Record<string, unknown>,
  response: Obj,
): string | null {
  const account = accountOf(req);
  const previous = json.previous_response_id;
  if (typeof previous === "string" && !alive(account.objects.get(previous), "response"))
    return `Previous response with id '${previous}' not found.`;
  const conversation =
    typeof json.conversation === "string" ? json.conversation : (json.conversation as Obj | undefined)?.id;
  if (typeof conversation === "string" && !alive(account.objects.get(conversation), "conversation"))
    return `Conversation with id '${conversation}' not found.`;
  for (const item of Array.isArray(json.input) ? json.input : []) {
    const ref = item as Obj;
    if (
      typeof ref.id === "string" &&
      (ref.type === undefined || ref.type === "item_reference") &&
      !account.items.has(ref.id)
    )
      return `Item with id '${ref.id}' not found.`;
  }
  if (json.store === false) return null;
  const items = inputItems(json.input);
  for (const item of items) account.items.set(String(item.id), item);
  for (const item of (response.output as Obj[]) ?? []) account.items.set(String(item.id), item);
  account.lists.set(
    String(response.id),
    items.map((i) => String(i.id)),
  );
  put(account, { ...response, store: true, expires_at: null });
  return null;
}

/** A chat completion answer (non-streamed or its first chunk's id): stored when the request said `store: true`. */
export function storeChatCompletion(
  req: IncomingMessage,
  json: Record<string, unknown>,
  completion: Obj,
): void {
  if (json.store !== true) return;
  put(
    accountOf(req),
    { ...completion, object: "chat.completion", metadata: json.metadata ?? {}, request_id: null },
    {
      extra: { messages: json.messages },
    },
  );
}

/** Routes of stored objects; false when the path is none of them (mock-upstream.ts answers it then). */
export async function objectsRoute(
  ctx: ObjectsCtx,
  method: string,
  path: string,
  query: URLSearchParams,
): Promise<boolean> {
  const { req, res } = ctx;
  const json = ctx.json ?? {};
  const account = accountOf(req);
  const s = path
    .replace(/^\/v1\//, "")
    .split("/")
    .map(decodeURIComponent);
  const [root, id, sub, subId] = s;
  const get = () => (id ? account.objects.get(id) : undefined);

  switch (root) {
    case "files": {
      if (s.length === 1 && method === "POST") {
        const form = await formOf(ctx);
        const file = form.get("file");
        if (!(file instanceof Blob)) return badRequest(res, "'file' is required.", "file");
        const seconds = Number(form.get("expires_after[seconds]")) || undefined;
        const name = (file as File).name ?? "upload.bin";
        return send(
          res,
          200,
          makeFile(account, {
            filename: name,
            purpose: String(form.get("purpose") ?? "user_data"),
            bytes: Buffer.from(await file.arrayBuffer()),
            seconds,
          }),
        );
      }
      if (s.length === 1 && method === "GET") {
        const purpose = query.get("purpose");
        return send(
          res,
          200,
          page(
            query,
            listOf(account, "file", (f) => !purpose || f.obj.purpose === purpose),
            10_000,
            "desc",
          ),
        );
      }
      const f = get();
      if (!alive(f, "file")) return notFound(res, `No such File object: ${id}`, "id");
      if (s.length === 2 && method === "GET") return send(res, 200, f.obj);
      if (s.length === 2 && method === "DELETE") {
        account.objects.delete(id!);
        return send(res, 200, { id, object: "file", deleted: true });
      }
      if (sub === "content" && method === "GET") {
        const bytes = f.content ?? Buffer.alloc(0);
        res.writeHead(200, {
          "content-type": "application/octet-stream",
          "content-length": String(bytes.byteLength),
        });
        res.end(bytes);
        return true;
      }
      return false;
    }
    case "uploads": {
      if (s.length === 1 && method === "POST") {
        const created = now();
        return send(
          res,
          200,
          put(account, {
            id: ids.upload(),
            object: "upload",
            bytes: json.bytes,
            created_at: created,
            expires_at: created + 3600,
            filename: json.filename,
            purpose: json.purpose,
            status: "pending",
            file: null,
          }),
        );
      }
      const u = get();
      if (!alive(u, "upload")) return notFound(res, `Upload with id '${id}' not found.`);
      if (sub === "parts" && method === "POST") {
        const form = await formOf(ctx);
        const data = form.get("data");
        const part = { id: ids.part(), object: "upload.part", created_at: now(), upload_id: id };
        account.parts.set(part.id, id!);
        const chunks = (u.extra?.chunks as Buffer[] | undefined) ?? [];
        if (data instanceof Blob) chunks.push(Buffer.from(await data.arrayBuffer()));
        u.extra = { ...u.extra, chunks, [part.id]: chunks.length - 1 };
        return send(res, 200, part);
      }
      if (sub === "complete" && method === "POST") {
        const partIds = Array.isArray(json.part_ids) ? (json.part_ids as string[]) : [];
        for (const p of partIds)
          if (account.parts.get(p) !== id)
            return badRequest(res, `Part '${p}' is not a part of upload '${id}'.`, "part_ids");
        const chunks = (u.extra?.chunks as Buffer[] | undefined) ?? [];
        const bytes = Buffer.concat(partIds.map((p) => chunks[u.extra?.[p] as number] ?? Buffer.alloc(0)));
        const file = makeFile(account, {
          filename: String(u.obj.filename),
          purpose: String(u.obj.purpose),
          bytes,
        });
        u.obj = { ...u.obj, status: "completed", file };
        return send(res, 200, u.obj);
      }
      if (sub === "cancel" && method === "POST") {
        u.obj = { ...u.obj, status: "cancelled" };
        return send(res, 200, u.obj);
      }
      return false;
    }
    case "batches": {
      if (s.length === 1 && method === "POST") {
        if (!fileExists(account, json.input_file_id))
          return badRequest(
            res,
            `Invalid 'input_file_id': '${json.input_file_id}'. File not found.`,
            "input_file_id",
          );
        const created = now();
        return send(
          res,
          200,
          put(account, {
            id: ids.batch(),
            object: "batch",
            endpoint: json.endpoint,
            errors: null,
            input_file_id: json.input_file_id,
            completion_window: json.completion_window ?? "24h",
            status: "validating",
            output_file_id: null,
            error_file_id: null,
            created_at: created,
            expires_at: created + 86_400,
            request_counts: { total: 0, completed: 0, failed: 0 },
            metadata: json.metadata ?? null,
          }),
        );
      }
      if (s.length === 1 && method === "GET")
        return send(res, 200, page(query, listOf(account, "batch"), 20, "desc"));
      const b = get();
      if (!alive(b, "batch")) return notFound(res, `No batch found with id '${id}'.`);
      if (s.length === 2 && method === "GET") {
        // The first look after creation finds it done: an output file appears.
        if (b.obj.status === "validating") {
          const output = makeFile(account, {
            filename: "batch_output.jsonl",
            purpose: "batch_output",
            bytes: Buffer.from("{}\n"),
          });
          b.obj = { ...b.obj, status: "completed", output_file_id: output.id, completed_at: now() };
        }
        return send(res, 200, b.obj);
      }
      if (sub === "cancel" && method === "POST") {
        b.obj = { ...b.obj, status: "cancelling" };
        return send(res, 200, b.obj);
      }
      return false;
    }
    case "vector_stores": {
      if (s.length === 1 && method === "POST") {
        const fileIds = Array.isArray(json.file_ids) ? json.file_ids : [];
        for (const f of fileIds)
          if (!fileExists(account, f)) return badRequest(res, `File '${f}' not found.`, "file_ids");
        const created = now();
        const policy = json.expires_after as { days?: number } | undefined;
        const vs = put(account, {
          id: ids.vectorStore(),
          object: "vector_store",
          created_at: created,
          name: json.name ?? null,
          usage_bytes: 0,
          file_counts: {
            in_progress: 0,
            completed: fileIds.length,
            failed: 0,
            cancelled: 0,
            total: fileIds.length,
          },
          status: "completed",
          expires_after: policy ?? null,
          expires_at: policy?.days ? created + policy.days * 86_400 : null,
          last_active_at: created,
          metadata: json.metadata ?? {},
        });
        account.lists.set(String(vs.id), fileIds as string[]);
        return send(res, 200, vs);
      }
      if (s.length === 1 && method === "GET")
        return send(res, 200, page(query, listOf(account, "vector_store"), 20, "desc"));
      const v = get();
      if (!alive(v, "vector_store")) return notFound(res, `No vector store found with id '${id}'.`);
      if (s.length === 2 && method === "GET") return send(res, 200, v.obj);
      if (s.length === 2 && method === "POST") {
        v.obj = { ...v.obj, name: json.name ?? v.obj.name, metadata: json.metadata ?? v.obj.metadata };
        return send(res, 200, v.obj);
      }
      if (s.length === 2 && method === "DELETE") {
        account.objects.delete(id!);
        return send(res, 200, { id, object: "vector_store.deleted", deleted: true });
      }
      const files = account.lists.get(id!) ?? [];
      if (sub === "files" && s.length === 3 && method === "POST") {
        if (!fileExists(account, json.file_id))
          return badRequest(res, `File '${json.file_id}' not found.`, "file_id");
        files.push(String(json.file_id));
        return send(res, 200, {
          id: json.file_id,
          object: "vector_store.file",
          vector_store_id: id,
          status: "completed",
          created_at: now(),
        });
      }
      if (sub === "files" && s.length === 3 && method === "GET") {
        const data = files.map((f) => ({
          id: f,
          object: "vector_store.file",
          vector_store_id: id,
          status: "completed",
        }));
        return send(res, 200, {
          object: "list",
          data,
          first_id: data[0]?.id ?? null,
          last_id: data.at(-1)?.id ?? null,
          has_more: false,
        });
      }
      if (sub === "search" && method === "POST")
        return send(res, 200, {
          object: "vector_store.search_results.page",
          search_query: json.query,
          data: [],
          has_more: false,
          next_page: null,
        });
      return false;
    }
    case "responses": {
      if (s.length === 1 || id === "input_tokens" || id === "compact") return false;
      const r = get();
      if (!alive(r, "response")) return notFound(res, `Response with id '${id}' not found.`);
      if (s.length === 2 && method === "GET") return send(res, 200, r.obj);
      if (s.length === 2 && method === "DELETE") {
        account.objects.delete(id!);
        return send(res, 200, { id, object: "response", deleted: true });
      }
      if (sub === "cancel" && method === "POST") return send(res, 200, { ...r.obj, status: "cancelled" });
      if (sub === "input_items" && method === "GET") {
        const data = (account.lists.get(id!) ?? []).map((i) => account.items.get(i)).filter(Boolean);
        return send(res, 200, {
          object: "list",
          data,
          first_id: data[0]?.id ?? null,
          last_id: data.at(-1)?.id ?? null,
          has_more: false,
        });
      }
      return false;
    }
    case "conversations": {
      if (s.length === 1 && method === "POST") {
        const conv = put(account, {
          id: ids.conversation(),
          object: "conversation",
          created_at: now(),
          metadata: json.metadata ?? {},
        });
        const items = inputItems(json.items);
        for (const item of items) account.items.set(String(item.id), item);
        account.lists.set(
          String(conv.id),
          items.map((i) => String(i.id)),
        );
        return send(res, 200, conv);
      }
      const c = get();
      if (!alive(c, "conversation")) return notFound(res, `Conversation with id '${id}' not found.`);
      if (s.length === 2 && method === "GET") return send(res, 200, c.obj);
      if (s.length === 2 && method === "POST") {
        c.obj = { ...c.obj, metadata: json.metadata ?? c.obj.metadata };
        return send(res, 200, c.obj);
      }
      if (s.length === 2 && method === "DELETE") {
        account.objects.delete(id!);
        return send(res, 200, { id, object: "conversation.deleted", deleted: true });
      }
      const list = account.lists.get(id!) ?? [];
      if (sub === "items" && s.length === 3) {
        if (method === "POST") {
          const items = inputItems(json.items);
          for (const item of items) {
            account.items.set(String(item.id), item);
            list.push(String(item.id));
          }
          return send(res, 200, {
            object: "list",
            data: items,
            first_id: items[0]?.id ?? null,
            last_id: items.at(-1)?.id ?? null,
            has_more: false,
          });
        }
        const data = list.map((i) => account.items.get(i)).filter(Boolean) as Obj[];
        return send(res, 200, {
          object: "list",
          data,
          first_id: data[0]?.id ?? null,
          last_id: data.at(-1)?.id ?? null,
          has_more: false,
        });
      }
      if (sub === "items" && subId && list.includes(subId)) {
        if (method === "GET") return send(res, 200, account.items.get(subId));
        if (method === "DELETE") {
          list.splice(list.indexOf(subId), 1);
          return send(res, 200, c.obj);
        }
      }
      if (sub === "items") return notFound(res, `Item with id '${subId}' not found.`);
      return false;
    }
    case "chat": {
      if (id !== "completions") return false;
      if (s.length === 2 && method === "GET") {
        const model = query.get("model");
        return send(
          res,
          200,
          page(
            query,
            listOf(account, "chat.completion", (c) => !model || c.obj.model === model),
            20,
            "asc",
          ),
        );
      }
      if (s.length === 2) return false;
      const c = account.objects.get(sub!);
      if (!alive(c, "chat.completion")) return notFound(res, `Chat completion with id '${sub}' not found.`);
      if (s.length === 3 && method === "GET") return send(res, 200, c.obj);
      if (s.length === 3 && method === "POST") {
        c.obj = { ...c.obj, metadata: json.metadata ?? c.obj.metadata };
        return send(res, 200, c.obj);
      }
      if (s.length === 3 && method === "DELETE") {
        account.objects.delete(sub!);
        return send(res, 200, { id: sub, object: "chat.completion.deleted", deleted: true });
      }
      if (s[3] === "messages" && method === "GET") {
        const data = ((c.extra?.messages as Obj[]) ?? []).map((m, i) => ({ id: `${sub}-${i}`, ...m }));
        return send(res, 200, {
          object: "list",
          data,
          first_id: data[0]?.id ?? null,
          last_id: data.at(-1)?.id ?? null,
          has_more: false,
        });
      }
      return false;
    }
    case "fine_tuning": {
      if (id !== "jobs") return false;
      if (s.length === 2 && method === "POST") {
        if (!fileExists(account, json.training_file))
          return badRequest(res, `File '${json.training_file}' not found.`, "training_file");
        if (json.validation_file !== undefined && !fileExists(account, json.validation_file))
          return badRequest(res, `File '${json.validation_file}' not found.`, "validation_file");
        return send(
          res,
          200,
          put(account, {
            id: ids.job(),
            object: "fine_tuning.job",
            model: json.model,
            created_at: now(),
            status: "queued",
            fine_tuned_model: null,
            training_file: json.training_file,
            validation_file: json.validation_file ?? null,
            result_files: [],
            metadata: json.metadata ?? null,
          }),
        );
      }
      if (s.length === 2 && method === "GET")
        return send(res, 200, page(query, listOf(account, "fine_tuning.job"), 20, "desc"));
      const j = account.objects.get(sub!);
      if (!alive(j, "fine_tuning.job")) return notFound(res, `Fine-tuning job ${sub} not found.`);
      if (s.length === 3 && method === "GET") {
        if (j.obj.status === "queued") {
          const model = `ft:${j.obj.model}:mock-org::${base62(8)}`;
          put(account, { id: model, object: "model", created: now(), owned_by: "mock-org" });
          const result = makeFile(account, {
            filename: "step_metrics.csv",
            purpose: "fine-tune-results",
            bytes: Buffer.from("step\n"),
          });
          j.obj = { ...j.obj, status: "succeeded", fine_tuned_model: model, result_files: [result.id] };
        }
        return send(res, 200, j.obj);
      }
      if (s[3] === "cancel" && method === "POST") return send(res, 200, { ...j.obj, status: "cancelled" });
      if (s[3] === "events" && method === "GET")
        return send(res, 200, { object: "list", data: [], has_more: false });
      return false;
    }
    case "models": {
      if (s.length !== 2 || method !== "DELETE") return false;
      if (!alive(account.objects.get(id!), "model"))
        return notFound(res, `The model '${id}' does not exist`, "model");
      account.objects.delete(id!);
      return send(res, 200, { id, object: "model", deleted: true });
    }
    default:
      return false;
  }
}
