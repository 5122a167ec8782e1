import { relayed } from "./relay";

/**
 * Binary or empty answers (audio, file content, 204s): the runtime pipes the bytes natively and nothing is
 * read from them, so the event is complete at the first byte (`record` runs now).
 */
export function passBinary(
  upstream: Response,
  body: ReadableStream<Uint8Array> | null,
  headers: Headers,
  record: () => void,
): Response {
  record();
  return relayed(upstream, body, headers);
}
