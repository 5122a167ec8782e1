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

/** Only POSTed JSON is read; everything else (multipart uploads, binaries, GETs) streams through unread. */
export function wantsJsonRead(method: string, headers: Headers): boolean {
  if (method !== "POST") return false;
  const type = headers.get("content-type");
  return type !== null && (type.includes("application/json") || type.includes("+json"));
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
