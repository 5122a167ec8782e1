import { ApiError, errorResponse } from "../lib/errors";
import type { Admitted } from "../tokens/admission";
import { allowanceHeaders } from "../tokens/allowance";
import { recordRequest } from "../usage/record";
import { addCors } from "./cors";
import { downstreamResponseHeaders, upstreamRequestHeaders } from "./headers";
import { emptyObserved } from "./observe";
import type { Provider, UpstreamTarget } from "./providers";
import { type Outcome, type RequestFacts, requestDraft } from "./request-facts";
import { JSON_COPY_CAP, observeJsonBytes, readJsonCopy, sseTap, type TapResult } from "./tap";

const DEFAULT_UPSTREAM_TIMEOUT_MS = 60_000;

export type Forward = {
  request: Request;
  env: Env;
  ctx: ExecutionContext;
  facts: RequestFacts;
  admitted: Admitted;
  /** The object that admitted the request (and settles its reservation). */
  objectKey: string;
  provider: Provider;
  target: UpstreamTarget;
  path: string;
  search: string;
  body: BodyInit | null;
  /** The body goes up byte for byte (its content-length still holds). */
  bodyUnchanged: boolean;
  /** Remove the usage-only final chunk the gateway asked for on the client's behalf. */
  strip: boolean;
  /** With `strip`: the client's own body, sent instead if the upstream refuses `stream_options`. */
  original?: Uint8Array;
  origin: string | null;
};

/**
 * Sends the request upstream and shapes the answer: the upstream's status, headers and bytes, plus the
 * gateway's request id, allowance and CORS headers. A client that goes away aborts the upstream call; no
 * first byte within UPSTREAM_TIMEOUT_MS is a 504; a refused or broken connection a 502.
 */
