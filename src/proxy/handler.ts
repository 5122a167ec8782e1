import { IDENTITY_CHANGED } from "../issuing/identity/user-admission";
import { ApiError, errorResponse } from "../lib/errors";
import { reserveFor } from "../limits/reserve";
import type { Admitted, Refused } from "../tokens/admission";
import { admitToken } from "../tokens/admission-cache";
import { allowanceHeaders, refusalHeaders } from "../tokens/allowance";
import { recordRequest } from "../usage/record";
import { allowlistFor, checkAllowed } from "./allowlist";
import { resolveCredential, reverifyCredential } from "./auth";
import { type JsonBody, readJsonBody, wantsJsonRead } from "./body";
import { addCors, preflight } from "./cors";
import { forward } from "./forward";
import { cachedUpstreamKey, isKnownUnknown, rememberUnknown, upstreamKey } from "./isolate-caches";
import { parseApiPath } from "./path";
import { providerFor } from "./providers";
import { type RequestFacts, requestDraft } from "./request-facts";

const DEFAULT_MAX_JSON_BODY_BYTES = 4 * 1024 * 1024;

const TOKEN_NOT_FOUND = new ApiError(401, "token_not_found", "The token is not known to this gateway.");

function refusalError(refused: Refused): ApiError {
  return new ApiError(refused.status, refused.code, refused.message, {
    headers: refusalHeaders(refused),
    param: refused.param ?? null,
    ...(refused.retryable !== undefined ? { retryable: refused.retryable } : {}),
  });
}

/** Chat and legacy completions streams for which the gateway may ask the upstream for usage itself. */
function wantsUsageInjection(path: string, json: Record<string, unknown>): boolean {
  if (json.stream !== true || (path !== "/chat/completions" && path !== "/completions")) return false;
  const options = json.stream_options;
  return !(
    typeof options === "object" &&
    options !== null &&
    (options as Record<string, unknown>).include_usage === true
  );
}

/**
 * The `/v1/*` proxy. Warm path: path and allowlist checks, token format and hash (in memory), at most one
 * bounded body read for JSON, exactly one Durable Object call (`admit`: every check and the count in one
 * step), the upstream fetch. No D1 query; the upstream key is decrypted once per isolate.
 */
export async function handleProxy(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  const requestId = crypto.randomUUID();
  if (request.method === "OPTIONS") return preflight(request, requestId);
  const origin = request.headers.get("origin");
  const url = new URL(request.url);
  const facts: RequestFacts = {
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
  let admitted: Admitted | null = null;
  let objectKey: string | undefined;
  try {
    const apiPath = parseApiPath(url.pathname);
    checkAllowed(allowlistFor(env.PROXY_ALLOWLIST), request.method, apiPath.segments);
    // The hash and (below) the admission are synchronous on the warm path: no await hop for what is known.
    const resolving = resolveCredential(env, request.headers);
    let presented = resolving instanceof Promise ? await resolving : resolving;
    if (presented.hash !== null && isKnownUnknown(presented.hash)) throw TOKEN_NOT_FOUND;

    let body: JsonBody | null = null;
    if (wantsJsonRead(request.method, request.headers)) {
      body = await readJsonBody(request, Number(env.MAX_JSON_BODY_BYTES) || DEFAULT_MAX_JSON_BODY_BYTES);
      const json = body.json;
      facts.json = json;
      if (json) {
        facts.model = typeof json.model === "string" ? json.model : null;
        facts.stream = json.stream === true;
      }
    }

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

    const provider = providerFor(admission.upstream.provider);
    if (!provider) {
      throw new ApiError(
        502,
        "upstream_error",
        `The project's provider '${admission.upstream.provider}' is not supported.`,
        {
          retryable: false,
        },
      );
    }
    const { apiKeyEncrypted, baseUrl } = admission.upstream;
    const apiKey =
      cachedUpstreamKey(apiKeyEncrypted, env.ENCRYPTION_KEY) ??
      (await upstreamKey(apiKeyEncrypted, env.ENCRYPTION_KEY));

    // request.body only when it was not read: the getter makes a stream object each time.
    let forwardBody: BodyInit | null = body ? body.bytes : request.body;
    let bodyUnchanged = true;
    let strip = false;
    if (body) {
      if (body.json && provider.streamUsage && wantsUsageInjection(apiPath.raw, body.json)) {
        const options = (body.json.stream_options ?? {}) as Record<string, unknown>;
        forwardBody = JSON.stringify({ ...body.json, stream_options: { ...options, include_usage: true } });
        bodyUnchanged = false;
        strip = true;
      }
    }
    return await forward({
      request,
      env,
      ctx,
      facts,
      admitted,
      objectKey,
      provider,
      target: { baseUrl, apiKey },
      path: apiPath.raw,
      search: url.search,
      body: forwardBody,
      bodyUnchanged,
      strip,
      original: strip ? body?.bytes : undefined,
      origin,
    });
  } catch (err) {
    const apiError =
      err instanceof ApiError
        ? err
        : new ApiError(500, "internal_error", "The gateway failed to handle the request.");
    if (!(err instanceof ApiError)) console.error("proxy error", requestId, err);
    const extra = admitted ? allowanceHeaders(admitted) : undefined;
    const res = errorResponse(apiError, extra);
    res.headers.set("x-request-id", requestId);
    addCors(res.headers, origin, extra ? Object.keys(extra) : []);
    recordRequest(
      env,
      ctx,
      requestDraft(facts, { status: apiError.status, error: apiError.code, ttfbMs: null, aborted: false }),
      admitted ? objectKey : undefined,
    );
    return res;
  }
}
