import { ApiError } from "../lib/errors";
import { badForm, boundaryOf, type FormFields, FormScanner } from "./form-scanner";

// Reading a multipart/form-data body as far as the gateway needs its fields (the parser is form-scanner.ts),
// and forwarding it: the bytes are kept as the chunks they arrived in, so the body goes upstream byte for
// byte — what was read held and sent first, the rest streamed behind it (see `readForm`).

export type ReadForm = {
  form: FormFields;
  /** The body to send upstream: exactly the client's bytes, those read and those not yet read. */
  body: ReadableStream<Uint8Array> | Uint8Array;
  /** Bytes read before forwarding (held in memory until sent). */
  readBytes: number;
  /** Why the upload was stopped on its way upstream (see `abortIf`), once it was. */
  stopped: () => string | null;
};

const tooLarge = (limit: number) =>
  new ApiError(
    413,
    "request_too_large",
    `The request body is larger than this gateway's limit of ${limit} bytes.`,
  );

/**
 * Reads a multipart body as far as `enough(form)` needs (at most `limit` bytes: 413 past it), keeping the
 * chunks read. What is read is held for forwarding; the rest is not read at all, and goes upstream as a
 * stream behind the held chunks — only when the client declared the body's length: the stream is then sent
 * with that fixed length, so an upload stopped by `abortIf` reaches the upstream short of it (an incomplete
 * request no HTTP server acts on). A chunked upload, whose end a runtime would close cleanly after an error,
 * is read to its end before anything is forwarded (bounded by `limit`), as is any body read to its end.
 */
export async function readForm(
  request: Request,
  limit: number,
  enough: (form: FormFields) => boolean,
  /** Checked on every chunk forwarded unread: a message stops the upload (the upstream gets a broken body). */
  abortIf: (form: FormFields) => string | null = () => null,
): Promise<ReadForm> {
  const scanner = new FormScanner(boundaryOf(request.headers.get("content-type")));
  const declaredHeader = request.headers.get("content-length");
  const declared = declaredHeader === null ? null : Number(declaredHeader);
  if (declared !== null && Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const fixedLength = declared !== null && Number.isSafeInteger(declared) && declared >= 0 ? declared : null;
  const source = request.body;
  if (!source) throw badForm("the body is empty");
  const reader = source.getReader();
  const held: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  let stopped: string | null = null;
  const whole = fixedLength === null ? () => false : enough;
  while (!whole(scanner.result)) {
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      break;
    }
    size += value.byteLength;
    if (size > limit) {
      void reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    held.push(value);
    if (scanner.push(value)) break;
  }
  if (!ended && !scanner.result.complete && fixedLength !== null) {
    // Stopped early: what was read goes first, then the rest straight from the client.
    let next = 0;
    const tail = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (next < held.length) {
          controller.enqueue(held[next]!);
          held[next++] = new Uint8Array(0);
          return;
        }
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        // The rest is still scanned: a field that contradicts what was checked stops the upload before
        // the chunk that carries it is sent.
        let problem: string | null = null;
        try {
          scanner.push(value);
          problem = abortIf(scanner.result);
        } catch (err) {
          problem = err instanceof Error ? err.message : String(err);
        }
        if (problem) {
          stopped = problem;
          void reader.cancel().catch(() => {});
          controller.error(new Error(problem));
          return;
        }
        controller.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
    // Sent with the declared length: a stream that errors leaves the upstream's request incomplete.
    const fixed = new FixedLengthStream(fixedLength);
    tail.pipeTo(fixed.writable).catch(() => {});
    return { form: scanner.result, body: fixed.readable, readBytes: size, stopped: () => stopped };
  }
  if (!ended) {
    // Read on to the end (a chunked upload, or an epilogue after the closing boundary) so the body is whole.
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        void reader.cancel().catch(() => {});
        throw tooLarge(limit);
      }
      held.push(value);
      if (!scanner.result.complete) scanner.push(value);
    }
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const part of held) {
    body.set(part, at);
    at += part.byteLength;
  }
  return { form: scanner.result, body, readBytes: size, stopped: () => null };
}
