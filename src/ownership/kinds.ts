// The kinds of upstream objects the gateway keeps an owner for, and what it needs to know of each.

export const KINDS = [
  "file",
  "upload",
  "upload_part",
  "batch",
  "vector_store",
  "response",
  "item",
  "conversation",
  "chat_completion",
  "fine_tuning_job",
  "model",
] as const;

export type Kind = (typeof KINDS)[number];

/** An object named by a request: in its path (`param` null) or in its JSON body (`param` = the field). */
export type ObjectRef = { kind: Kind; id: string; param: string | null };

const DAY_MS = 86_400_000;

type KindInfo = {
  /** How the upstream names the kind in its own not-found messages. */
  label: string;
  /**
   * Recorded from the answer's tap off the client's path (inference answers: a stored response, its items,
   * a stored chat completion), so a lookup that misses waits a moment for a write still on its way.
   */
  offPath?: true;
  /** Where the upstream serves one object of the kind (lists are answered object by object from here). */
  path?: string;
  /** Lifetime the upstream gives the kind when its answer names none (ms), e.g. stored responses: 30 days. */
  lifetimeMs?: number;
  /** The list endpoint's default order and page size (the gateway's pages are at most LIST_MAX). */
  list?: { order: "asc" | "desc"; limit: number };
};

export const KIND_INFO: Record<Kind, KindInfo> = {
  file: { label: "File", path: "/files/", list: { order: "desc", limit: 10_000 } },
  upload: { label: "Upload" },
  upload_part: { label: "Upload part", lifetimeMs: 2 * 3_600_000 },
  batch: { label: "Batch", path: "/batches/", list: { order: "desc", limit: 20 } },
  vector_store: { label: "Vector store", path: "/vector_stores/", list: { order: "desc", limit: 20 } },
  response: { label: "Response", offPath: true, lifetimeMs: 30 * DAY_MS },
  item: { label: "Item", offPath: true, lifetimeMs: 30 * DAY_MS },
  conversation: { label: "Conversation" },
  chat_completion: {
    label: "Chat completion",
    offPath: true,
    lifetimeMs: 30 * DAY_MS,
    path: "/chat/completions/",
    list: { order: "asc", limit: 20 },
  },
  fine_tuning_job: {
    label: "Fine-tuning job",
    path: "/fine_tuning/jobs/",
    list: { order: "desc", limit: 20 },
  },
  model: { label: "Model" },
};

/** The most objects one page of a list holds here: each is read fresh from the upstream. */
export const LIST_MAX = 100;

/** OpenAI's words for an object it does not have, so a refused id reads like a missing one. */
export function notFoundMessage(ref: ObjectRef): string {
  const what = KIND_INFO[ref.kind].label;
  if (ref.kind === "file" && ref.param === null) return `No such File object: ${ref.id}`;
  if (ref.param) return `${what} with id '${ref.id}' not found (in '${ref.param}').`;
  return `${what} with id '${ref.id}' not found.`;
}