export async function forward(f: Forward): Promise<Response> {
  const { request, env, ctx, facts, admitted } = f;
  const allowance = allowanceHeaders(admitted);
  const controller = new AbortController();
  let reason: "timeout" | "client" | null = null;
  const timeoutMs = Number(env.UPSTREAM_TIMEOUT_MS) || DEFAULT_UPSTREAM_TIMEOUT_MS;
  const timer = setTimeout(() => {
    reason ??= "timeout";
    controller.abort();
  }, timeoutMs);
  const onClientAbort = () => {
    reason ??= "client";
    controller.abort();
  };
  request.signal?.addEventListener("abort", onClientAbort);
  const record = (outcome: Outcome) => {
    request.signal?.removeEventListener("abort", onClientAbort);
    recordRequest(env, ctx, requestDraft(facts, outcome), f.objectKey);
  };

  const send = (body: BodyInit | null, unchanged: boolean) =>
    f.provider.send(f.target, {
      method: request.method,
      path: f.path,
      search: f.search,
      headers: upstreamRequestHeaders(request.headers, unchanged),
      body,
      signal: controller.signal,
    });
  let upstream: Response;
  let stripAsked = f.strip;
  try {
    upstream = await send(f.body, f.bodyUnchanged);
    if (f.strip && f.original && upstream.status === 400) {
      // Some OpenAI-compatible servers refuse stream_options: then send exactly what the client sent.
      const text = await upstream.text();
      if (text.includes("stream_options")) {
        upstream = await send(f.original, true);
        stripAsked = false;
      } else {
        upstream = new Response(text, upstream);
      }
    }
  } catch (err) {
    clearTimeout(timer);
    const error =
      reason === "timeout"
        ? new ApiError(504, "upstream_timeout", `The upstream sent nothing within ${timeoutMs} ms.`)
        : new ApiError(502, "upstream_error", "The upstream could not be reached or broke the connection.");
    if (reason !== "timeout" && reason !== "client")
      console.error("upstream fetch failed", facts.requestId, err);
    const aborted = reason === "client";
    record({
      status: aborted ? 499 : error.status,
      error: aborted ? "client_closed" : error.code,
      ttfbMs: null,
      aborted,
    });
    const res = errorResponse(error, allowance);
    res.headers.set("x-request-id", facts.requestId);
    addCors(res.headers, f.origin, Object.keys(allowance));
    return res;
  }
  clearTimeout(timer);
  const ttfbMs = Date.now() - facts.started;
  const type = upstream.headers.get("content-type") ?? "";
  const isSse = type.startsWith("text/event-stream");
  const isJson = !isSse && type.includes("json");
  const strip = stripAsked && isSse && upstream.ok;
  const keepLength = !strip && !upstream.headers.has("content-encoding");
  const headers = downstreamResponseHeaders(upstream.headers, facts.requestId, keepLength);
  for (const name in allowance) headers.set(name, allowance[name]!);
  addCors(headers, f.origin, Object.keys(allowance));
  const base = {
    status: upstream.status,
    ttfbMs,
    upstreamRequestId: upstream.headers.get("x-request-id"),
    stream: isSse,
  };

  if (!upstream.body || (!isSse && !isJson)) {
    // Binary or empty: the runtime pipes the bytes natively; the event is complete at the first byte.
    record({ ...base, error: upstream.ok ? null : `upstream_${upstream.status}`, aborted: false });
    return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers });
  }

  const finish = (result: TapResult) => {
    const seen = result.observed();
    const aborted = result.aborted || reason === "client";
    const error = seen.error ?? (upstream.ok ? null : `upstream_${upstream.status}`);
    // request.signal says the client left; a stream cancelled otherwise was cut off on either side.
    const cut = reason === "client" ? "client_closed" : "stream_interrupted";
    record({ ...base, ...seen, endedAt: result.endedAt, aborted, error: aborted ? (error ?? cut) : error });
  };
  if (!isSse) {
    const declared = keepLength ? upstream.headers.get("content-length") : null;
    if (declared !== null && Number(declared) <= JSON_COPY_CAP) {
      // A JSON answer of known, bounded length: read in one native step and answered from memory. A client
      // cannot use part of a JSON document, and it is the copy the gateway keeps anyway.
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await upstream.arrayBuffer());
      } catch (err) {
        finish({ aborted: true, endedAt: Date.now(), observed: emptyObserved });
        // As the streamed case would: the client gets the upstream's head, then a broken body.
        const broken = new ReadableStream({ start: (c) => c.error(err) });
        return new Response(broken, { status: upstream.status, statusText: upstream.statusText, headers });
      }
      const result = { aborted: false, endedAt: Date.now(), observed: () => observeJsonBytes(bytes) };
      // Parsing a small body takes microseconds, less than the timer that would defer it past the response.
      if (bytes.byteLength <= PARSE_AT_ONCE_BYTES) finish(result);
      else ctx.waitUntil(afterTick(() => finish(result)));
      return new Response(bytes, { status: upstream.status, statusText: upstream.statusText, headers });
    }
    // JSON of unknown or large size: the client's bytes go through the runtime's native tee (no JS on their
    // way), the copy is read beside them and parsed once it has ended.
    const [toClient, copy] = upstream.body.tee();
    ctx.waitUntil(readJsonCopy(copy).then(finish));
    return new Response(toClient, { status: upstream.status, statusText: upstream.statusText, headers });
  }
  let ended: (result: TapResult) => void = () => {};
  const end = new Promise<TapResult>((resolve) => {
    ended = resolve;
  });
  // Parsing what the tap saw and queueing the event wait until the last chunk has left the tap.
  ctx.waitUntil(end.then((result) => afterTick(() => finish(result))));
  const onEnd = (result: TapResult) => {
    if (result.aborted) controller.abort();
    ended(result);
  };
  return new Response(upstream.body.pipeThrough(sseTap(strip, onEnd)), {
    status: upstream.status,
    statusText: upstream.statusText,
    headers,
  });
}

const PARSE_AT_ONCE_BYTES = 64 * 1024;

/** The event's work after a timer tick, so the client's last bytes go out first. */
async function afterTick(work: () => void): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  work();
}
