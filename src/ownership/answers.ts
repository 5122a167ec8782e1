import { isObject, type Json } from "../lib/json";
import type { NewRecord } from "./durable";
import { KIND_INFO, type Kind, type ObjectRef } from "./kinds";

// What an upstream answer says about objects: the one a create made, and those an answer names for the
// object asked about (an upload's file, a batch's output files, a job's model, a response's items).

const DAY_MS = 86_400_000;

/** Who the records are for: the asking token and the upstream that answered. */
export type Recorder = { tokenId: string; upstream: string; now: number };

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);
const seconds = (v: unknown): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v * 1000 : null;

function lifetime(
  kind: Kind,
  body: Json,
  at: Recorder,
): { expiresAt: number | null; slideMs: number | null } {
  // A vector store with an `expires_after` policy lives on while it is used: its lifetime slides.
  const policy = body.expires_after;
  if (kind === "vector_store" && isObject(policy) && typeof policy.days === "number") {
    const slideMs = policy.days * DAY_MS;
    return { expiresAt: seconds(body.expires_at) ?? at.now + slideMs, slideMs };
  }
  // A batch's `expires_at` ends its completion window, not the batch object.
  const own = kind === "batch" ? null : seconds(body.expires_at);
  const fixed = KIND_INFO[kind].lifetimeMs;
  return { expiresAt: own ?? (fixed === undefined ? null : at.now + fixed), slideMs: null };
}

/** The record of an object the answer `body` describes (its `id`), or null when it names none. */
export function recordOf(kind: Kind, body: Json, at: Recorder, from?: string): NewRecord | null {
  const id = str(body.id);
  if (!id) return null;
  const tag = kind === "file" ? str(body.purpose) : kind === "chat_completion" ? str(body.model) : null;
  return {
    id,
    kind,
    upstream: at.upstream,
    tokenId: at.tokenId,
    ...(from ? { from } : {}),
    createdAt: seconds(body.created_at) ?? seconds(body.created) ?? at.now,
    ...lifetime(kind, body, at),
    tag,
  };
}

/** A record of an object known only by its id (a batch's output file, a job's fine-tuned model). */
function byId(kind: Kind, id: unknown, at: Recorder, from: string): NewRecord | null {
  const name = str(id);
  if (!name) return null;
  const fixed = KIND_INFO[kind].lifetimeMs;
  return {
    id: name,
    kind,
    upstream: at.upstream,
    tokenId: at.tokenId,
    from,
    createdAt: at.now,
    expiresAt: fixed === undefined ? null : at.now + fixed,
    slideMs: null,
    tag: null,
  };
}

/** Items a response, an items list or a single item names (each owned like the object they belong to). */
function items(body: Json, at: Recorder, from: string): NewRecord[] {
  let list: unknown[] = [];
  if (Array.isArray(body.output))
    list = body.output; // a response
  else if (Array.isArray(body.data))
    list = body.data; // input items, a conversation's items
  else if (typeof body.type === "string" && body.object !== "conversation") list = [body]; // one item
  const out: NewRecord[] = [];
  for (const item of list) {
    const r = isObject(item) ? byId("item", item.id, at, from) : null;
    if (r) out.push(r);
  }
  return out;
}

/**
 * What a successful answer about `target` adds to the registry: an upload's file once completed, a batch's
 * output and error files, a fine-tuning job's model, checkpoints and result files, a response's or a
 * conversation's items. They belong to whoever owns the target.
 */
export function derivedRecords(target: ObjectRef, body: Json, at: Recorder): NewRecord[] {
  const from = target.id;
  const out: (NewRecord | null)[] = [];
  switch (target.kind) {
    case "upload":
      if (isObject(body.file)) out.push(recordOf("file", body.file, at, from));
      break;
    case "batch":
      out.push(byId("file", body.output_file_id, at, from), byId("file", body.error_file_id, at, from));
      break;
    case "fine_tuning_job":
      out.push(byId("model", body.fine_tuned_model, at, from));
      if (Array.isArray(body.result_files))
        for (const f of body.result_files) out.push(byId("file", f, at, from));
      if (Array.isArray(body.data)) {
        for (const entry of body.data) {
          if (isObject(entry)) out.push(byId("model", entry.fine_tuned_model_checkpoint, at, from));
        }
      }
      break;
    case "response":
    case "conversation":
      return items(body, at, from);
    default:
      break;
  }
  return out.filter((r): r is NewRecord => r !== null);
}

/** The records a stored response's answer makes: the response and its output items. */
export function responseRecords(body: Json, at: Recorder): NewRecord[] {
  if (body.store === false) return [];
  const response = recordOf("response", body, at);
  if (!response) return [];
  return [response, ...items({ output: Array.isArray(body.output) ? body.output : [] }, at, response.id)];
}
