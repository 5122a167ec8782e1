import { ApiError } from "../lib/errors";
import { isObject, type Json } from "../lib/json";
import type { Page, PageQuery } from "./durable";
import type { ObjectGuard } from "./guard";
import { KIND_INFO, type Kind, LIST_MAX } from "./kinds";

// A list endpoint (GET /files, /batches, /vector_stores, /chat/completions, /fine_tuning/jobs) answered from
// the gateway's record, never from the upstream's list: the upstream account's list holds every project's
// objects, and filtering it page by page would give short or empty pages (an SDK stops at an empty page)
// and cost a scan of the whole account. The registry gives the page of the token's own ids in the list's
// order; each object is then read fresh from the upstream it lives on, so statuses are current. A cursor
// (`after`, `before`) is an object id, as upstream: the next page starts right after it.

/** Reads one object from an upstream: `path` below its base URL, e.g. `/files/file-abc`. */
export type ObjectReader = (upstream: string, path: string) => Promise<Response>;

/** Objects read from the upstream at once for one page. */
const CONCURRENCY = 8;
/** Rounds of registry pages for one answer when objects turn out gone or filtered out. */
const MAX_ROUNDS = 4;

type ListQuery = Omit<PageQuery, "kind"> & { metadata: [string, string][] };

function listQuery(kind: Kind, search: URLSearchParams): ListQuery {
  const defaults = KIND_INFO[kind].list ?? { order: "desc", limit: 20 };
  const asked = Number(search.get("limit"));
  const limit =
    Number.isInteger(asked) && asked >= 1 ? Math.min(asked, LIST_MAX) : Math.min(defaults.limit, LIST_MAX);
  const order = search.get("order");
  const q: ListQuery = {
    limit,
    order: order === "asc" || order === "desc" ? order : defaults.order,
    metadata: [],
  };
  const after = search.get("after");
  const before = search.get("before");
  if (after) q.after = after;
  else if (before) q.before = before;
  const tag =
    kind === "file" ? search.get("purpose") : kind === "chat_completion" ? search.get("model") : null;
  if (tag) q.tag = tag;
  for (const [key, value] of search) {
    const m = /^metadata\[(.+)\]$/.exec(key);
    if (m) q.metadata.push([m[1]!, value]);
  }
  return q;
}

const matchesMetadata = (object: Json, wanted: [string, string][]) =>
  wanted.every(([k, v]) => isObject(object.metadata) && object.metadata[k] === v);

/** Reads each object of a page from its upstream, in order; null for those the upstream no longer has. */
async function readAll(page: Page, kind: Kind, read: ObjectReader): Promise<(Json | null)[]> {
  const base = KIND_INFO[kind].path!;
  const out: (Json | null)[] = new Array(page.items.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < page.items.length) {
      const i = next++;
      const item = page.items[i]!;
      const res = await read(item.upstream, base + encodeURIComponent(item.id));
      if (res.status === 404) {
        void res.body?.cancel();
        continue;
      }
      if (!res.ok) {
        void res.body?.cancel();
        throw new ApiError(
          502,
          "upstream_error",
          `The upstream answered ${res.status} reading ${item.id} for the list.`,
        );
      }
      const body: unknown = await res.json().catch(() => null);
      out[i] = isObject(body) ? body : null;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, page.items.length) }, worker));
  return out;
}

/** The body of a list answer in OpenAI's shape: `{object: "list", data, first_id, last_id, has_more}`. */
export async function answerList(
  guard: ObjectGuard,
  search: URLSearchParams,
  read: ObjectReader,
): Promise<Json> {
  const kind = guard.access.list!;
  const q = listQuery(kind, search);
  const owner = { tokenId: guard.owner.tokenId, scope: guard.owner.scope };
  const registry = guard.registry();
  const backwards = q.before !== undefined;
  let data: Json[] = [];
  let cursor = { after: q.after, before: q.before };
  let hasMore = false;
  for (let round = 0; round < MAX_ROUNDS && data.length < q.limit; round++) {
    const page = await registry.page(owner, {
      kind,
      limit: q.limit - data.length,
      order: q.order,
      tag: q.tag,
      ...cursor,
    });
    const objects = await readAll(page, kind, read);
    const gone = page.items.filter((_, i) => objects[i] === null).map((item) => item.id);
    if (gone.length > 0) await registry.forget(gone);
    const kept = objects.filter((o): o is Json => o !== null && matchesMetadata(o, q.metadata));
    data = backwards ? [...kept, ...data] : [...data, ...kept];
    hasMore = page.hasMore;
    if (!page.hasMore || page.items.length === 0) break;
    // Short of the limit only because objects were gone or filtered: read on from where this page ended.
    cursor = backwards
      ? { after: undefined, before: page.items[0]!.id }
      : { after: page.items.at(-1)!.id, before: undefined };
    if (round === MAX_ROUNDS - 1) hasMore = true;
  }
  const ids = data.map((o) => (typeof o.id === "string" ? o.id : null));
  return {
    object: "list",
    data,
    first_id: ids[0] ?? null,
    last_id: ids.at(-1) ?? null,
    has_more: hasMore,
  };
}
