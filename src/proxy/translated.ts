import type { Observer } from "./observe";
import { emptyObserved } from "./observe";
import { observeJsonBytes, sseTap, type TapResult } from "./tap";

export type Translated = {
  upstream: Response;
  /** The downstream headers already built (request id, allowance, CORS); content type and length are set here. */
  headers: Headers;
  isSse: boolean;
  providerDialect: "anthropic" | "gemini";
  /** Reads the upstream's own answer: usage exactly as the provider reported it. */
  observer: Observer;
  requestedModel: string;
  includeUsage: boolean;
  finish(result: TapResult): void;
  streamEnd(): (result: TapResult) => void;
};

const decoder = new TextDecoder();

function parse(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    return null;
  }
}

/**
 * The answer to an OpenAI chat completion served by Claude or Gemini: the upstream's own answer is observed
 * (usage as it reported it) and turned into OpenAI's shapes. Streams are translated event by event as they
 * arrive; errors keep their status in OpenAI's envelope. The adapters load on first use.
 */
export async function respondTranslated(t: Translated): Promise<Response> {
  const { responseAdapter } = await import("../providers/translate");
  const adapter = responseAdapter(t.providerDialect);
  const { upstream, headers } = t;
  headers.delete("content-encoding");
  const init = { status: upstream.status, statusText: upstream.statusText, headers };
  if (t.isSse && upstream.ok && upstream.body) {
    headers.set("content-type", "text/event-stream; charset=utf-8");
    const body = upstream.body
      .pipeThrough(sseTap(false, t.streamEnd(), t.observer))
      .pipeThrough(adapter.stream(t.requestedModel, t.includeUsage));
    return new Response(body, init);
  }
  headers.set("content-type", "application/json");
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await upstream.arrayBuffer());
  } catch (err) {
    t.finish({ aborted: true, endedAt: Date.now(), observed: emptyObserved });
    return new Response(new ReadableStream({ start: (c) => c.error(err) }), init);
  }
  t.finish({ aborted: false, endedAt: Date.now(), observed: () => observeJsonBytes(bytes, t.observer) });
  const native = parse(bytes);
  const answer =
    upstream.ok && typeof native === "object" && native !== null && !Array.isArray(native)
      ? adapter.json(native as Record<string, unknown>, t.requestedModel)
      : adapter.error(native, upstream.status);
  return new Response(JSON.stringify(answer), init);
}
