// What a route's target gets: the upstreams that can serve the client's dialect and endpoint, the path and
// body rewritten for the target's model, and the primary target for the answers the gateway assembles from
// several upstream calls itself. Apart from the retry loop (route-send.ts) so the loop reads as the loop.
import { ApiError } from "../lib/errors";
import { isObject } from "../lib/json";
import { type Provider, type ProviderSettings, providerFor, type UpstreamTarget } from "../providers";
import { GEMINI_INNER_REQUEST_KEYS, namesGeminiModel } from "../providers/gemini";
import { resolveRoute } from "../routing/resolve";
import type { Routing, UpstreamConfig } from "../routing/types";
import { type JsonBody, withModel } from "./body";
import type { ProxyRoute } from "./dialect";
import { upstreamKey } from "./isolate-caches";
import { UpstreamAbort, upstreamTimeoutMs } from "./send";

const encoder = new TextEncoder();

/** The upstreams whose provider can serve this dialect and endpoint (natively or translated). */
export function servesFor(route: ProxyRoute) {
  return (u: UpstreamConfig) => providerFor(u.provider)?.serves(route.dialect, route.endpoint) === true;
}

/** The route as a target sees it: a model named in the path (Gemini's) is the target's. */
export function routeFor(route: ProxyRoute, model: string | null): ProxyRoute {
  if (route.model === null || model === null || model === route.model) return route;
  const at = route.path.indexOf(`/models/${route.model}:`);
  if (at < 0) return route;
  const path = `${route.path.slice(0, at)}/models/${encodeURIComponent(model)}:${route.path.slice(at + 9 + route.model.length)}`;
  return { ...route, path, model };
}

/**
 * The body for a target: the client's bytes when the model is the one asked for, else the same bytes with
 * the model's value replaced in place (or, when the body's shape does not allow that, serialised again).
 */
export function rewritten(
  body: JsonBody | null,
  asked: string | null,
  model: string | null,
): JsonBody | null {
  if (!body?.json || model === null || model === asked) return body;
  const json = { ...body.json, model };
  return { json, bytes: withModel(body, model) ?? encoder.encode(JSON.stringify(json)) };
}

/**
 * A Gemini body for a target whose model is not the one asked for (an alias): the path carries the model
 * (`routeFor`), but a body that names it too — embedContent's `model`, batchEmbedContents'
 * `requests[].model`, countTokens' `generateContentRequest.model`, each of which Google requires to be the
 * path's — names the target's, in the spelling the client used (`x` or `models/x`). Anything else is left as
 * it is; a body that names no model is the client's bytes.
 */
export function rewrittenInGeminiBody(
  body: JsonBody | null,
  asked: string | null,
  model: string | null,
): JsonBody | null {
  if (!body?.json || asked === null || model === null || model === asked) return body;
  let changed = false;
  const swap = <T extends Record<string, unknown>>(o: T): T => {
    const value = o.model;
    if (!namesGeminiModel(value, asked)) return o;
    const next = value === asked ? model : `models/${model}`;
    changed = true;
    return { ...o, model: next };
  };
  // A copy: the client's parsed body is shared by every attempt (and the event's estimate).
  const json = { ...swap(body.json) };
  for (const key of GEMINI_INNER_REQUEST_KEYS) {
    const inner = json[key];
    if (isObject(inner)) json[key] = swap(inner);
  }
  if (Array.isArray(json.requests))
    json.requests = json.requests.map((r: unknown) => (isObject(r) ? swap(r) : r));
  return changed ? { json, bytes: encoder.encode(JSON.stringify(json)) } : body;
}

/**
 * The project's primary upstream for this endpoint (its first that serves it) with its first key, for the
 * requests the gateway answers itself from several upstream calls (a list of owned objects): no retries.
 */
export async function primaryTarget(
  env: Env,
  routing: Routing,
  route: ProxyRoute,
  request: Request,
): Promise<{ provider: Provider; target: UpstreamTarget; abort: UpstreamAbort }> {
  const [first] = resolveRoute(routing, null, servesFor(route));
  const provider = first ? providerFor(first.upstream.provider) : undefined;
  if (!first || !provider) {
    const message = `No upstream of this project serves ${request.method} ${new URL(request.url).pathname}.`;
    throw new ApiError(404, "endpoint_not_found", message);
  }
  const { upstream } = first;
  const key = upstream.keys[0] ?? null;
  const apiKey = key ? await upstreamKey(env, key.keyEncrypted) : "";
  const target: UpstreamTarget = {
    upstreamId: upstream.id,
    keyId: key?.id ?? null,
    baseUrl: upstream.baseUrl,
    apiKey,
    settings: upstream.settings as ProviderSettings | null,
  };
  const abort = new UpstreamAbort(request.signal, upstream.firstByteTimeoutMs ?? upstreamTimeoutMs(env));
  return { provider, target, abort };
}
