import { ApiError } from "../lib/errors";
import { isObject, type Json, parseJsonObject } from "../lib/json";
import { derivedRecords, type Recorder, recordOf, responseRecords } from "./answers";
import type { Capability, ObjectScope } from "./capabilities";
import type { NewRecord } from "./durable";
import type { Access } from "./endpoints";
import { type Kind, notFoundMessage, type ObjectRef } from "./kinds";
import { referencedObjects } from "./refs";
import { forgetLater, recordLater, recordObjects, registryOf } from "./registry";

/** The token asking, as far as objects go. */
export type ObjectOwner = {
  projectId: string;
  tokenId: string;
  scope: ObjectScope;
  capabilities: readonly Capability[];
};

/**
 * How long a lookup of a response, item or stored chat completion waits for a record still on its way
 * (they are recorded off the client's path; see durable.ts `find`). Only a miss waits: for an id that is
 * someone else's (or nobody's) the 404 comes this much later, an id of one's own is found at once.
 */
export const RECORD_GRACE_MS = 1_000;

// Non-streaming decodes keep no state between calls: one decoder serves the isolate.
const decoder = new TextDecoder();

const terminalResponseEvents = new Set(["response.completed", "response.incomplete", "response.failed"]);

function notOwned(ref: ObjectRef): ApiError {
  // The gateway's 404 for an object the token may not reach is the same whether the object exists for
  // another token or not at all: nothing was asked of the upstream, so nothing about it can show.
  return new ApiError(404, "object_not_found", notFoundMessage(ref), { param: ref.param });
}

/**
 * The objects one request touches, and what the gateway does about them: checks the object in the path and
 * the objects the body names before anything is sent (`check`), records what the answer creates (`settle`,
 * held until recorded; `noteAnswer` / `noteEvent` for inference answers, off the client's path), forgets
 * what the upstream deleted. A list is answered by lists.ts from the registry instead.
 */
export class ObjectGuard {
  /** The upstream the path's object lives on, once `check` found it (follow-ups go where it was made). */
  targetUpstream: string | null = null;
  private storedRecorded = false;

  constructor(
    private readonly env: Env,
    private readonly ctx: ExecutionContext,
    readonly access: Access,
    readonly owner: ObjectOwner,
    private readonly refs: ObjectRef[],
    /** The upstream the request goes to when it names no object of its own. */
    readonly upstream: string,
    private readonly stores: "response" | "chat_completion" | null,
  ) {}

  private recorder(): Recorder {
    return { tokenId: this.owner.tokenId, upstream: this.targetUpstream ?? this.upstream, now: Date.now() };
  }

  /** The registry, as this token sees it. */
  registry() {
    return registryOf(this.env, this.owner.projectId);
  }

  /** Throws 404 `object_not_found` unless the token may reach the path's object and every object the body names. */
  async check(): Promise<void> {
    const target = this.access.target;
    const wanted = target ? [target, ...this.refs] : this.refs;
    if (wanted.length === 0) return;
    const found = await this.registry().find(
      { tokenId: this.owner.tokenId, scope: this.owner.scope },
      wanted.map((r) => ({ kind: r.kind, id: r.id })),
      RECORD_GRACE_MS,
    );
    const have = new Map(found.map((f) => [`${f.kind}\0${f.id}`, f.upstream]));
    for (const ref of wanted) if (!have.has(`${ref.kind}\0${ref.id}`)) throw notOwned(ref);
    if (target) this.targetUpstream = have.get(`${target.kind}\0${target.id}`) ?? null;
  }

