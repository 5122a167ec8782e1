import type { AnswerObserver, Observed } from "../observe";
import type { UpstreamAbort } from "../send";

/**
 * How a relayed body ended. `observed()` does the remaining work (for JSON: parsing the copy), so the caller
 * can run it after the last byte has reached the client, never in between.
 */
export type TapResult = {
  aborted: boolean;
  endedAt: number;
  observed(): Observed;
  /**
   * Only when the relay was asked to keep the answer (`Relay.keep`): the bytes the client got, if the answer
   * is whole — a JSON object, or a stream that reached its end (`[DONE]`, `response.completed`) — and within
   * the limit; else null. Call after `observed()`.
   */
  kept?(): Uint8Array | null;
};

/** What a response handler gets: the upstream's answer and the client's headers, ready. */
export type Relay = {
  upstream: Response;
  body: ReadableStream<Uint8Array>;
  headers: Headers;
  ctx: ExecutionContext;
  observer: AnswerObserver;
  abort: UpstreamAbort;
  /** Records the request's event from how its body ended: call once, after the client's last byte. */
  finish(result: TapResult): void;
  /**
   * The response cache wants this answer: keep up to `limit` bytes of it (see `TapResult.kept`), and call
   * `whole` as soon as the answer is complete — before the client has seen its end, so that the client's
   * next identical request finds it stored — with the result `finish` will get.
   */
  keep?: { limit: number; whole(result: TapResult): void };
};

/** The client's response: the upstream's status with the gateway's headers around `body`. */
export function relayed(upstream: Response, body: BodyInit | null, headers: Headers): Response {
  return new Response(body, { status: upstream.status, statusText: upstream.statusText, headers });
}

/** The event's work after a timer tick, so the client's last bytes go out first. */
export async function afterTick(work: () => void): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  work();
}
