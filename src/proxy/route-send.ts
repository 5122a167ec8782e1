import { ApiError } from "../lib/errors";
import { type Provider, type ProviderSettings, providerFor, type UpstreamTarget } from "../providers";
import { type AttemptResult, runAttempts } from "../routing/attempts";
import { isolateHealth } from "../routing/health";
import { resolveRoute } from "../routing/resolve";
import { DEFAULT_RETRY, type RetryPolicy, retryAfterMs } from "../routing/retry";
import type { Routing, Target, UpstreamConfig } from "../routing/types";
import { getDb } from "../storage/db";
import { markKeyFailing } from "../upstreams/repo";
import { type JsonBody, withModel } from "./body";
import type { ProxyRoute } from "./dialect";
import { cachedUpstreamKey, upstreamKey } from "./isolate-caches";
import type { RequestFacts } from "./request-facts";
import { type Sent, sendUpstream, UpstreamAbort, upstreamTimeoutMs } from "./send";
import { adoptSharedBreakers, shareBreakerOpen } from "./shared-health";
import { usageInjection } from "./usage-injection";

/** A request ready to go: admitted, its body read (or left to stream), its project's routing table known. */
export type RoutedRequest = {
  request: Request;
  env: Env;
  ctx: ExecutionContext;
  facts: RequestFacts;
  routing: Routing;
  /** The client's dialect, endpoint, canonical path and query (dialect.ts). */
  route: ProxyRoute;
  /** The JSON body the gateway read, or null (then `forward` streams up, once). */
  body: JsonBody | null;
  /** What goes upstream when no JSON body was read: a form read so far with the rest of its stream, or the
   * client's body untouched (admit-request.ts). */
  forward: BodyInit | null;
};

/** The answer that goes to the client: from which provider, with the abort that still guards its body. */
export type Routed = { sent: Sent; abort: UpstreamAbort; provider: Provider };

const encoder = new TextEncoder();
const policies = new WeakMap<Env, RetryPolicy>();

/** RETRY_MAX_ATTEMPTS and RETRY_BUDGET_MS over the defaults, read once per `env` object (one per isolate). */
function retryPolicy(env: Env): RetryPolicy {
  let policy = policies.get(env);
  if (!policy) {
    const attempts = Number(env.RETRY_MAX_ATTEMPTS);
    const budget = Number(env.RETRY_BUDGET_MS);
    policy = {
      ...DEFAULT_RETRY,
      maxAttempts:
        Number.isInteger(attempts) && attempts >= 1 ? Math.min(attempts, 10) : DEFAULT_RETRY.maxAttempts,
      budgetMs: Number.isFinite(budget) && budget >= 0 ? budget : DEFAULT_RETRY.budgetMs,
    };
    policies.set(env, policy);
  }
  return policy;
}

/** The upstreams whose provider can serve this dialect and endpoint (natively or translated). */
function servesFor(route: ProxyRoute) {
  return (u: UpstreamConfig) => providerFor(u.provider)?.serves(route.dialect, route.endpoint) === true;
}

/**
 * Sends a request along its route (routing/resolve.ts): one attempt after another (routing/attempts.ts)
 * until one answers for good, each through `sendUpstream` with its own first-byte timeout and the key the
 * attempt chose, the body's `model` rewritten for the target. Nothing reaches the client before the loop
 * ends, so retries and fallbacks never show; a stream falls back only before its first byte. Records the
 * route in `facts` on every path; throws `ApiError` (502, 504, or 503 `upstream_unavailable` when every
 * target's breaker is open) when no answer comes.
 */
