import { concatBytes } from "../../lib/bytes";
import { type Json, parseObjectText } from "../../lib/json";
import { type AnswerObserver, emptyObserved, type Observed } from "../observe";
import { afterTick, type Relay, relayed, type TapResult } from "./relay";

/** JSON answers are kept up to this size to read `usage` at the end (whole reads: declared length). */
export const JSON_COPY_CAP = 1024 * 1024;
const JSON_TAIL_KEEP = 16 * 1024;
/**
 * Parsing a small body takes microseconds, less than the timer that would defer it past the response: a
 * deferral tried on 2026-11-28 took ~0.05 ms off p50 at c=1 but cost 4–7 % CPU per request at c=32
 * (`npm run bench:ab`, bench/README.md), so only large bodies wait for a tick.
 */
const PARSE_AT_ONCE_BYTES = 64 * 1024;
// Non-streaming decodes keep no state between calls: one decoder serves the isolate.
const decoder = new TextDecoder();

/**
 * A JSON answer: its bytes never pass through JS on their way to the client. `keepLength`: the upstream's
 * content-length reaches the client unchanged.
 */
export function relayJson(relay: Relay, keepLength: boolean): Response | Promise<Response> {
  const { upstream } = relay;
  const declared = keepLength ? upstream.headers.get("content-length") : null;
  if (declared !== null && Number(declared) <= JSON_COPY_CAP) return readWhole(relay);
  // Unknown or large size: the client's bytes go through the runtime's native tee (no JS on their way), the
  // copy is read beside them and parsed once it has ended.
  const [toClient, copy] = relay.body.tee();
  const keep = relay.keep;
  relay.ctx.waitUntil(
    readJsonCopy(copy, relay.observer, keep?.limit).then((result) => {
      keep?.whole(result);
      relay.finish(result);
    }),
  );
  return relayed(upstream, toClient, relay.headers);
}

/**
 * A JSON answer of known, bounded length: read in one native step and answered from memory. A client cannot
 * use part of a JSON document, and it is the copy the gateway keeps anyway.
 */
async function readWhole(relay: Relay): Promise<Response> {
  const { upstream, headers, observer } = relay;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await upstream.arrayBuffer());
  } catch (err) {
    relay.finish({ aborted: true, endedAt: Date.now(), observed: emptyObserved });
    // As the streamed case would: the client gets the upstream's head, then a broken body.
    const broken = new ReadableStream({ start: (c) => c.error(err) });
    return relayed(upstream, broken, headers);
  }
  const keep = relay.keep;
  const result = observedBytes(bytes, observer, keep?.limit);
  const done = () => {
    keep?.whole(result);
    relay.finish(result);
  };
  if (bytes.byteLength <= PARSE_AT_ONCE_BYTES) done();
  else relay.ctx.waitUntil(afterTick(done));
  return relayed(upstream, bytes, headers);
}

/** A whole JSON answer's result; `keep`: also the bytes for the response cache when they are a JSON object. */
function observedBytes(bytes: Uint8Array, observer: AnswerObserver, keep: number | undefined): TapResult {
  let whole = false;
  let seen: Observed | undefined;
  // Parsed once, whoever asks first (the cache's keeper or the event).
  const observed = () => {
    if (seen) return seen;
    const text = decoder.decode(bytes);
    const body = parseObjectText(text);
    whole = body !== null;
    seen =
      body === null && text.charCodeAt(0) === 91 ? observeArray(text, observer) : observeJson(body, observer);
    return seen;
  };
  const result: TapResult = { aborted: false, endedAt: Date.now(), observed };
  if (keep !== undefined) result.kept = () => (whole && bytes.byteLength <= keep ? bytes : null);
  return result;
}

/**
 * Reads the gateway's copy of a JSON body (one branch of a native `tee`: the client's branch never passes
 * through JS), keeping it up to a cap to read model and usage at its end. A body past the cap keeps its
 * tail, where OpenAI puts `usage`. Resolves when the copy ends; `aborted` when it broke off. `keep`: the
 * response cache wants bodies up to that size whole.
 */
