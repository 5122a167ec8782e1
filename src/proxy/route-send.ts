// The retry loop on the hot path: wires routing/attempts.ts to one attempt's send (the closure below, kept
// inline so a request allocates nothing more than the loop needs), then records the route and maps the
// outcome to an answer or an ApiError. Per-target shaping is in route-target.ts, an attempt's waits in
// attempt-waits.ts.
import { ApiError } from "../lib/errors";
import { type Provider, type ProviderSettings, providerFor } from "../providers";
import { type AttemptResult, runAttempts } from "../routing/attempts";
import { isolateHealth } from "../routing/health";
import { resolveRoute } from "../routing/resolve";
import { DEFAULT_RETRY, type RetryPolicy, retryAfterMs } from "../routing/retry";
import type { Routing, Target } from "../routing/types";
import { getDb } from "../storage/db";
import { markKeyFailing } from "../upstreams/repo";
import { firstChunk, isStream, sleepUnlessGone } from "./attempt-waits";
import type { JsonBody } from "./body";
import type { ProxyRoute } from "./dialect";
import { upstreamKey } from "./isolate-caches";
import type { RequestFacts } from "./request-facts";
import { rewritten, rewrittenInGeminiBody, routeFor, servesFor } from "./route-target";
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
      // A model named in the path (Gemini) is rewritten in the path, never added to the body (only where
      // the body names it too).
      body =
        route.model === null
          ? rewritten(r.body, asked, t.model)
          : rewrittenInGeminiBody(r.body, asked, t.model);
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
      // Awaited only when it must be decrypted: a warm isolate has it, and the attempt takes no extra turn.
      let apiKey = key ? upstreamKey(env, key.keyEncrypted) : "";
      if (typeof apiKey !== "string") apiKey = await apiKey;
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
