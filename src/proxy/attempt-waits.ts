// The waits inside one attempt of the retry loop (route-send.ts): a stream's first chunk before its answer
// is chosen, and the rest before the next attempt. Both give up as soon as the client goes away.
import type { Sent, UpstreamAbort } from "./send";

export const isStream = (response: Response) =>
  response.body !== null && (response.headers.get("content-type") ?? "").startsWith("text/event-stream");

/**
 * Waits for a stream's first chunk (within the attempt's first-byte time) and puts it back in front of the
 * rest. "network": the stream ended or broke before any byte; "timeout": none came in time.
 */
export async function firstChunk(
  routed: { sent: Sent; abort: UpstreamAbort },
  timeoutMs: number,
): Promise<"ok" | "network" | "timeout" | "aborted"> {
  const { sent, abort } = routed;
  const reader = sent.response.body!.getReader();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void reader.cancel().catch(() => {});
  }, timeoutMs);
  let first: ReadableStreamReadResult<Uint8Array>;
  try {
    first = await reader.read();
  } catch {
    clearTimeout(timer);
    abort.release();
    return abort.reason === "client" ? "aborted" : "network";
  }
  clearTimeout(timer);
  if (timedOut || first.done) {
    abort.release();
    void reader.cancel().catch(() => {});
    if (abort.reason === "client") return "aborted";
    return timedOut ? "timeout" : "network";
  }
  const head = first.value;
  const rest = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        controller.enqueue(head);
      },
      async pull(controller) {
        try {
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (err) {
          controller.error(err);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  routed.sent = { ...sent, response: new Response(rest, sent.response) };
  return "ok";
}

/** Resolves true after `ms`, or false as soon as the client goes away. */
export function sleepUnlessGone(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (stayed: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", gone);
      resolve(stayed);
    };
    const gone = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", gone);
  });
}