export async function sendRouted(r: RoutedRequest): Promise<Routed> {
  const { request, env, facts, route } = r;
  const asked = facts.model;
  const targets = resolveRoute(r.routing, asked, servesFor(route));
  if (targets.length === 0) {
    const pathname = new URL(request.url).pathname;
    const message = `No upstream of this project serves ${request.method} ${pathname}${asked ? ` for model '${asked}'` : ""}.`;
    throw new ApiError(404, "endpoint_not_found", message);
  }
  adoptSharedBreakers(r.ctx, targets, Date.now());
  const bodies = new Map<string | null, JsonBody | null>();
  const bodyFor = (t: Target): JsonBody | null => {
    let body = bodies.get(t.model);
    if (body === undefined) {
      // A model named in the path (Gemini) is rewritten in the path, never added to the body.
      body = route.model === null ? rewritten(r.body, asked, t.model) : r.body;
      bodies.set(t.model, body);
    }
    return body;
  };
  const policy = retryPolicy(env);
  // A body the gateway did not read streams up once: it cannot be sent to a second target.
  const replayable = r.body !== null || r.forward === null;
  const canFallBack = replayable && (targets.length > 1 || targets[0]!.upstream.keys.length > 1);

  const result = await runAttempts<Routed>({
    targets,
    health: isolateHealth,
    policy,
    started: facts.started,
    replayable,
    sleep: (ms) => sleepUnlessGone(ms, request.signal),
    discard: (routed) => {
      routed.abort.release();
      void routed.sent.response.body?.cancel().catch(() => {});
    },
    onKeyRejected: (_upstream, key, status) => {
      r.ctx.waitUntil(
        markKeyFailing(getDb(env), key.id, `the upstream answered ${status}`, Date.now()).catch((err) =>
          console.error("key failing mark lost", key.id, err),
        ),
      );
    },
    onBreakerOpened: (upstream, until) => shareBreakerOpen(r.ctx, upstream.id, until),
    attempt: async (a): Promise<AttemptResult<Routed>> => {
      const { upstream } = a.target;
      const provider = providerFor(upstream.provider)!;
      const key = a.key;
      const apiKey = key
        ? (cachedUpstreamKey(key.keyEncrypted, env.ENCRYPTION_KEY) ??
          (await upstreamKey(key.keyEncrypted, env.ENCRYPTION_KEY, env.ENCRYPTION_KEY_PREVIOUS)))
        : "";
      const timeoutMs = upstream.firstByteTimeoutMs ?? upstreamTimeoutMs(env);
      const client = request.signal;
      // Gone already (while the key was decrypted, say): its abort event has fired, no listener would
      // hear it, and the upstream would do the whole request for nobody.
      if (client?.aborted) return { kind: "aborted" };
      const abort = new UpstreamAbort(client, timeoutMs);
      const body = bodyFor(a.target);
      let sent: Sent;
      try {
        sent = await sendUpstream(
          {
            request,
            requestId: facts.requestId,
            provider,
            target: {
              upstreamId: upstream.id,
              keyId: key?.id ?? null,
              baseUrl: upstream.baseUrl,
              apiKey,
              settings: upstream.settings as ProviderSettings | null,
            },
            route: routeFor(route, a.target.model),
            model: a.target.model ?? asked,
            json: body?.json ?? null,
            body: body ? body.bytes : r.forward,
            rewritten: body !== r.body,
            // Only where the upstream speaks the client's OpenAI dialect: a translated stream reports usage itself.
            injection:
              route.dialect === "openai" && provider.dialect === "openai"
                ? usageInjection(provider, route.path, body)
                : undefined,
          },
          abort,
        );
      } catch {
        abort.release();
        if (abort.reason === "client") {
          // The client left while the request was on its way: the upstream may have it (charged).
          facts.sent = true;
          return { kind: "aborted" };
        }
        return { kind: abort.reason === "timeout" ? "timeout" : "network" };
      }
      const routed: Routed = { sent, abort, provider };
      const { response } = sent;
      if (response.ok && canFallBack && a.n < policy.maxAttempts && isStream(response)) {
        // Another target or key could still take over: hold the answer until its first chunk, so a stream
        // that breaks before it falls back instead of reaching the client as an empty 200. (A route with
        // nowhere else to go keeps the stream path exactly as it was: no wait, no extra stream.)
        const first = await firstChunk(routed, timeoutMs);
        if (first !== "ok") {
          // Its 2xx head came: the upstream took the request, and may have done the work (charged
          // conservatively if no later attempt serves it; a refused connection is not this).
          facts.sent = true;
          return first === "aborted" ? { kind: "aborted" } : { kind: first };
        }
      }
      return {
        kind: "answer",
        value: routed,
        status: response.status,
        // Only a failure's wait matters (a 429's rest): spare reading headers on every answer.
        retryAfterMs: response.status >= 400 ? retryAfterMs(response.headers) : null,
      };
    },
  });

  if (result.kind === "answer" || result.kind === "failed") {
    const { target, key } = result.attempt;
    facts.route = {
      upstream: target.upstream.name,
      upstreamId: target.upstream.id,
      keyId: key?.id ?? null,
      provider: target.upstream.provider,
      modelRequested: asked,
      attempts: result.attempts,
      errors: result.errors,
    };
    if (target.model !== null) facts.model = target.model;
  } else {
    facts.route = {
      upstream: null,
      upstreamId: null,
      keyId: null,
      provider: null,
      modelRequested: asked,
      attempts: result.attempts,
      errors: result.errors,
    };
  }
  switch (result.kind) {
    case "answer":
      return result.value;
    case "failed":
      throw result.error === "timeout"
        ? new ApiError(504, "upstream_timeout", "The upstream sent nothing within its first-byte timeout.")
        : new ApiError(502, "upstream_error", "The upstream could not be reached or broke the connection.");
    case "aborted":
      throw new ApiError(502, "upstream_error", "The client went away before the upstream answered.");
    case "unavailable": {
      const seconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
      throw new ApiError(
        503,
        "upstream_unavailable",
        `Every upstream for this request is failing or rate-limited; retry in ${seconds} s.`,
        {
          headers: {
            "retry-after": String(seconds),
            "retry-after-ms": String(Math.max(0, result.retryAfterMs)),
          },
        },
      );
    }
  }
}

