import { IDENTITY_CHANGED } from "../issuing/identity/user-admission";
import { ApiError } from "../lib/errors";
import { reserveFor } from "../limits/reserve";
import type { Admitted, Refused } from "../tokens/admission";
import { admitToken } from "../tokens/admission-cache";
import { refusalHeaders } from "../tokens/allowance";
import { recordRequest } from "../usage/record";
import { allowlistFor, checkAllowed } from "./allowlist";
import { resolveCredential, reverifyCredential } from "./auth";
import { type JsonBody, readJsonBody, wantsJsonRead } from "./body";
import { preflight } from "./cors";
import { cachedUpstreamKey, isKnownUnknown, rememberUnknown, upstreamKey } from "./isolate-caches";
import { parseApiPath } from "./path";
import { type Provider, providerFor } from "./providers";
import { type Outcome, type RequestFacts, requestDraft } from "./request-facts";
import { gatewayError, respond } from "./respond";
import { sendUpstream, UpstreamAbort, upstreamTimeoutMs } from "./send";
import { usageInjection } from "./usage-injection";

const DEFAULT_MAX_JSON_BODY_BYTES = 4 * 1024 * 1024;

const TOKEN_NOT_FOUND = new ApiError(401, "token_not_found", "The token is not known to this gateway.");

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

/** Reads a POSTed JSON body into `facts` (model, stream flag; the body itself for an estimate). */
async function readBodyInto(facts: RequestFacts, request: Request, env: Env): Promise<JsonBody> {
  const body = await readJsonBody(request, Number(env.MAX_JSON_BODY_BYTES) || DEFAULT_MAX_JSON_BODY_BYTES);
  const json = body.json;
  facts.json = json;
  if (json) {
    facts.model = typeof json.model === "string" ? json.model : null;
    facts.stream = json.stream === true;
  }
  return body;
}

function providerOf(admitted: Admitted): Provider {
  const provider = providerFor(admitted.upstream.provider);
  if (provider) return provider;
  const message = `The project's provider '${admitted.upstream.provider}' is not supported.`;
  throw new ApiError(502, "upstream_error", message, { retryable: false });
}

/**
 * The `/v1/*` proxy, top to bottom: path and allowlist checks, the token, the JSON body (when there is one
 * to read), admission, the upstream's key, then `sendUpstream` (send.ts) and `respond` (respond/). Every
 * refusal or failure before the upstream answered ends in the one `catch` below.
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
  try {
    const apiPath = parseApiPath(url.pathname);
    checkAllowed(allowlistFor(env.PROXY_ALLOWLIST), request.method, apiPath.segments);
    // A withering token (its hash) or a verified JWT, and the object that decides it: from memory when known.
    const resolving = resolveCredential(env, request.headers);
    let presented = resolving instanceof Promise ? await resolving : resolving;
    if (presented.hash !== null && isKnownUnknown(presented.hash)) throw TOKEN_NOT_FOUND;

    const body = wantsJsonRead(request.method, request.headers)
      ? await readBodyInto(facts, request, env)
      : null;

    const input = {
      model: facts.model,
      origin,
      credential: presented.credential,
      reserve: reserveFor({
        path: apiPath.raw,
        model: facts.model,
        body: facts.json,
        bodyBytes: body?.bytes.byteLength,
      }),
    };
    const admitting = admitToken(env, ctx, presented.objectKey, input);
    let admission = admitting instanceof Promise ? await admitting : admitting;
    if (!admission.ok && admission.code === IDENTITY_CHANGED) {
      // The JWT was verified under a provider configuration that changed since: verify it again, once.
      presented = await reverifyCredential(env, request.headers);
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

    const provider = providerOf(admission);
    const { apiKeyEncrypted, baseUrl } = admission.upstream;
    const apiKey =
      cachedUpstreamKey(apiKeyEncrypted, env.ENCRYPTION_KEY) ??
      (await upstreamKey(apiKeyEncrypted, env.ENCRYPTION_KEY));

    abort = new UpstreamAbort(request.signal, upstreamTimeoutMs(env));
    const sent = await sendUpstream(
      {
        request,
        requestId,
        provider,
        target: { baseUrl, apiKey },
        path: apiPath.raw,
        search: url.search,
        // request.body only when it was not read: the getter makes a stream object each time.
        body: body ? body.bytes : request.body,
        injection: usageInjection(provider, apiPath.raw, body),
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
      observer: provider.observer,
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
    return gatewayError(error, requestId, origin, admitted);
  }
}
