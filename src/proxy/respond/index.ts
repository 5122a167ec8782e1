import { store } from "../../cache/tiers";
import type { Admitted } from "../../tokens/admission";
import { allowanceHeaders } from "../../tokens/allowance";
import { recordRequest } from "../../usage/record";
import { type CacheCandidate, cacheHeaders, type StoreTarget } from "../cache-step";
import { addCors } from "../cors";
import { downstreamResponseHeaders } from "../headers";
import type { AnswerObserver } from "../observe";
import { type Outcome, type RequestFacts, requestDraft } from "../request-facts";
import type { Sent, UpstreamAbort } from "../send";
import { passBinary } from "./binary";
import { relayJson } from "./json";
import type { TapResult } from "./relay";
import { relaySse } from "./sse";
import type { Translate } from "./translated";

export { gatewayError } from "./gateway-error";

/** The request a response belongs to, for its headers and its event. */
export type Exchange = {
  env: Env;
  ctx: ExecutionContext;
  facts: RequestFacts;
  admitted: Admitted;
  /** The object that admitted the request (and settles its reservation). */
  objectKey: string;
  origin: string | null;
  abort: UpstreamAbort;
  /** Reads the upstream's answer in the provider's own dialect (usage exactly as it reported it). */
  observer: AnswerObserver;
  /** Set when the provider translated the call (OpenAI chat on Claude or Gemini): the answer is turned back. */
  translate: Translate | null;
  /** The response cache's view of the request, when it is a candidate (see cache-step.ts). */
  cache?: CacheCandidate | null;
};

/**
 * The upstream's answer as the client gets it: the upstream's status, headers and bytes, plus the gateway's
 * request id, allowance and CORS headers. The body goes to the handler of its kind (binary, JSON, SSE),
 * which records the request's event when the body is over.
 */
export function respond(sent: Sent, ex: Exchange): Response | Promise<Response> {
  const upstream = sent.response;
  const ttfbMs = Date.now() - ex.facts.started;
  const type = upstream.headers.get("content-type") ?? "";
  const isSse = type.startsWith("text/event-stream");
  const isJson = !isSse && type.includes("json");
  const strip = sent.injected && isSse && upstream.ok;
  const keepLength = !strip && !ex.translate && !upstream.headers.has("content-encoding");
  const headers = downstreamResponseHeaders(upstream.headers, ex.facts.requestId, keepLength);
  const allowance = allowanceHeaders(ex.admitted);
  for (const name in allowance) headers.set(name, allowance[name]!);
  if (ex.origin) addCors(headers, ex.origin, Object.keys(allowance));
  const cache = ex.cache;
  if (cache?.status) cacheHeaders(headers, cache.status);

  // OpenAI's and most servers' `x-request-id`; Anthropic's `request-id`.
  const upstreamRequestId = upstream.headers.get("x-request-id") ?? upstream.headers.get("request-id");
  const upstreamError = upstream.ok ? null : `upstream_${upstream.status}`;
  // Each outcome is built as one object literal (no spread of a partial outcome into another: every request).
  const record = (outcome: Outcome) => {
    ex.abort.release();
    recordRequest(ex.env, ex.ctx, requestDraft(ex.facts, outcome), ex.objectKey);
  };

  const finish = (result: TapResult) => {
    const seen = result.observed();
    const clientLeft = ex.abort.reason === "client";
    const aborted = result.aborted || clientLeft;
    const error = seen.error ?? upstreamError;
    // request.signal says the client left; a stream cancelled otherwise was cut off on either side.
    const cut = clientLeft ? "client_closed" : "stream_interrupted";
    // Everything the observer saw (model, usage, text and its size, audio seconds…) goes into the outcome.
    record({
      ...seen,
      status: upstream.status,
      ttfbMs,
      upstreamRequestId,
      stream: isSse,
      endedAt: result.endedAt,
      aborted,
      error: aborted ? (error ?? cut) : error,
    });
  };
  const body = upstream.body;
  // Only a 200 is ever kept for the cache: errors (and anything else) are never stored.
  const target = upstream.status === 200 ? cache?.target : null;
  // A translated answer reaches the client as OpenAI's JSON or SSE, whatever the upstream's type.
  const clientType = ex.translate ? (isSse ? "text/event-stream; charset=utf-8" : "application/json") : type;
  const keep = target ? { limit: target.maxBytes, whole: keeper(ex, target, clientType, isSse) } : undefined;
  if (ex.translate) {
    const translate = ex.translate;
    // Loaded only for translated calls: plain OpenAI traffic never evaluates the translation code.
    return import("./translated").then(({ relayTranslated }) =>
      relayTranslated(
        {
          upstream,
          body: body ?? new ReadableStream(),
          headers,
          ctx: ex.ctx,
          observer: ex.observer,
          abort: ex.abort,
          finish,
          keep,
        },
        translate,
        isSse,
        ex.facts.model ?? "",
      ),
    );
  }
  if (!body || (!isSse && !isJson)) {
    return passBinary(upstream, body, headers, () =>
      record({
        status: upstream.status,
        ttfbMs,
        upstreamRequestId,
        stream: isSse,
        error: upstreamError,
        aborted: false,
      }),
    );
  }
  const relay = {
    upstream,
    body,
    headers,
    ctx: ex.ctx,
    observer: ex.observer,
    abort: ex.abort,
    finish,
    keep,
  };
  return isSse ? relaySse(relay, strip) : relayJson(relay, keepLength);
}

/**
 * Stores a whole answer for the response cache (see `Relay.keep`): called as soon as the answer is complete,
 * before the client has seen its end, so the client's next identical request finds it.
 */
function keeper(ex: Exchange, target: StoreTarget, contentType: string, stream: boolean) {
  return (result: TapResult) => {
    if (result.aborted || ex.abort.reason === "client") return;
    const seen = result.observed();
    if (seen.error) return;
    const body = result.kept?.();
    if (!body) return;
    const entry = { storedAt: Date.now(), contentType, stream, model: seen.model, usage: seen.usage, body };
    store(ex.env, ex.ctx, target.key, entry, target.ttlSeconds);
  };
}
