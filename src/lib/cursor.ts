import { z } from "zod";
import { ApiError } from "./errors";

/** Opaque pagination cursors: base64url JSON, validated on the way back in. */
export function encodeCursor(value: unknown): string {
  return btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeCursor<T extends z.ZodType>(
  cursor: string | undefined,
  schema: T,
): z.infer<T> | undefined {
  if (cursor === undefined) return undefined;
  try {
    return schema.parse(JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/"))));
  } catch {
    throw new ApiError(400, "validation_error", "Invalid query: cursor: not a cursor returned by this API.", {
      param: "cursor",
    });
  }
}

export const NameCursor = z.object({ n: z.string() });
export const TimeIdCursor = z.object({ t: z.number(), id: z.string() });
