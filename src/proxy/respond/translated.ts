import { parseObjectText } from "../../lib/json";
import { emptyObserved } from "../observe";
import { observeJsonBytes } from "./json";
import { afterTick, type Relay, relayed, type TapResult } from "./relay";
import { sseTap } from "./sse";

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
    const onEnd = (result: TapResult) => {
      if (result.aborted) relay.abort.abort();
      ended(result);
    };
    const body = relay.body
      .pipeThrough(sseTap(false, onEnd, relay.observer))
      .pipeThrough(adapter.stream(requestedModel, translate.includeUsage));
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
  relay.finish({
    aborted: false,
    endedAt: Date.now(),
    observed: () => observeJsonBytes(bytes, relay.observer),
  });
  const native = parseObjectText(new TextDecoder().decode(bytes));
  const answer =
    upstream.ok && native ? adapter.json(native, requestedModel) : adapter.error(native, upstream.status);
  return relayed(upstream, JSON.stringify(answer), headers);
}
