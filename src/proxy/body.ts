import { concatBytes } from "../lib/bytes";
import { ApiError } from "../lib/errors";
import { isObject } from "../lib/json";

/** A JSON request body the gateway read (to learn model and stream flag). */
export type JsonBody = {
  bytes: Uint8Array;
  /** The object the body holds; null only for an empty body (a POST without one). */
  json: Record<string, unknown> | null;
  /**
   * The object names `model` more than once (`"model"` twice, or spelled with escapes): parsers differ on
   * which one wins, so the model the gateway read might not be the upstream's (refused for a restricted
   * token: proxy/inspect.ts).
   */
  ambiguousModel?: true;
  /**
   * An object inside the body names `model` more than once: a Gemini body's nested model fields
   * (`requests[].model`, `generateContentRequest.model`) are then as ambiguous as a top-level one.
   */
  ambiguousInnerModel?: true;
  /**
   * Where the top-level `"model"` key starts (as a character index of the text), when the body names
   * `"model"` exactly once and escapes no letter of it: then that occurrence is the key. A routed request
   * rewrites the model's value there (`withModel`) instead of serialising the whole body again.
   */
  modelKeyAt?: number;
};

/** How the gateway can read a request's body, from its method and content type. */
export type BodyKind = "json" | "multipart" | "other" | "none";

/**
 * The media type of a Content-Type value: before any parameter, trimmed, lower-cased
 * (`Application/JSON; charset=utf-8` is `application/json`). RFC 9110: types and subtypes are case-insensitive.
 */
export function mediaType(contentType: string | null): string | null {
  if (contentType === null) return null;
  const semi = contentType.indexOf(";");
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** JSON (`application/json`, `*+json`) and multipart form bodies of a POST are read; the rest stream unread. */
export function bodyKind(method: string, headers: Headers): BodyKind {
  if (method !== "POST") return "none";
  const type = mediaType(headers.get("content-type"));
  if (type === null || type === "") return "other";
  if (type === "application/json" || type.endsWith("+json")) return "json";
  if (type === "multipart/form-data") return "multipart";
  return "other";
}

// Non-streaming decodes keep no state between calls: one decoder serves the isolate. Fatal: bytes that are
// not UTF-8 are refused, not replaced, so the model the gateway read is the one the upstream reads.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

const tooLarge = (limit: number) =>
  new ApiError(
    413,
    "request_too_large",
    `The request body is larger than this gateway's limit of ${limit} bytes.`,
  );

/** Only POSTed JSON is read here (multipart: multipart.ts, parsed by form-scanner.ts); everything else streams through unread. */
export const wantsJsonRead = (method: string, headers: Headers): boolean =>
  bodyKind(method, headers) === "json";

/**
 * Reads a JSON body up to `limit` bytes: refuses early from content-length when it is sent, and counts the
 * bytes of a chunked body as they arrive (413 `request_too_large` past the limit, without reading on).
 */
export async function readJsonBody(request: Request, limit: number): Promise<JsonBody> {
  return parsed(await readBytes(request, limit));
}

async function readBytes(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (Number(declared) > limit) throw tooLarge(limit);
    // The runtime enforces the declared length: one native read, no per-chunk counting.
    return new Uint8Array(await request.arrayBuffer());
  }
  const body = request.body;
  if (!body) return new Uint8Array(0);
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
  return concatBytes(parts, size);
}

/**
 * A POST body the gateway does not read as JSON, but an upstream may still take parameters from: text, no
 * content type, a form. Unrestricted tokens' such bodies are forwarded as they are (proxy/inspect.ts), yet
 * the stored objects they name must be the token's own like a JSON body's (src/ownership/refs.ts).
 */
export function readsAsParameters(method: string, headers: Headers): boolean {
  if (method !== "POST") return false;
  const type = mediaType(headers.get("content-type"));
  return !type || type === "text/plain" || type === "application/x-www-form-urlencoded";
}

const lenient = new TextDecoder();

/**
 * Such a body, read (up to `limit`) for the ownership walk only: the bytes to forward unchanged, and what it
 * names — the object it holds when it is JSON text, a form's fields (`a[b][0]=v` as `{a: v, b: v, 0: v}`,
 * so a field named anywhere in the key is found), else null.
 */
export async function readParameterBody(
  request: Request,
  limit: number,
): Promise<{ bytes: Uint8Array; names: Record<string, unknown> | null }> {
  const bytes = await readBytes(request, limit);
  const text = lenient.decode(bytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON: read as a form below.
  }
  if (isObject(value)) return { bytes, names: value };
  // JSON-looking text the gateway cannot read as an object (NaN, an array…): a lenient upstream parser
  // might still read parameters from it, which the gateway could not check.
  if (/^\s*[[{]/.test(text)) throw notJson("it is not a JSON object the gateway can read");
  if (mediaType(request.headers.get("content-type")) !== "application/x-www-form-urlencoded") {
    return { bytes, names: null };
  }
  const fields: Record<string, string>[] = [];
  for (const [key, value] of new URLSearchParams(text)) {
    const field: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const name of key.split(/[[\]]+/)) if (name) field[name] = value;
    fields.push(field);
  }
  return { bytes, names: { fields } };
}

/**
 * JSON nested deeper than this is refused before it is parsed: V8's JSON.parse takes seconds of CPU on a
 * few MB of `[[[[…` (superlinear in depth), and every later walk or re-serialisation would recurse that
 * deep. Real requests (messages, tools, JSON schemas) nest a few dozen levels at most.
 */
export const MAX_JSON_DEPTH = 128;

const tooDeep = new ApiError(
  400,
  "invalid_json",
  `The JSON body is nested deeper than ${MAX_JSON_DEPTH} levels.`,
);

/** Whether JSON text nests deeper than `max` (brackets inside strings do not count): one pass over the bytes. */
export function nestsDeeperThan(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > max) return true;
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return false;
}

