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
 * - `x-mock-reset`: `before` destroys the socket before any byte; `after` after the first chunk (and after
 *   `x-mock-interval-ms`, if given, so that chunk reaches the gateway before the reset).
 * - `x-mock-no-usage`: `1` leaves usage out of answers (and out of streams even when asked).
 * - `x-mock-no-done`: `1` ends a stream without `data: [DONE]`.
 * - `x-mock-responses-end`: `incomplete` or `failed` for a Responses stream's final event.
 * - `x-mock-reject-stream-options`: `1` answers 400 to any body with `stream_options` (like some
 *   OpenAI-compatible servers).
 */
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
