import { ApiError } from "../lib/errors";
import { accessOf } from "../ownership/endpoints";
import { type Provider, providerFor } from "../providers";
import { type Admitted, type Refused, TOKEN_NOT_FOUND } from "../tokens/admission";
import { refusalHeaders } from "../tokens/allowance";
import { recordRequest } from "../usage/record";
import { admitRequest } from "./admit-request";
import { allowlistFor } from "./allowlist";
import { resolveCredential } from "./auth";
import { cacheCandidate } from "./cache-step";
import { preflight } from "./cors";
import { dialectOf, type ProxyRoute, routeOf } from "./dialect";
import { cachedUpstreamKey, isKnownUnknown, rememberUnknown, upstreamKey } from "./isolate-caches";
import { listed, objectGuard, observing } from "./objects";
import { observerFor } from "./observe-native";
import { type Outcome, type RequestFacts, requestDraft } from "./request-facts";
import { gatewayError, respond } from "./respond";
import { answerFromCache } from "./respond/cached";
import { sendUpstream, UpstreamAbort, upstreamTimeoutMs } from "./send";
import { usageInjection } from "./usage-injection";

/** A hash the token's object already called unknown, refused from memory. */
const UNKNOWN_TOKEN = refusalError(TOKEN_NOT_FOUND);

/** What the event says when the client went away before the upstream answered. */
const CLIENT_CLOSED: Outcome = { status: 499, error: "client_closed", ttfbMs: null, aborted: true };

function refusalError(refused: Refused): ApiError {
  return new ApiError(refused.status, refused.code, refused.message, {
    headers: refusalHeaders(refused),
    param: refused.param ?? null,
    ...(refused.retryable !== undefined ? { retryable: refused.retryable } : {}),
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

function providerOf(admitted: Admitted, route: ProxyRoute, method: string, pathname: string): Provider {
  const provider = providerFor(admitted.upstream.provider);
  if (!provider) {
    const message = `The project's provider '${admitted.upstream.provider}' is not supported.`;
    throw new ApiError(502, "upstream_error", message, { retryable: false });
  }
  if (!provider.serves(route.dialect, route.endpoint)) {
    const message = `This project's upstream (${provider.name}) does not serve ${method} ${pathname}.`;
    throw new ApiError(404, "endpoint_not_found", message);
  }
  return provider;
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

    // Objects: the path's and the body's must be the token's own (one registry call; none on plain inference).
    // Checked before the cache too: a cached answer is never a way around ownership.
    const guard = objectGuard(env, ctx, access, admission, body?.json ?? null);
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

    const provider = providerOf(admission, route, request.method, url.pathname);
    facts.provider = provider.name;
    const { apiKeyEncrypted, baseUrl, settings } = admission.upstream;
    const apiKey =
      cachedUpstreamKey(apiKeyEncrypted, env.ENCRYPTION_KEY) ??
      (await upstreamKey(apiKeyEncrypted, env.ENCRYPTION_KEY, env.ENCRYPTION_KEY_PREVIOUS));

    abort = new UpstreamAbort(request.signal, upstreamTimeoutMs(env));
    const target = { baseUrl, apiKey, settings };
    const exchange = {
      env,
      ctx,
      facts,
      admitted,
      objectKey,
      origin,
      abort,
      observer: observerFor(provider.dialect),
      translate:
        route.dialect !== provider.dialect && provider.dialect !== "openai"
          ? { from: provider.dialect, includeUsage: includesUsage(body?.json ?? null) }
          : null,
      cache,
    };
    if (guard?.access.list) {
      return await respond(await listed(guard, url.searchParams, provider, target, request, abort), exchange);
    }
    let sent = await sendUpstream(
      {
        request,
        requestId,
        provider,
        target,
        route,
        model: facts.model,
        json: body?.json ?? null,
        body: forward,
        // Only where the upstream speaks the client's OpenAI dialect: a translated stream reports usage itself.
        injection:
          route.dialect === "openai" && provider.dialect === "openai"
            ? usageInjection(provider, route.path, body)
            : undefined,
      },
      abort,
    );
    if (!guard) return await respond(sent, exchange);
    sent = { ...sent, response: await guard.settle(sent.response) };
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
    const clientLeft = abort?.reason === "client";
    abort?.release();
    // Sent (abort exists once sending starts): the upstream may have used tokens even without an answer.
    const outcome = clientLeft
      ? CLIENT_CLOSED
      : {
          status: error.status,
          error: error.code,
          ttfbMs: null,
          aborted: false,
          forwarded: abort !== undefined,
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
