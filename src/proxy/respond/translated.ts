import { parseObjectText } from "../../lib/json";
import { emptyObserved, type Observed } from "../observe";
import { observeJsonBytes } from "./json";
import { afterTick, type Relay, relayed, type TapResult } from "./relay";
import { Keeper, sseTap } from "./sse";

/** A call the provider translated: the dialect its answer comes in, and what the client's stream asked. */
export type Translate = { from: "anthropic" | "gemini"; includeUsage: boolean };

/**
 * The answer to an OpenAI chat completion served by Claude or Gemini: the upstream's own answer is observed
 * (usage as the provider reported it) and turned into OpenAI's shapes. Streams are translated event by
 * event as they arrive; errors keep their status in OpenAI's envelope. Loaded on first use, as are the
 * adapters (src/providers/translate/).
 */
export async function relayTranslated(
  relay: Relay,
  translate: Translate,
  isSse: boolean,
  requestedModel: string,
): Promise<Response> {
  const { responseAdapter } = await import("../../providers/translate");
  const adapter = responseAdapter(translate.from);
  const { upstream, headers } = relay;
  headers.delete("content-encoding");
  if (isSse && upstream.ok) {
    headers.set("content-type", "text/event-stream; charset=utf-8");
    let ended: (result: TapResult) => void = () => {};
    const end = new Promise<TapResult>((resolve) => {
      ended = resolve;
    });
    relay.ctx.waitUntil(end.then((result) => afterTick(() => relay.finish(result))));
    let native: TapResult | undefined;
    const onEnd = (result: TapResult) => {
      if (result.aborted) relay.abort.abort();
      native = result;
      ended(result);
    };
    let body = relay.body
      .pipeThrough(sseTap(false, onEnd, relay.observer))
      .pipeThrough(adapter.stream(requestedModel, translate.includeUsage));
    if (relay.keep) body = body.pipeThrough(keepTranslated(relay.keep, () => native));
    return relayed(upstream, body, headers);
  }
  headers.set("content-type", "application/json");
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await upstream.arrayBuffer());
  } catch (err) {
    relay.finish({ aborted: true, endedAt: Date.now(), observed: emptyObserved });
    return relayed(upstream, new ReadableStream({ start: (c) => c.error(err) }), headers);
  }
  const native = parseObjectText(new TextDecoder().decode(bytes));
  const answer =
    upstream.ok && native ? adapter.json(native, requestedModel) : adapter.error(native, upstream.status);
  const text = JSON.stringify(answer);
  let seen: Observed | undefined;
  const result: TapResult = {
    aborted: false,
    endedAt: Date.now(),
    observed: () => {
      seen ??= observeJsonBytes(bytes, relay.observer);
      return seen;
    },
  };
  const keep = relay.keep;
  if (keep && upstream.ok && native) {
    // The client's bytes (the OpenAI answer), for the response cache.
    result.kept = () => {
      const out = new TextEncoder().encode(text);
      return out.byteLength <= keep.limit ? out : null;
    };
    keep.whole(result);
  }
  relay.finish(result);
  return relayed(upstream, text, headers);
}

const DONE = new TextEncoder().encode("data: [DONE]\n\n");

/** Whether a translated stream ends with `data: [DONE]`: the adapters write it only after a complete answer. */
function endsWithDone(bytes: Uint8Array): boolean {
  if (bytes.byteLength < DONE.byteLength) return false;
  const at = bytes.byteLength - DONE.byteLength;
  return DONE.every((b, i) => bytes[at + i] === b);
}

/**
 * Keeps the translated stream (what the client gets) for the response cache, and offers it once it has
 * ended: whole only when the native stream ended cleanly (its tap's result) and the translation wrote its
 * final `[DONE]`.
 */
function keepTranslated(
  keep: NonNullable<Relay["keep"]>,
  native: () => TapResult | undefined,
): TransformStream<Uint8Array, Uint8Array> {
  const keeper = new Keeper(keep.limit);
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      keeper.add(chunk);
    },
    flush() {
      const result = native();
      if (!result || result.aborted) return;
      keep.whole({
        ...result,
        kept: () => {
          const bytes = keeper.bytes();
          return bytes && endsWithDone(bytes) ? bytes : null;
        },
      });
    },
  });
}