/** The route as a target sees it: a model named in the path (Gemini's) is the target's. */
function routeFor(route: ProxyRoute, model: string | null): ProxyRoute {
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
function rewritten(body: JsonBody | null, asked: string | null, model: string | null): JsonBody | null {
  if (!body?.json || model === null || model === asked) return body;
  const json = { ...body.json, model };
  return { json, bytes: withModel(body, model) ?? encoder.encode(JSON.stringify(json)) };
}

const isStream = (response: Response) =>
  response.body !== null && (response.headers.get("content-type") ?? "").startsWith("text/event-stream");

/**
 * Waits for a stream's first chunk (within the attempt's first-byte time) and puts it back in front of the
 * rest. "network": the stream ended or broke before any byte; "timeout": none came in time.
 */
async function firstChunk(
  routed: Routed,
  timeoutMs: number,
): Promise<"ok" | "network" | "timeout" | "aborted"> {
  const { sent, abort } = routed;
  const reader = sent.response.body!.getReader();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void reader.cancel().catch(() => {});
  }, timeoutMs);
  let first: ReadableStreamReadResult<Uint8Array>;
  try {
    first = await reader.read();
  } catch {
    clearTimeout(timer);
    abort.release();
    return abort.reason === "client" ? "aborted" : "network";
  }
  clearTimeout(timer);
  if (timedOut || first.done) {
    abort.release();
    void reader.cancel().catch(() => {});
    if (abort.reason === "client") return "aborted";
    return timedOut ? "timeout" : "network";
  }
  const head = first.value;
  const rest = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        controller.enqueue(head);
      },
      async pull(controller) {
        try {
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (err) {
          controller.error(err);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  routed.sent = { ...sent, response: new Response(rest, sent.response) };
  return "ok";
}

/** Resolves true after `ms`, or false as soon as the client goes away. */
function sleepUnlessGone(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (stayed: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", gone);
      resolve(stayed);
    };
    const gone = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", gone);
  });
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
  const apiKey = key
    ? (cachedUpstreamKey(key.keyEncrypted, env.ENCRYPTION_KEY) ??
      (await upstreamKey(key.keyEncrypted, env.ENCRYPTION_KEY, env.ENCRYPTION_KEY_PREVIOUS)))
    : "";
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
