import { ApiError } from "../lib/errors";
import { accessOf } from "../ownership/endpoints";
import type { Dialect } from "../providers";
import { NO_ROUTES } from "../routing/config";
import { type Admitted, type Refused, TOKEN_NOT_FOUND } from "../tokens/admission";
import { refusalHeaders } from "../tokens/allowance";
import { recordRequest } from "../usage/record";
import { admitRequest, maxJsonBytes } from "./admit-request";
import { allowlistFor } from "./allowlist";
import { resolveCredential } from "./auth";
import { readParameterBody, readsAsParameters } from "./body";
import { cacheCandidate } from "./cache-step";
import { preflight } from "./cors";
import { dialectOf, routeOf } from "./dialect";
import { isKnownUnknown, rememberUnknown } from "./isolate-caches";
import { finishListing, isModelListing, listModels } from "./models";
import { checkBatchInput, listed, objectGuard, observing } from "./objects";
import { observerFor } from "./observe-native";
import { type Outcome, type RequestFacts, requestDraft } from "./request-facts";
import { gatewayError, respond } from "./respond";
import { answerFromCache } from "./respond/cached";
import { sendRouted } from "./route-send";
import { primaryTarget } from "./route-target";
import type { UpstreamAbort } from "./send";

/** A hash the token's object already called unknown, refused from memory. */
const UNKNOWN_TOKEN = refusalError(TOKEN_NOT_FOUND);

/** What the event says when the client went away before the upstream answered. */
const CLIENT_CLOSED: Outcome = { status: 499, error: "client_closed", ttfbMs: null, aborted: true };
/** The same, when nothing had been sent upstream yet (costs nothing). */
const CLIENT_CLOSED_UNSENT: Outcome = { ...CLIENT_CLOSED, forwarded: false };

function refusalError(refused: Refused): ApiError {
  return new ApiError(refused.status, refused.code, refused.message, {
    headers: refusalHeaders(refused),
    param: refused.param ?? null,
    ...(refused.retryable === undefined ? {} : { retryable: refused.retryable }),
  });
}

function factsOf(request: Request, url: URL, requestId: string): RequestFacts {
  return {
    requestId,
    started: Date.now(),
    method: request.method,
    path: url.pathname,
    userAgent: request.headers.get("user-agent"),
    colo: (request.cf?.colo as string | undefined) ?? null,
    tokenId: null,
    userId: null,
    projectId: null,
    model: null,
    stream: false,
    json: null,
  };
}

/**
 * The `/v1/*` and `/v1beta/*` proxy, top to bottom: the route (dialect, canonical path, allowlist:
 * dialect.ts), the token, the JSON body (when there is one to read), admission, the upstream's key, then
 * `sendUpstream` (send.ts) and `respond` (respond/). Every refusal or failure before the upstream answered
 * ends in the one `catch` below, answered in the client's dialect.
 *
 * Why it is written the way it is (each measured with `npm run bench`, see docs/proxy.md "Hot path cost"):
 * `/v1` is dispatched in src/index.ts before Hono (no router, middleware or context); the token hash, the
 * admission and the upstream key are used without `await` when the isolate already has them (each await is
 * a promise and a microtask hop); and JSON answers reach the client natively (respond/json.ts), never
 * through a JS stream. Warm path: no D1 query, at most one Durable Object call.
 */