  /**
   * The upstream's answer, after what it says about objects is taken in: a deleted (or, by a 404, vanished)
   * target is forgotten; objects a create or an answer about the target names are recorded *before* the
   * answer goes on, so no follow-up of the client can arrive before its objects are known.
   */
  async settle(answer: Response): Promise<Response> {
    const { access } = this;
    const target = access.target;
    if (target && (answer.status === 404 || (access.deletes && answer.ok))) {
      forgetLater(this.env, this.ctx, this.owner.projectId, [target.id]);
      return answer;
    }
    const creates: Kind | null = access.creates;
    if (!answer.ok || (creates === null && !(access.derives && target))) return answer;
    if (!(answer.headers.get("content-type") ?? "").includes("json") || !answer.body) return answer;
    // Create answers and answers about one object are a few KB: read whole, then passed on from memory.
    const bytes = new Uint8Array(await answer.arrayBuffer());
    const body = parseJsonObject(decoder.decode(bytes));
    if (body) {
      const at = this.recorder();
      const records: (NewRecord | null)[] =
        creates !== null ? [recordOf(creates, body, at)] : derivedRecords(target!, body, at);
      const made = records.filter((r): r is NewRecord => r !== null);
      try {
        await recordObjects(this.env, this.owner.projectId, made);
      } catch (err) {
        // The upstream did make it: the client gets its answer, but the gateway will not find the object.
        console.error("object records lost", this.owner.projectId, made.map((r) => r.id).join(","), err);
      }
    }
    const headers = new Headers(answer.headers);
    if (headers.has("content-encoding")) headers.delete("content-length");
    else headers.set("content-length", String(bytes.byteLength));
    return new Response(bytes, { status: answer.status, statusText: answer.statusText, headers });
  }

  /** A complete JSON answer of an inference call that stores what it made: recorded off the client's path. */
  noteAnswer(body: Json): void {
    if (this.stores === "response" && body.object === "response") {
      this.later(responseRecords(body, this.recorder()));
    } else if (this.stores === "chat_completion" && body.object === "chat.completion") {
      this.later([recordOf("chat_completion", body, this.recorder())]);
    }
  }

  /**
   * One event of a streamed answer that stores what it made: the response is recorded at its first event
   * (a client may cancel it while it streams), its items when it ends; a stored chat completion at its
   * first chunk.
   */
  noteEvent(data: Json): void {
    if (this.stores === "response") {
      const response = data.response;
      if (!isObject(response) || typeof data.type !== "string") return;
      if (
        data.type === "response.created" ||
        (!this.storedRecorded && data.type === "response.in_progress")
      ) {
        if (this.storedRecorded) return;
        this.storedRecorded = true;
        this.later(responseRecords({ ...response, output: [] }, this.recorder()));
      } else if (terminalResponseEvents.has(data.type)) {
        this.later(responseRecords(response, this.recorder()));
      }
    } else if (this.stores === "chat_completion" && !this.storedRecorded) {
      if (data.object !== "chat.completion.chunk" || typeof data.id !== "string") return;
      this.storedRecorded = true;
      this.later([recordOf("chat_completion", data, this.recorder())]);
    }
  }

  private later(records: (NewRecord | null)[]): void {
    const made = records.filter((r): r is NewRecord => r !== null);
    recordLater(this.env, this.ctx, this.owner.projectId, made);
  }
}

/** Whether the body asks the upstream to keep what it makes (Responses keep it unless told not to). */
function storing(stores: Access["stores"], json: Json | null, owner: ObjectOwner): Access["stores"] {
  if (stores === "response") return json?.store === false ? null : "response";
  if (stores === "chat_completion")
    return json?.store === true && owner.capabilities.includes("stored_completions")
      ? "chat_completion"
      : null;
  return null;
}

/**
 * The guard of a request, or null when it touches no stored object: plain inference whose body names none
 * and stores nothing — the warm path then costs only the walk over the body's keys.
 */
export function guardFor(
  env: Env,
  ctx: ExecutionContext,
  access: Access,
  owner: ObjectOwner,
  json: Json | null,
  upstream: string,
): ObjectGuard | null {
  const refs = json ? referencedObjects(json) : [];
  const stores = storing(access.stores, json, owner);
  if (
    refs.length === 0 &&
    stores === null &&
    access.target === null &&
    access.list === null &&
    access.creates === null
  )
    return null;
  return new ObjectGuard(env, ctx, access, owner, refs, upstream, stores);
}
