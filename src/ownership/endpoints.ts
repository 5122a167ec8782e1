import { ApiError } from "../lib/errors";
import type { Capability } from "./capabilities";
import type { Kind, ObjectRef } from "./kinds";

/**
 * What a request does to upstream objects, read from its method and path alone (before the token is known).
 * The rules go by the path's first segments, so a sub-path the table does not know (a new OpenAI endpoint
 * under /files/{id}/…) still needs the capability and the object's owner: unknown shapes fail closed.
 */
export type Access = {
  /** The account-wide capability the project must have enabled; null: inference, every token has it. */
  capability: Capability | null;
  /** The object the path names (its id decoded once), which the token must own. */
  target: ObjectRef | null;
  /** A list of objects of this kind: answered from the gateway's record, never the upstream's list. */
  list: Kind | null;
  /** A successful answer creates an object of this kind (its `id`); responses and chat: see objects.ts. */
  creates: Kind | null;
  /** A successful answer (or a 404) means the target is gone. */
  deletes: boolean;
  /** The answer names more objects to record for the target's owner (an upload's file, a batch's output). */
  derives: boolean;
  /**
   * An inference call whose answer is stored upstream when its body asks (`store`): a response (stored
   * unless `store: false`) or a chat completion (`store: true`). Recorded off the client's path.
   */
  stores: "response" | "chat_completion" | null;
};

const BASE: Access = {
  capability: null,
  target: null,
  list: null,
  creates: null,
  deletes: false,
  derives: false,
  stores: null,
};

/** Plain inference (chat/completions, embeddings, audio, images, …): nothing to check beyond the body. */
export const INFERENCE: Access = BASE;
const CHAT_CREATE: Access = { ...BASE, stores: "chat_completion" };
const RESPONSE_CREATE: Access = { ...BASE, stores: "response" };

const capable = (capability: Capability, rest: Partial<Access> = {}): Access => ({
  ...BASE,
  capability,
  ...rest,
});

const ref = (kind: Kind, id: string): ObjectRef => ({ kind, id, param: null });

/** POST /responses and its id-less siblings (input token counts, compaction) are inference. */
const RESPONSE_VERBS = new Set(["input_tokens", "compact"]);

function neverForwarded(path: string, why: string): ApiError {
  return new ApiError(404, "endpoint_not_found", `The gateway does not forward ${path}: ${why}.`);
}

/** The access a request needs, from its method and its decoded path segments below /v1. */
export function accessOf(method: string, s: readonly string[]): Access {
  const [root, second, third] = s;
  const n = s.length;
  const del = method === "DELETE";
  switch (root) {
    case "chat":
      if (second !== "completions") return INFERENCE;
      if (n === 2)
        return method === "GET" ? capable("stored_completions", { list: "chat_completion" }) : CHAT_CREATE;
      return capable("stored_completions", {
        target: ref("chat_completion", third!),
        deletes: del && n === 3,
      });
    case "responses":
      if (n === 1) return method === "POST" ? RESPONSE_CREATE : INFERENCE;
      if (RESPONSE_VERBS.has(second!)) return INFERENCE;
      // GET/DELETE/cancel/input_items of a stored response: inference, but only the token's own. Their
      // answers name the response's items, which belong to the response's owner too.
      return { ...BASE, target: ref("response", second!), deletes: del && n === 2, derives: true };
    case "conversations":
      if (n === 1) return capable("conversations", { creates: method === "POST" ? "conversation" : null });
      return capable("conversations", {
        target: ref("conversation", second!),
        deletes: del && n === 2,
        derives: third === "items",
      });
    case "files":
      if (n === 1) return capable("files", method === "GET" ? { list: "file" } : { creates: "file" });
      return capable("files", { target: ref("file", second!), deletes: del && n === 2 });
    case "uploads":
      if (n === 1) return capable("files", { creates: "upload" });
      return capable("files", {
        target: ref("upload", second!),
        creates: third === "parts" && n === 3 ? "upload_part" : null,
        derives: third === "complete",
      });
    case "batches":
      if (n === 1) return capable("batches", method === "GET" ? { list: "batch" } : { creates: "batch" });
      return capable("batches", { target: ref("batch", second!), derives: true });
    case "vector_stores":
      if (n === 1)
        return capable(
          "vector_stores",
          method === "GET" ? { list: "vector_store" } : { creates: "vector_store" },
        );
      return capable("vector_stores", { target: ref("vector_store", second!), deletes: del && n === 2 });
    case "fine_tuning":
      if (second === "jobs") {
        if (n === 2)
          return capable(
            "fine_tuning",
            method === "GET" ? { list: "fine_tuning_job" } : { creates: "fine_tuning_job" },
          );
        return capable("fine_tuning", { target: ref("fine_tuning_job", third!), derives: true });
      }
      // Checkpoint permissions share fine-tuned models with other organisations: an account owner's act.
      if (second === "checkpoints")
        throw neverForwarded(`/v1/${s.join("/")}`, "it shares models with other organisations");
      // Graders (fine_tuning/alpha/graders/…) name no stored object.
      return capable("fine_tuning");
    case "messages":
      // Anthropic's message batches live in the upstream account with no owner the gateway could check.
      if (second === "batches") throw neverForwarded(`/v1/${s.join("/")}`, "it lists every key's batches");
      return INFERENCE;
    case "models":
      if (n >= 2 && del)
        return capable("model_deletion", { target: ref("model", s.slice(1).join("/")), deletes: true });
      return INFERENCE;
    default:
      return INFERENCE;
  }
}
