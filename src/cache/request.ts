import { isObject } from "../lib/json";
import type { CacheableEndpoint } from "./settings";

/**
 * What the client asked of the cache:
 * - `use` (default): answer from the cache when it can, else fetch and store;
 * - `refresh`: fetch a fresh answer and let it replace the entry (`x-llm-proxy-cache: refresh`);
 * - `bypass`: neither read nor write (`cache-control: no-cache` or `no-store`, `x-llm-proxy-cache: bypass`).
 */
export type CacheMode = "use" | "refresh" | "bypass";

/** The request header a client steers the cache with (also the response header that reports it). */
export const CACHE_HEADER = "x-llm-proxy-cache";

const NO_CACHE = /(?:^|,)\s*no-(?:cache|store)\s*(?:[,;=]|$)/i;

export function cacheMode(headers: Headers): CacheMode {
  const asked = headers.get(CACHE_HEADER);
  if (asked !== null) {
    const value = asked.trim().toLowerCase();
    if (value === "refresh") return "refresh";
    if (value === "bypass" || value === "no-cache" || value === "no-store") return "bypass";
  }
  const control = headers.get("cache-control");
  return control !== null && NO_CACHE.test(control) ? "bypass" : "use";
}

/**
 * Why a request to a cacheable endpoint still cannot be answered from the cache, or null when it can.
 * The answer must be a function of the body alone: no server-side state that may change in between.
 */
export function uncacheableReason(endpoint: CacheableEndpoint, body: Record<string, unknown>): string | null {
  // The client asked the upstream to keep the answer (stored completions, stored responses): a replay would
  // not store anything. Responses default to storing; the rule is explicit `store: true`.
  if (body.store === true) return "store";
  if (endpoint === "/responses") {
    // Background responses are polled later by id; a conversation and a stored prompt without a version
    // are server-side state that changes between two identical bodies.
    if (body.background === true) return "background";
    if (body.conversation !== undefined && body.conversation !== null) return "conversation";
    if (isObject(body.prompt) && body.prompt.version === undefined) return "prompt";
  }
  return null;
}

/**
 * Top-level fields left out of the key, per endpoint: only those that cannot change a successful answer's
 * bytes. `safety_identifier` on chat completions identifies an end user for OpenAI's abuse monitoring: the
 * model never reads it and the chat completion object does not echo it (the Responses object does, so it
 * stays in Responses keys). Everything else stays, `user` included: OpenAI also routes prompt caching by
 * it, which changes `usage.prompt_tokens_details.cached_tokens` in the answer.
 */
const IGNORED: Partial<Record<CacheableEndpoint, readonly string[]>> = {
  "/chat/completions": ["safety_identifier"],
};

/**
 * Object members whose order is part of the request's meaning: a JSON Schema's `properties` (structured
 * outputs and tool arguments are generated in that order). Every other object is keyed in sorted order.
 */
const ORDERED = "properties";

/** Deeper than this is not a request anyone sends twice; it is not cached (and cannot blow the stack). */
const MAX_DEPTH = 64;

class TooDeep extends Error {}

function sortedCopy(value: Record<string, unknown>, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw new TooDeep();
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = canonicalValue(value[key], key, depth + 1);
  return out;
}

function canonicalValue(value: unknown, key: string, depth: number): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (depth > MAX_DEPTH) throw new TooDeep();
  if (Array.isArray(value)) return value.map((v) => canonicalValue(v, "", depth + 1));
  const object = value as Record<string, unknown>;
  if (key !== ORDERED) return sortedCopy(object, depth);
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(object)) out[name] = canonicalValue(object[name], name, depth + 1);
  return out;
}

/**
 * The body as the cache key sees it: object members sorted (except a schema's `properties`), arrays in
 * order, the ignored fields left out, numbers and strings as JSON.stringify writes them. Two bodies with
 * the same canonical form ask the same question. null when the body is too deeply nested to key.
 *
 * The proxy sends upstream `JSON.stringify` of the same parsed body (not the client's bytes), so what the
 * key describes is exactly what the upstream receives: duplicate members, integers past 2^53 or odd
 * number spellings cannot make two bodies share a key yet mean different things upstream.
 */
export function canonicalBody(endpoint: CacheableEndpoint, body: Record<string, unknown>): string | null {
  const ignored = IGNORED[endpoint];
  const top: Record<string, unknown> = {};
  for (const key of Object.keys(body).sort()) if (!ignored?.includes(key)) top[key] = body[key];
  try {
    return JSON.stringify(sortedCopy(top, 0));
  } catch (err) {
    if (err instanceof TooDeep || err instanceof RangeError) return null;
    throw err;
  }
}
