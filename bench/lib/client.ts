// One timed HTTP request over a keep-alive undici dispatcher. Times are taken with performance.now()
// (monotonic, sub-millisecond) from just before the request is handed to the dispatcher.
import { Agent, type Dispatcher, Pool } from "undici";

export type RequestSpec = {
  /** Absolute URL: origin, path and query. */
  url: string;
  /** Default: POST when there is a body, else GET. */
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
};

export type Timing = {
  /** HTTP status, or 0 when the request failed without one (refused, reset, timed out). */
  status: number;
  /** Response headers received. */
  headersMs: number;
  /** First byte of the response body (= headers for an empty body). */
  ttfbMs: number;
  /** Whole body read. */
  totalMs: number;
  bytes: number;
  /** Arrival time of each complete server-sent event (a blank-line-terminated block), when tracked. */
  eventsMs?: number[];
  /** For failures: `HTTP <status> <error.code>` from an OpenAI-shaped envelope, or the network error code. */
  error?: string;
};

export type TimedRequestOptions = {
  timeoutMs?: number;
  /** Record each SSE event's arrival time (costs a little per chunk; leave off for plain load). */
  trackEvents?: boolean;
  signal?: AbortSignal;
};

/** A keep-alive connection pool to the URL's origin, `connections` sockets at most. */
export function createPool(url: string, connections: number): Pool {
  return new Pool(new URL(url).origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
  });
}

/** A keep-alive agent for several origins (e.g. a comparison of two gateways). */
export function createAgent(connectionsPerOrigin: number): Agent {
  return new Agent({ connections: connectionsPerOrigin, pipelining: 1, keepAliveTimeout: 60_000 });
}

const MAX_ERROR_BODY = 4096;

function errorLabel(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; type?: unknown } };
    const code = parsed.error?.code ?? parsed.error?.type;
    if (typeof code === "string" && code) return `HTTP ${status} ${code}`;
  } catch {
    // Not JSON: the status alone names the failure.
  }
  return `HTTP ${status}`;
}

function networkLabel(err: unknown): string {
  if (err && typeof err === "object") {
    const e = err as { code?: unknown; name?: unknown; cause?: { code?: unknown } };
    if (typeof e.code === "string") return e.code;
    if (typeof e.cause?.code === "string") return e.cause.code;
    if (e.name === "AbortError") return "aborted";
  }
  return "network_error";
}

/** Sends one request and reads the whole response, timing headers, first body byte and end. */
export async function timedRequest(
  dispatcher: Dispatcher,
  spec: RequestSpec,
  opts: TimedRequestOptions = {},
): Promise<Timing> {
  const url = new URL(spec.url);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const start = performance.now();
  let headersMs = 0;
  let ttfbMs = 0;
  let bytes = 0;
  let status = 0;
  const eventsMs: number[] | undefined = opts.trackEvents ? [] : undefined;
  try {
    const res = await dispatcher.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: (spec.method ?? (spec.body === undefined ? "GET" : "POST")) as Dispatcher.HttpMethod,
      headers: spec.headers,
      body: spec.body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: opts.signal,
    });
    status = res.statusCode;
    headersMs = performance.now() - start;
    const failed = status >= 400;
    let errorBody = "";
    // SSE events end with a blank line; `tail` carries a chunk's last character over to the next one.
    let tail = "";
    const decoder = eventsMs || failed ? new TextDecoder() : undefined;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      const now = performance.now() - start;
      if (bytes === 0) ttfbMs = now;
      bytes += chunk.byteLength;
      if (failed && errorBody.length < MAX_ERROR_BODY) errorBody += decoder!.decode(chunk, { stream: true });
      if (eventsMs) {
        const text = tail + decoder!.decode(chunk, { stream: true }).replaceAll("\r", "");
        let from = 0;
        for (;;) {
          const at = text.indexOf("\n\n", from);
          if (at < 0) break;
          eventsMs.push(now);
          from = at + 2;
        }
        tail = text.endsWith("\n") && from < text.length ? "\n" : "";
      }
    }
    const totalMs = performance.now() - start;
    if (bytes === 0) ttfbMs = headersMs;
    const timing: Timing = { status, headersMs, ttfbMs, totalMs, bytes };
    if (eventsMs) timing.eventsMs = eventsMs;
    if (failed) timing.error = errorLabel(status, errorBody);
    return timing;
  } catch (err) {
    const totalMs = performance.now() - start;
    const label =
      status === 0
        ? networkLabel(err)
        : `HTTP ${status} body ${networkLabel(err)}`; /* the body broke off after the headers */
    return { status, headersMs, ttfbMs, totalMs, bytes, error: label };
  }
}
