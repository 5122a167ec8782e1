import type { Usage } from "../usage/event";

/** One cached answer: the bytes the client got, and what a hit's event and headers need. */
export type CachedAnswer = {
  /** When the upstream's answer was stored (epoch ms): the entry's age is counted from here. */
  storedAt: number;
  contentType: string;
  /** An SSE stream (replayed as the same events) or a JSON document. */
  stream: boolean;
  /** The model the upstream answered with. */
  model: string | null;
  /** The usage the original call reported (null when it reported none). */
  usage: Usage | null;
  body: Uint8Array;
};

type Meta = Omit<CachedAnswer, "body"> & { v: 1 };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * One binary form for every tier: a 4-byte big-endian length, the metadata as JSON, then the body. Each
 * tier stores and returns opaque bytes, so an entry read from any tier decodes the same way.
 */
export function encodeEntry(entry: CachedAnswer): Uint8Array {
  const { body, ...rest } = entry;
  const meta = encoder.encode(JSON.stringify({ v: 1, ...rest } satisfies Meta));
  const out = new Uint8Array(4 + meta.byteLength + body.byteLength);
  new DataView(out.buffer).setUint32(0, meta.byteLength);
  out.set(meta, 4);
  out.set(body, 4 + meta.byteLength);
  return out;
}

/** The entry in `bytes`, or null for anything this version did not write (never throws). */
export function decodeEntry(bytes: ArrayBuffer): CachedAnswer | null {
  if (bytes.byteLength < 4) return null;
  const length = new DataView(bytes).getUint32(0);
  if (4 + length > bytes.byteLength) return null;
  let meta: Partial<Meta>;
  try {
    meta = JSON.parse(decoder.decode(new Uint8Array(bytes, 4, length))) as Partial<Meta>;
  } catch {
    return null;
  }
  if (meta.v !== 1 || typeof meta.storedAt !== "number" || typeof meta.contentType !== "string") return null;
  return {
    storedAt: meta.storedAt,
    contentType: meta.contentType,
    stream: meta.stream === true,
    model: typeof meta.model === "string" ? meta.model : null,
    usage: meta.usage ?? null,
    body: new Uint8Array(bytes, 4 + length),
  };
}