const notJson = (detail: string) =>
  new ApiError(400, "invalid_json", `The request body is not valid JSON: ${detail}. Nothing was forwarded.`);

/**
 * The object a JSON body holds. A body the gateway cannot read as one is refused (400 `invalid_json`), never
 * forwarded "as is": what the gateway checked (model, budget) must be what the upstream reads. An empty body
 * is no object (null): endpoints that need one are refused later.
 */
function parsed(bytes: Uint8Array): JsonBody {
  if (bytes.byteLength === 0) return { bytes, json: null };
  if (nestsDeeperThan(bytes, MAX_JSON_DEPTH)) throw tooDeep;
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw notJson("it is not UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw notJson("it does not parse");
  }
  if (!isObject(value)) throw notJson("it is not a JSON object");
  // Two native searches on ordinary bodies; the scan only for a body that may name `model` twice (the
  // letters of "model" escaped as \u006…, or "model" appearing more than once anywhere).
  const first = text.indexOf('"model"');
  const suspect = (first >= 0 && text.indexOf('"model"', first + 1) >= 0) || text.includes("\\u006");
  if (suspect) {
    const keys = keyCounts(text, "model");
    if (keys.top > 1 || keys.inner)
      return {
        bytes,
        json: value,
        ...(keys.top > 1 ? { ambiguousModel: true as const } : {}),
        ...(keys.inner ? { ambiguousInnerModel: true as const } : {}),
      };
  }
  return suspect || first < 0 ? { bytes, json: value } : { bytes, json: value, modelKeyAt: first };
}

const encoder = new TextEncoder();
const MODEL_KEY = encoder.encode('"model"');
const isSpace = (b: number | undefined) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/**
 * The body's bytes with its top-level `model` set to `model`, every other byte as the client sent it: the
 * value is replaced in place, so the cost is the bytes before it plus one copy, not a serialisation of the
 * whole body (a 100 KB prompt: ~0.35 ms for JSON.stringify). null when the body's shape does not allow it
 * (the key's place unknown, a non-ASCII byte before it, a value that is not a string): the caller then
 * serialises `{...json, model}`.
 */
export function withModel(body: JsonBody, model: string): Uint8Array | null {
  const at = body.modelKeyAt;
  const { bytes } = body;
  if (at === undefined || typeof body.json?.model !== "string") return null;
  // Characters and bytes line up only while every byte before the key is ASCII.
  for (let i = 0; i < at; i++) if (bytes[i]! >= 0x80) return null;
  for (let k = 0; k < MODEL_KEY.length; k++) if (bytes[at + k] !== MODEL_KEY[k]) return null;
  let i = at + MODEL_KEY.length;
  while (isSpace(bytes[i])) i++;
  if (bytes[i] !== 0x3a) return null;
  i++;
  while (isSpace(bytes[i])) i++;
  if (bytes[i] !== 0x22) return null;
  const start = i;
  for (i++; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x5c) i++;
    else if (b === 0x22) break;
  }
  if (i >= bytes.length) return null;
  const end = i + 1;
  const value = encoder.encode(JSON.stringify(model));
  const out = new Uint8Array(bytes.length - (end - start) + value.length);
  out.set(bytes.subarray(0, start));
  out.set(value, start);
  out.set(bytes.subarray(end), start + value.length);
  return out;
}

/**
 * Where valid JSON `text` names the key `name` (escapes decoded): how many times its top-level object does,
 * and whether any object inside it does more than once. One pass, strings skipped, keys recognised as the
 * strings in an object followed by a colon; a stack holds each open object's count (-1 for an array).
 */
export function keyCounts(text: string, name: string): { top: number; inner: boolean } {
  const open: number[] = [];
  let top = 0;
  let inner = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) {
          escaped = true;
          i++;
        } else if (d === 0x22) break;
      }
      const depth = open.length;
      if (depth === 0 || open[depth - 1]! < 0) continue;
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j]!)) j++;
      if (text.charCodeAt(j) !== 0x3a) continue;
      const raw = text.slice(start, i + 1);
      if ((escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1)) !== name) continue;
      const count = ++open[depth - 1]!;
      if (depth === 1) top = count;
      else if (count > 1) inner = true;
    } else if (c === 0x7b) open.push(0);
    else if (c === 0x5b) open.push(-1);
    else if (c === 0x7d || c === 0x5d) open.pop();
  }
  return { top, inner };
}