export async function handleProxy(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  const requestId = crypto.randomUUID();
  if (request.method === "OPTIONS") return preflight(request, requestId);
  const origin = request.headers.get("origin");
  const url = new URL(request.url);
  const facts = factsOf(request, url, requestId);
  let admitted: Admitted | null = null;
  let objectKey: string | undefined;
  let abort: UpstreamAbort | undefined;
  let stopped: (() => string | null) | undefined;
  // Known before anything is checked, so every error is answered in the client's own envelope.
  let dialect = dialectOf(url.pathname, request.headers);
  try {
    const route = routeOf(request.method, url, request.headers, allowlistFor(env.PROXY_ALLOWLIST));
    dialect = route.dialect;
    // The event names the canonical path, the one reserved and forwarded (not the client's encoding).
    facts.path = `${route.dialect === "gemini" ? "/v1beta" : "/v1"}${route.path}`;
    facts.model = route.model;
    facts.stream = route.stream;
    // What the request does to stored upstream objects, and the account-wide capability it needs.
    const access = accessOf(request.method, route.segments);
    // A withering token (its hash) or a verified JWT, and the object that decides it: from memory when known.
    const resolving = resolveCredential(env, request.headers, route.queryKey);
    const presented = resolving instanceof Promise ? await resolving : resolving;
    if (presented.hash !== null && isKnownUnknown(presented.hash)) throw UNKNOWN_TOKEN;

    // The body as far as admission needs it (JSON always, a multipart form for a restricted token), the
    // response cache's claim, then the admission itself: admit-request.ts.
    const admitting = admitRequest(env, ctx, request, route, facts, presented, origin, access.capability);
    const read = admitting instanceof Promise ? await admitting : admitting;
    const { admission } = read;
    let { body, forward, cache } = read;
    stopped = read.stopped;
    if (!admission.ok) {
      if (admission.code === "token_not_found" && presented.hash !== null) rememberUnknown(presented.hash);
      facts.tokenId = admission.tokenId || null;
      facts.projectId = admission.projectId ?? null;
      throw refusalError(admission);
    }
    admitted = admission;
    objectKey = presented.objectKey;
    facts.tokenId = admission.tokenId || null;
    facts.userId = admission.userId ?? null;
    facts.projectId = admission.projectId;
    facts.reservationId = admission.reservationId;

    const routing = admission.routing ?? NO_ROUTES;
    if (request.method === "GET" && route.dialect !== "gemini" && isModelListing(route.endpoint)) {
      const models = await listModels(env, admission, routing, request, route.endpoint, route.dialect);
      if (models) return finishListing(models, { env, ctx, facts, admitted, objectKey, origin });
    }

    // Objects: the path's and the body's must be the token's own (one registry call; none on plain inference).
    // Checked before the cache too: a cached answer is never a way around ownership.
    let names = body?.json ?? null;
    if (!body && readsAsParameters(request.method, request.headers) && request.body) {
      // Text, a form or no content type: forwarded as is, but what it names is checked all the same.
      const read = await readParameterBody(request, maxJsonBytes(env));
      forward = read.bytes;
      names = read.names;
    }
    const guard = objectGuard(env, ctx, access, admission, names);
    if (guard) await guard.check();

    cache ??= cacheCandidate(request, route, body, objectKey, admission);
    if (cache && body) {
      const looking = cache.afterAdmission(env, ctx, admission);
      const hit = looking instanceof Promise ? await looking : looking;
      if (hit) return answerFromCache(hit, { env, ctx, facts, admitted, objectKey, origin });
      facts.cache = cache.status;
      body = cache.upstreamBody(body);
      forward = body.bytes;
    }

    // What `respond` needs to answer the client, for the dialect of the upstream that answered.
    const key = presented.objectKey;
    const exchangeOf = (upstreamDialect: Dialect, upstreamAbort: UpstreamAbort) => ({
      env,
      ctx,
      facts,
      admitted: admission,
      objectKey: key,
      origin,
      abort: upstreamAbort,
      observer: observerFor(upstreamDialect),
      translate:
        route.dialect !== upstreamDialect && upstreamDialect !== "openai"
          ? { from: upstreamDialect, includeUsage: includesUsage(body?.json ?? null) }
          : null,
      cache,
    });
    if (guard?.access.creates === "batch") {
      // The batch's input lines name objects too: read from the project's primary upstream, like a list.
      const primary = await primaryTarget(env, routing, route, request);
      try {
        await checkBatchInput(
          guard,
          body?.json ?? null,
          primary.provider,
          primary.target,
          request,
          primary.abort,
        );
      } finally {
        primary.abort.release();
      }
    }
    if (guard?.access.list) {
      // A list is answered from the registry, each object read from the project's primary upstream.
      const primary = await primaryTarget(env, routing, route, request);
      abort = primary.abort;
      facts.provider = primary.provider.name;
      const sent = await listed(guard, url.searchParams, primary.provider, primary.target, request, abort);
      return await respond(sent, exchangeOf(primary.provider.dialect, primary.abort));
    }
    const routed = await sendRouted({ request, env, ctx, facts, routing, route, body, forward });
    abort = routed.abort;
    const exchange = exchangeOf(routed.provider.dialect, routed.abort);
    if (!guard) return await respond(routed.sent, exchange);
    const sent = { ...routed.sent, response: await guard.settle(routed.sent.response) };
    return await respond(sent, { ...exchange, observer: observing(exchange.observer, guard) });
  } catch (err) {
    // An upload the gateway stopped on its way up (a second `model` after the one checked): the client's
    // fault, whatever the broken connection made the upstream fetch throw.
    const problem = stopped?.();
    const error = problem
      ? new ApiError(400, "invalid_form_data", `The multipart upload was stopped: ${problem}.`, {
          param: "model",
        })
      : err instanceof ApiError
        ? err
        : new ApiError(500, "internal_error", "The gateway failed to handle the request.");
    if (!(err instanceof ApiError)) console.error("proxy error", requestId, err);
    const clientLeft = abort?.reason === "client" || request.signal?.aborted === true;
    abort?.release();
    // Sent (an answer came: `abort` is set; or an attempt that is not the answer was sent, see
    // RequestFacts.sent): the upstream may have used tokens even without an answer. A client that left
    // before anything was sent (or between attempts) costs nothing.
    const sent = abort !== undefined || facts.sent === true;
    const outcome = clientLeft
      ? sent
        ? CLIENT_CLOSED
        : CLIENT_CLOSED_UNSENT
      : {
          status: error.status,
          error: error.code,
          ttfbMs: null,
          aborted: false,
          // A routed attempt that timed out was sent: the upstream may have worked on it (charged
          // conservatively); refused connections and error answers used nothing.
          forwarded: sent || error.code === "upstream_timeout",
        };
    recordRequest(env, ctx, requestDraft(facts, outcome), admitted ? objectKey : undefined);
    return gatewayError(error, requestId, origin, admitted, dialect);
  }
}

/** Whether an OpenAI chat request asked for the usage chunk of its stream. */
function includesUsage(json: Record<string, unknown> | null): boolean {
  const options = json?.stream_options;
  return (
    typeof options === "object" &&
    options !== null &&
    (options as Record<string, unknown>).include_usage === true
  );
}
