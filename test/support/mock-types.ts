// Shapes shared by the mock upstream (Node) and the tests that read its control endpoint (workerd).
// Types only, so both runtimes can import this file.

/** One request as the mock upstream received it. */
export type RecordedRequest = {
  /** Order of arrival, from 1. */
  seq: number;
  method: string;
  /** Path and query exactly as received. */
  url: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The `x-mock-tag` header, if any: lets concurrent tests find their own requests. */
  tag: string | null;
  /** The `name` of the upstream the request was addressed to (see `upstreamBase`), if any. */
  upstream: string | null;
  bodyBytes: number;
  bodySha256: string;
  /** The body as UTF-8 text, only when it is at most 64 KiB. */
  bodyText: string | null;
  /** The client (the gateway) closed the connection before the mock finished its response. */
  aborted: boolean;
  /** The mock wrote its whole response. */
  completed: boolean;
};

/**
 * Request headers that steer the mock (they pass through the gateway like any other header):
 * - `x-mock-tag`: free text recorded with the request, for filtering.
 * - `x-mock-chunks` (default 3) and `x-mock-interval-ms` (default 0): stream shape.
 * - `x-mock-status`: answer with this HTTP status and an OpenAI error envelope.
 * - `x-mock-hang-ms`: wait this long before sending anything (headers included).
 * - `x-mock-fail-after`: on a stream, send an error event after this many content chunks, then end.
 * - `x-mock-reset`: `before` destroys the socket before any byte; `head` after a stream's head, before
 *   any event; `after` after the first chunk (and after `x-mock-interval-ms`, if given, so that chunk
 *   reaches the gateway before the reset).
 * - `x-mock-no-usage`: `1` leaves usage out of answers (and out of streams even when asked).
 * - `x-mock-no-done`: `1` ends a stream without `data: [DONE]`.
 * - `x-mock-responses-end`: `incomplete` or `failed` for a Responses stream's final event.
 * - `x-mock-reject-stream-options`: `1` answers 400 to any body with `stream_options` (like some
 *   OpenAI-compatible servers).
 */
/**
 * Several upstreams on the one mock: a base URL `<mock>/up/<behaviour>/v1`, where the behaviour is a
 * comma-separated list of `name=value` pairs — `name` (recorded as the request's `upstream`) and any
 * `x-mock-*` setting without its prefix (`status=503`, `hang-ms=5000`, `reset=before`, …), which then
 * apply to every request sent there, ahead of the request's own headers. Also:
 * - `retry-after=N`: the `retry-after` header of a 429 (default 0);
 * - `fail-first=N`: the failure settings apply to the first N requests of that upstream name only;
 * - `echo-model=1`: chat answers carry `x-mock-upstream-name` so a client can tell who answered.
 * An API key of the form `<anything>;status=429;retry-after=2` steers the mock the same way for requests
 * made with that key, so two keys of one upstream can behave differently.
 */
export function upstreamBase(mockUrl: string, behaviour: Record<string, string | number>): string {
  const spec = Object.entries(behaviour)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return `${mockUrl}/up/${encodeURIComponent(spec)}/v1`;
}

export const MOCK_HEADERS = [
  "x-mock-tag",
  "x-mock-chunks",
  "x-mock-interval-ms",
  "x-mock-status",
  "x-mock-hang-ms",
  "x-mock-fail-after",
  "x-mock-reset",
  "x-mock-no-usage",
  "x-mock-no-done",
  "x-mock-responses-end",
  "x-mock-reject-stream-options",
] as const;
