import { SseParser } from "../lib/sse";
import { emptyObserved, isUsageOnlyChunk, type Observed, type Observer, openAiObserver } from "./observe";

/**
 * How a tapped body ended. `observed()` does the remaining work (for JSON: parsing the copy), so the caller
 * can run it after the last byte has reached the client, never in between.
 */
export type TapResult = { aborted: boolean; endedAt: number; observed(): Observed };

type Json = Record<string, unknown>;

/** A pending event larger than this stops being parsed (still forwarded): bounds memory per stream. */
const MAX_PENDING_CHARS = 4 * 1024 * 1024;
/** Non-streamed JSON bodies are kept up to this size to read `usage` at the end. */
export const JSON_COPY_CAP = 1024 * 1024;
const JSON_TAIL_KEEP = 16 * 1024;
// Non-streaming decodes keep no state between calls: one decoder serves the isolate.
const decoder = new TextDecoder();

function parseJson(text: string): Json | null {
  if (text.charCodeAt(0) !== 123) return null; // "{"
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : null;
  } catch {
    return null;
  }
}

/** `"usage": null` as the last member of a chunk: what asking for usage added to every other chunk. */
const TRAILING_NULL_USAGE = /,\s*"usage"\s*:\s*null(\s*\}\s*)$/;

/**
 * An event as the client would have had it without `include_usage`: the usage-only chunk disappears, and the
 * `"usage": null` that asking added to every other chunk is taken out again (only when it is the chunk's
 * last member, as OpenAI sends it; a quote can only appear bare outside JSON strings, so this never edits
 * content).
 */
function asAsked(raw: string, json: Json | null): string {
  if (!json) return raw;
  if (isUsageOnlyChunk(json)) return "";
  return json.usage === null ? raw.replace(TRAILING_NULL_USAGE, "$1") : raw;
}

/**
 * Passes an SSE body through while learning model, usage and text from its events. Without `strip`, each
 * chunk is enqueued before it is even decoded: the tap never delays a byte. With `strip` (the gateway asked
 * for usage on the client's behalf), bytes go out at event boundaries so the stream can be given back the
 * shape the client asked for (see `asAsked`); only the unfinished tail of an event waits for its end.
 */
export function sseTap(
  strip: boolean,
  onEnd: (result: TapResult) => void,
  observer: Observer = openAiObserver,
): TransformStream<Uint8Array, Uint8Array> {
  const seen = emptyObserved();
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let parsing = true;
  let ended = false;
  const end = (aborted: boolean) => {
    if (ended) return;
    ended = true;
    onEnd({ aborted, endedAt: Date.now(), observed: () => seen });
  };
  const observe = (data: string | null): Json | null => {
    if (data === null || data === "[DONE]") return null;
    const json = parseJson(data);
    if (json) observer.event(seen, json);
    return json;
  };

  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (!strip) {
        controller.enqueue(chunk);
        if (!parsing) return;
        for (const event of parser.push(decoder.decode(chunk, { stream: true }))) observe(event.data);
        if (parser.pending.length > MAX_PENDING_CHARS) parsing = false;
        return;
      }
      if (!parsing) {
        controller.enqueue(chunk);
        return;
      }
      let out = "";
      for (const event of parser.push(decoder.decode(chunk, { stream: true }))) {
        const json = observe(event.data);
        out += asAsked(event.raw, json);
      }
      if (parser.pending.length > MAX_PENDING_CHARS) {
        // Too big to be the usage chunk: let it and everything after it through untouched.
        out += parser.finish()?.raw ?? "";
        parsing = false;
      }
      if (out) controller.enqueue(encoder.encode(out));
    },
    flush(controller) {
      if (parsing) {
        const tail = decoder.decode();
        const events = tail ? parser.push(tail) : [];
        const last = parser.finish();
        if (last) events.push(last);
        let out = "";
        for (const event of events) {
          const json = observe(event.data);
          out += strip ? asAsked(event.raw, json) : event.raw;
        }
        if (strip && out) controller.enqueue(encoder.encode(out));
      }
      end(false);
    },
    cancel() {
      end(true);
    },
  });
}

/**
 * Reads the gateway's copy of a JSON body (one branch of a native `tee`: the client's branch never passes
 * through JS), keeping it up to a cap to read model and usage at its end. A body past the cap keeps its
 * tail, where OpenAI puts `usage`. Resolves when the copy ends; `aborted` when it broke off.
 */
export async function readJsonCopy(
  copy: ReadableStream<Uint8Array>,
  observer: Observer = openAiObserver,
): Promise<TapResult> {
  const reader = copy.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  let tail = "";
  let tailDecoder: TextDecoder | undefined;
  let aborted = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size <= JSON_COPY_CAP) parts.push(value);
      else {
        parts.length = 0;
        tailDecoder ??= new TextDecoder();
        tail = (tail + tailDecoder.decode(value, { stream: true })).slice(-JSON_TAIL_KEEP);
      }
    }
  } catch {
    aborted = true;
  }
  const observed = () => {
    if (aborted) return emptyObserved();
    return size <= JSON_COPY_CAP
      ? observeJsonBytes(concat(parts, size), observer)
      : observeJson(usageFromTail(tail), observer);
  };
  return { aborted, endedAt: Date.now(), observed };
}

/** What a complete JSON answer says (model, usage, error, text). */
export function observeJsonBytes(bytes: Uint8Array, observer: Observer = openAiObserver): Observed {
  return observeJson(parseJson(decoder.decode(bytes)), observer);
}

function observeJson(body: Json | null, observer: Observer): Observed {
  const seen = emptyObserved();
  if (body) observer.json(seen, body);
  return seen;
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** `{"usage": {...}}` from the end of a body too big to keep whole: the last balanced `"usage": {…}`. */
export function usageFromTail(tail: string): Json | null {
  const at = tail.lastIndexOf('"usage"');
  if (at < 0) return null;
  const open = tail.indexOf("{", at);
  if (open < 0) return null;
  let depth = 0;
  for (let i = open; i < tail.length; i++) {
    const c = tail[i];
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return parseJson(`{"usage":${tail.slice(open, i + 1)}}`);
  }
  return null;
}
