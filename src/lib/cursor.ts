import { z } from "zod";
import { fromBase64Url, toBase64Url } from "./crypto";
import { ApiError } from "./errors";

const encoder = new TextEncoder();
/** Fatal: bytes that are not UTF-8 make a bad cursor (400), never a garbled one. */
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Opaque pagination cursors: base64url of the UTF-8 JSON, validated on the way back in. UTF-8 first, so
 * any value survives (a page ending on a project named 日本語 or 🦀); `btoa` alone takes Latin-1 only.
 */
export function encodeCursor(value: unknown): string {
  return toBase64Url(encoder.encode(JSON.stringify(value)));
}

export function decodeCursor<T extends z.ZodType>(
  cursor: string | undefined,
  schema: T,
): z.infer<T> | undefined {
  if (cursor === undefined) return undefined;
  try {
    return schema.parse(JSON.parse(decoder.decode(fromBase64Url(cursor))));
  } catch {
    throw new ApiError(400, "validation_error", "Invalid query: cursor: not a cursor returned by this API.", {
      param: "cursor",
    });
  }
}

export const NameCursor = z.object({ n: z.string() });
export const TimeIdCursor = z.object({ t: z.number(), id: z.string() });
