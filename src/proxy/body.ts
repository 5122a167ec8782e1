import { concatBytes } from "../lib/bytes";
import { ApiError } from "../lib/errors";
import { parseJsonObject } from "../lib/json";

/** A JSON request body the gateway read (to learn model and stream flag). */
export type JsonBody = {
  bytes: Uint8Array;
  /** null when the bytes are not a JSON object: they are forwarded anyway and the upstream judges them. */
  json: Record<string, unknown> | null;
};

// Non-streaming decodes keep no state between calls: one decoder serves the isolate.
const decoder = new TextDecoder();

const tooLarge = (limit: number) =>
  new ApiError(
    413,
    "request_too_large",
    `The request body is larger than this gateway's limit of ${limit} bytes.`,
  );

/**
 * Media types an upstream may read a request's parameters from: JSON in any spelling (media types are
 * case-insensitive), text and no type at all (servers that parse JSON whatever the client declared), forms.
 */
const PARAMETER_TYPES = /^\s*(?:[^;]*json|text\/plain|application\/x-www-form-urlencoded)?\s*(?:;|$)/i;

/**
 * Which POST bodies the gateway reads: every one an upstream may take parameters from — the model, and the
 * stored objects a body names (src/ownership/refs.ts) must come from what the gateway read, never from
 * bytes it forwarded unread. Multipart uploads, binaries and GETs stream through unread.
 */
export function wantsJsonRead(method: string, headers: Headers): boolean {
  return method === "POST" && PARAMETER_TYPES.test(headers.get("content-type") ?? "");
}

/**
 * A body that was read but is not a JSON object (a form, JSON with `NaN`, an array, text): an upstream might
 * still take parameters from it that the gateway never saw, so it is refused instead of forwarded.
 */
export function unreadBody(body: JsonBody): ApiError | null {
  if (body.json !== null || body.bytes.byteLength === 0) return null;
  return new ApiError(
    400,
    "invalid_json",
    "The request body is not a JSON object (send JSON with content-type: application/json).",
  );
}

/**
 * Reads a JSON body up to `limit` bytes: refuses early from content-length when it is sent, and counts the
 * bytes of a chunked body as they arrive (413 `request_too_large` past the limit, without reading on).
 */
export async function readJsonBody(request: Request, limit: number): Promise<JsonBody> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (Number(declared) > limit) throw tooLarge(limit);
    // The runtime enforces the declared length: one native read, no per-chunk counting.
    const bytes = new Uint8Array(await request.arrayBuffer());
    return { bytes, json: parseObject(bytes) };
  }
  const body = request.body;
  if (!body) return { bytes: new Uint8Array(0), json: null };
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      void reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    parts.push(value);
  }
  const bytes = concatBytes(parts, size);
  return { bytes, json: parseObject(bytes) };
}

const parseObject = (bytes: Uint8Array) => parseJsonObject(decoder.decode(bytes));
