import { IDENTITY_CHANGED } from "../issuing/identity/user-admission";
import { ApiError } from "../lib/errors";
import { defaultReserveOutput, reserveFor } from "../limits/reserve";
import { type Provider, providerFor } from "../providers";
import { type Admitted, type Refused, TOKEN_NOT_FOUND } from "../tokens/admission";
import { admitToken } from "../tokens/admission-cache";
import { refusalHeaders } from "../tokens/allowance";
import { recordRequest } from "../usage/record";
import { allowlistFor } from "./allowlist";
import { resolveCredential, reverifyCredential } from "./auth";
import { type JsonBody, readJsonBody, wantsJsonRead } from "./body";
import { preflight } from "./cors";
import { dialectOf, type ProxyRoute, routeOf } from "./dialect";
import { cachedUpstreamKey, isKnownUnknown, rememberUnknown, upstreamKey } from "./isolate-caches";
import { observerFor } from "./observe-native";
import { type Outcome, type RequestFacts, requestDraft } from "./request-facts";
import { gatewayError, respond } from "./respond";
import { sendUpstream, UpstreamAbort, upstreamTimeoutMs } from "./send";
import { usageInjection } from "./usage-injection";

const DEFAULT_MAX_JSON_BODY_BYTES = 4 * 1024 * 1024;

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

/** Token-counting endpoints are free: their answers carry no usage and want no estimate. */
const isCountEndpoint = (route: ProxyRoute) =>
  route.endpoint === "/messages/count_tokens" || route.endpoint.endsWith(":countTokens");

/**
 * Reads a POSTed JSON body into `facts` (model and stream flag unless the path names them, as Gemini's does;
 * the body itself for an estimate, except on the free token-counting endpoints).
 */
async function readBodyInto(
  facts: RequestFacts,
  route: ProxyRoute,
  request: Request,
  env: Env,
): Promise<JsonBody> {
  const body = await readJsonBody(request, Number(env.MAX_JSON_BODY_BYTES) || DEFAULT_MAX_JSON_BODY_BYTES);
  const json = body.json;
  facts.json = isCountEndpoint(route) ? null : json;
  if (json && route.model === null) {
    facts.model = typeof json.model === "string" ? json.model : null;
    facts.stream = json.stream === true;
  }
  return body;
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
  // Known before anything is checked, so every error is answered in the client's own envelope.
  let dialect = dialectOf(url.pathname, request.headers);
  try {
    const route = routeOf(request.method, url, request.headers, allowlistFor(env.PROXY_ALLOWLIST));
    dialect = route.dialect;
    facts.model = route.model;
    facts.stream = route.stream;
    // A withering token (its hash) or a verified JWT, and the object that decides it: from memory when known.
    const resolving = resolveCredential(env, request.headers, route.queryKey);
    let presented = resolving instanceof Promise ? await resolving : resolving;
    if (presented.hash !== null && isKnownUnknown(presented.hash)) throw UNKNOWN_TOKEN;

    const body = wantsJsonRead(request.method, request.headers)
      ? await readBodyInto(facts, route, request, env)
      : null;

    const input = {
      model: facts.model,
      origin,
      credential: presented.credential,
      reserve: reserveFor(
        {
          path: route.endpoint,
          model: facts.model,
          body: body?.json ?? null,
          bodyBytes: body?.bytes.byteLength,
        },
        { defaultMaxOutputTokens: defaultReserveOutput(env) },
      ),
    };
    const admitting = admitToken(env, ctx, presented.objectKey, input);
    let admission = admitting instanceof Promise ? await admitting : admitting;
    if (!admission.ok && admission.code === IDENTITY_CHANGED) {
      // The JWT was verified under a provider configuration that changed since: verify it again, once.
      presented = await reverifyCredential(env, request.headers, route.queryKey);
      admission = await admitToken(env, ctx, presented.objectKey, {
        ...input,
        credential: presented.credential,
      });
    }
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

    const provider = providerOf(admission, route, request.method, url.pathname);
    facts.provider = provider.name;
    const { apiKeyEncrypted, baseUrl, settings } = admission.upstream;
    const apiKey =
      cachedUpstreamKey(apiKeyEncrypted, env.ENCRYPTION_KEY) ??
      (await upstreamKey(apiKeyEncrypted, env.ENCRYPTION_KEY, env.ENCRYPTION_KEY_PREVIOUS));

    abort = new UpstreamAbort(request.signal, upstreamTimeoutMs(env));
    const sent = await sendUpstream(
      {
        request,
        requestId,
        provider,
        target: { baseUrl, apiKey, settings },
        route,
        model: facts.model,
        json: body?.json ?? null,
        // request.body only when it was not read: the getter makes a stream object each time.
        body: body ? body.bytes : request.body,
        // Only where the upstream speaks the client's OpenAI dialect: a translated stream reports usage itself.
        injection:
          route.dialect === "openai" && provider.dialect === "openai"
            ? usageInjection(provider, route.path, body)
            : undefined,
      },
      abort,
    );
    return await respond(sent, {
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
    });
  } catch (err) {
    const error =
      err instanceof ApiError
        ? err
        : new ApiError(500, "internal_error", "The gateway failed to handle the request.");
    if (!(err instanceof ApiError)) console.error("proxy error", requestId, err);
    const clientLeft = abort?.reason === "client";
    abort?.release();
    const outcome = clientLeft
      ? CLIENT_CLOSED
      : { status: error.status, error: error.code, ttfbMs: null, aborted: false };
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
