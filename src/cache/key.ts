/**
 * Request headers that reach the upstream and may change its answer: they are part of the key. (Absent in
 * almost every request; the mock upstream's `x-mock-*` steering headers are deliberately not here.)
 */
const KEYED_HEADERS = ["openai-organization", "openai-project", "openai-beta"] as const;

/** Everything that decides an answer, in the order it is hashed. Never the token: a project's tokens share. */
export type KeyParts = {
  projectId: string;
  /** The project's cache generation (purges bump it). */
  generation: number;
  /** Where the request goes: the upstream route (see `routeOf` in proxy/cache-step.ts). */
  route: string;
  method: string;
  /** Canonical path below /v1. */
  path: string;
  /** The query string as sent (with its `?`), or "". */
  search: string;
  headers: Headers;
  /** `canonicalBody` of the request. */
  body: string;
};

const encoder = new TextEncoder();

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hex(bytes: ArrayBuffer): string {
  const view = new Uint8Array(bytes);
  let out = "";
  for (let i = 0; i < view.length; i++) out += HEX[view[i]!];
  return out;
}

/**
 * The key of an entry: `<project id>/<SHA-256 of every part>`. The project id stays readable (tiers are
 * shared by all projects: a key can never be another project's), the rest is hashed so a body of any size
 * makes a short key and no cache tier ever holds a prompt in a key.
 */
export async function cacheKey(parts: KeyParts): Promise<string> {
  const headers = KEYED_HEADERS.map((name) => parts.headers.get(name));
  const material = JSON.stringify([
    "llm-proxy-cache/1",
    parts.projectId,
    parts.generation,
    parts.route,
    parts.method,
    parts.path,
    parts.search,
    headers,
    parts.body,
  ]);
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(material));
  return `${parts.projectId}/${hex(digest)}`;
}
