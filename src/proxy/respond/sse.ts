import { type Json, parseObjectText } from "../../lib/json";
import { SseParser } from "../../lib/sse-parser";
import { type AnswerObserver, emptyObserved, isUsageOnlyChunk } from "../observe";
import { afterTick, type Relay, relayed, type TapResult } from "./relay";

/** A pending event larger than this stops being parsed (still forwarded): bounds memory per stream. */
const MAX_PENDING_CHARS = 4 * 1024 * 1024;

/**
 * A server-sent event stream: every chunk passes through the tap as it arrives. `strip`: the gateway asked
 * for usage on the client's behalf (usage-injection.ts), so the usage-only chunk is taken out again.
 */
export function relaySse(relay: Relay, strip: boolean): Response {
  let ended: (result: TapResult) => void = () => {};
  const end = new Promise<TapResult>((resolve) => {
    ended = resolve;
  });
  // Parsing what the tap saw and queueing the event wait until the last chunk has left the tap.
  relay.ctx.waitUntil(end.then((result) => afterTick(() => relay.finish(result))));
  const onEnd = (result: TapResult) => {
    if (result.aborted) relay.abort.abort();
    else {
      // The stream ended whole: a client that leaves from now on (before the tick below) changes nothing.
      relay.abort.release();
      // In the tap's flush: the client's stream closes after this returns.
      relay.keep?.whole(result);
    }
    ended(result);
  };
  const tap = sseTap(strip, onEnd, relay.observer, relay.keep?.limit);
  return relayed(relay.upstream, relay.body.pipeThrough(tap), relay.headers);
}

/**
 * A copy of what the client got, for the response cache: chunks copied as they pass (the client's are never
 * held back), dropped for good once they exceed `limit`.
 */
export class Keeper {
  private parts: Uint8Array[] = [];
  private size = 0;
  private over = false;

  constructor(private readonly limit: number) {}

  add(chunk: Uint8Array): void {
    if (this.over) return;
    this.size += chunk.byteLength;
    if (this.size > this.limit) {
      this.over = true;
      this.parts = [];
      return;
    }
    this.parts.push(chunk.slice());
  }

  bytes(): Uint8Array | null {
    if (this.over) return null;
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
}

/** The event that ends a complete stream: `[DONE]` (chat, legacy completions) or `response.completed`. */
const isFinal = (data: string, json: Json | null) =>
  json === null ? data === "[DONE]" : json.type === "response.completed";

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
  observer: AnswerObserver,
  keep?: number,
): TransformStream<Uint8Array, Uint8Array> {
  const seen = emptyObserved();
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const keeper = keep === undefined ? null : new Keeper(keep);
  let parsing = true;
  let ended = false;
  // The final event arrived and nothing but blank lines after it: the stream is whole.
  let final = false;
  const end = (aborted: boolean) => {
    if (ended) return;
    ended = true;
    const result: TapResult = { aborted, endedAt: Date.now(), observed: () => seen };
    if (keeper) result.kept = () => (final && !aborted ? keeper.bytes() : null);
    onEnd(result);
  };
  const observe = (data: string | null): Json | null => {
    if (data === null) return null;
    const json = data === "[DONE]" ? null : parseObjectText(data);
    if (json) observer.streamEvent(seen, json);
    if (keeper) final = isFinal(data, json);
    return json;
  };
  const enqueue = (controller: TransformStreamDefaultController<Uint8Array>, chunk: Uint8Array) => {
    controller.enqueue(chunk);
    keeper?.add(chunk);
  };

  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (!strip) {
        enqueue(controller, chunk);
        if (!parsing) return;
        for (const event of parser.push(decoder.decode(chunk, { stream: true }))) observe(event.data);
        if (parser.pending.length > MAX_PENDING_CHARS) parsing = false;
        return;
      }
      if (!parsing) {
        enqueue(controller, chunk);
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
      if (out) enqueue(controller, encoder.encode(out));
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
        if (strip && out) enqueue(controller, encoder.encode(out));
      }
      end(false);
    },
    cancel() {
      end(true);
    },
  });
}
