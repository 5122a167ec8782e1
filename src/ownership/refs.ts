import { ApiError } from "../lib/errors";
import type { Kind, ObjectRef } from "./kinds";

// Objects a JSON request body names: a token must own every one of them, wherever in the body it sits —
// a batch's `input_file_id`, a response's `previous_response_id` or `conversation`, a vector store's
// `file_ids`, a chat or Responses content part's `file_id`, a file_search tool's `vector_store_ids`, an
// upload's `part_ids`, an input item that only references a stored item by its `id`. The body is walked by
// key name, not by endpoint, so a field in a new place (or a new endpoint) is still checked.

/** Field names whose values are ids of objects of a kind (a string, an array of strings, or `{id}`). */
const FIELDS = new Map<string, Kind>(
  Object.entries({
    file_id: "file",
    file_ids: "file",
    input_file_id: "file",
    training_file: "file",
    validation_file: "file",
    previous_response_id: "response",
    conversation: "conversation",
    conversation_id: "conversation",
    vector_store_id: "vector_store",
    vector_store_ids: "vector_store",
    part_ids: "upload_part",
  } satisfies Record<string, Kind>),
);

/**
 * Sub-trees whose ids the upstream does not dereference: citations in replayed assistant output name the
 * files they quote (container files among them, which no token creates through the gateway).
 */
const SKIP = new Set(["annotations"]);

/** Arrays of input items, where an object with only an `id` (or type `item_reference`) is a stored item. */
const ITEM_LISTS = new Set(["input", "items"]);

/** More named objects than any real request has (OpenAI's own lists stop at 500). */
export const MAX_REFS = 2_000;

const tooMany = () =>
  new ApiError(400, "validation_error", `The request body names more than ${MAX_REFS} stored objects.`);

function isReference(item: Record<string, unknown>): boolean {
  return (
    typeof item.id === "string" &&
    (item.type === undefined || item.type === null || item.type === "item_reference")
  );
}

/** The objects a parsed JSON body names, each once. Iterative: a deeply nested body cannot overflow the stack. */
export function referencedObjects(body: Record<string, unknown>): ObjectRef[] {
  const found = new Map<string, ObjectRef>();
  const add = (kind: Kind, id: unknown, param: string) => {
    if (typeof id !== "string" || id === "") return;
    const key = `${kind}\0${id}`;
    if (found.has(key)) return;
    if (found.size >= MAX_REFS) throw tooMany();
    found.set(key, { kind, id, param });
  };
  const stack: unknown[] = [body];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const v of value) if (v !== null && typeof v === "object") stack.push(v);
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    const obj = value as Record<string, unknown>;
    for (const key in obj) {
      const v = obj[key];
      if (v === null || v === undefined || SKIP.has(key)) continue;
      const kind = FIELDS.get(key);
      if (kind !== undefined) {
        if (typeof v === "string") add(kind, v, key);
        else if (Array.isArray(v)) for (const id of v) add(kind, id, key);
        else if (typeof v === "object" && kind === "conversation") add(kind, (v as { id?: unknown }).id, key);
        else stack.push(v);
        continue;
      }
      if (ITEM_LISTS.has(key) && Array.isArray(v)) {
        for (const item of v) {
          if (
            item !== null &&
            typeof item === "object" &&
            !Array.isArray(item) &&
            isReference(item as Record<string, unknown>)
          )
            add("item", (item as { id: string }).id, key);
        }
      }
      if (typeof v === "object") stack.push(v);
    }
  }
  return [...found.values()];
}
