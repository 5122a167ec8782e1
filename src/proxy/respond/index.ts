import type { Admitted } from "../../tokens/admission";
import { allowanceHeaders } from "../../tokens/allowance";
import { recordRequest } from "../../usage/record";
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
  addCors(headers, ex.origin, Object.keys(allowance));

  const base = {
    status: upstream.status,
    ttfbMs,
    // OpenAI's and most servers' `x-request-id`; Anthropic's `request-id`.
    upstreamRequestId: upstream.headers.get("x-request-id") ?? upstream.headers.get("request-id"),
    stream: isSse,
  };
  const upstreamError = upstream.ok ? null : `upstream_${upstream.status}`;
  const record = (outcome: Omit<Outcome, keyof typeof base>) => {
    ex.abort.release();
    recordRequest(ex.env, ex.ctx, requestDraft(ex.facts, { ...base, ...outcome }), ex.objectKey);
  };

  const finish = (result: TapResult) => {
    const seen = result.observed();
    const clientLeft = ex.abort.reason === "client";
    const aborted = result.aborted || clientLeft;
    const error = seen.error ?? upstreamError;
    // request.signal says the client left; a stream cancelled otherwise was cut off on either side.
    const cut = clientLeft ? "client_closed" : "stream_interrupted";
    record({ ...seen, endedAt: result.endedAt, aborted, error: aborted ? (error ?? cut) : error });
  };
  const body = upstream.body;
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
        },
        translate,
        isSse,
        ex.facts.model ?? "",
      ),
    );
  }
  if (!body || (!isSse && !isJson)) {
    return passBinary(upstream, body, headers, () => record({ error: upstreamError, aborted: false }));
  }
  const relay = { upstream, body, headers, ctx: ex.ctx, observer: ex.observer, abort: ex.abort, finish };
  return isSse ? relaySse(relay, strip) : relayJson(relay, keepLength);
}