export async function readJsonCopy(
  copy: ReadableStream<Uint8Array>,
  observer: AnswerObserver,
  keep?: number,
): Promise<TapResult> {
  const cap = Math.max(JSON_COPY_CAP, keep ?? 0);
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
      if (size <= cap) parts.push(value);
      else {
        parts.length = 0;
        tailDecoder ??= new TextDecoder();
        tail = (tail + tailDecoder.decode(value, { stream: true })).slice(-JSON_TAIL_KEEP);
      }
    }
  } catch {
    aborted = true;
  }
  if (!aborted && size <= cap) return observedBytes(concatBytes(parts, size), observer, keep);
  const observed = () => (aborted ? emptyObserved() : observeJson(usageFromTail(tail), observer));
  const result: TapResult = { aborted, endedAt: Date.now(), observed };
  if (keep !== undefined) result.kept = () => null;
  return result;
}

/** What a complete JSON answer says (model, usage, error, text). */
export function observeJsonBytes(bytes: Uint8Array, observer: AnswerObserver): Observed {
  return observeJson(parseObjectText(decoder.decode(bytes)), observer);
}

function observeJson(body: Json | null, observer: AnswerObserver): Observed {
  const seen = emptyObserved();
  if (body) observer.jsonBody(seen, body);
  return seen;
}

/**
 * A JSON array of stream events: Gemini's `streamGenerateContent` without `alt=sse`. Folded event by event as
 * its SSE stream would be, so it is charged what the upstream reported, not an estimate of the prompt alone.
 */
function observeArray(text: string, observer: AnswerObserver): Observed {
  const seen = emptyObserved();
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch {
    return seen;
  }
  if (Array.isArray(items))
    for (const item of items)
      if (typeof item === "object" && item !== null && !Array.isArray(item))
        observer.streamEvent(seen, item as Json);
  return seen;
}

/**
 * `{"usage": {...}}` from the end of a body too big to keep whole: the last `"usage": {…}` that is a key of
 * the answer itself — or Gemini's `"usageMetadata": {…}`, which the last event of its JSON-array stream carries
 * with the final counts. Read backwards from the end with strings skipped, so only a key of the top object (of
 * the array's last events) counts: a client's own text echoed after the usage (the Responses API's
 * `metadata` comes after it, and may have a key named "usage") cannot stand in for it.
 */
export function usageFromTail(tail: string): Json | null {
  let end = tail.length - 1;
  while (end >= 0 && /\s/.test(tail[end]!)) end--;
  const array = tail[end] === "]";
  let depth = 0;
  for (let i = end; i >= 0; i--) {
    const c = tail[i];
    if (c === "}" || c === "]") depth++;
    else if (c === "{" || c === "[") depth--;
    else if (c === '"') {
      // The string's opening quote: the first one before that is not escaped (an even run of backslashes).
      let j = i - 1;
      for (; j >= 0; j--) {
        if (tail[j] !== '"') continue;
        let slashes = 0;
        while (j - 1 - slashes >= 0 && tail[j - 1 - slashes] === "\\") slashes++;
        if (slashes % 2 === 0) break;
      }
      if (j < 0) return null;
      const key = tail.slice(j + 1, i);
      if (depth === (array ? 2 : 1) && (key === "usage" || key === "usageMetadata")) {
        const value = objectAfterColon(tail, i + 1);
        if (value !== null) return parseObjectText(`{"${key}":${value}}`);
      }
      i = j;
    }
  }
  return null;
}

/** The object text after `:` at `from` (whitespace allowed), up to its balanced end; null for anything else. */
function objectAfterColon(text: string, from: number): string | null {
  let i = from;
  while (/\s/.test(text[i] ?? "")) i++;
  if (text[i] !== ":") return null;
  i++;
  while (/\s/.test(text[i] ?? "")) i++;
  if (text[i] !== "{") return null;
  const open = i;
  let depth = 0;
  for (; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
    } else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return text.slice(open, i + 1);
  }
  return null;
}
