import { z } from "zod";

/** Shared field schemas of the management API. */

export const Uuid = z.uuid({ message: "must be a UUID" });

/** Control characters (terminal escapes, NUL) or a lone UTF-16 surrogate: nothing a name needs. */
const UNPRINTABLE = /[\p{Cc}\p{Cs}]/u;

export const Name = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(200, "must be at most 200 characters")
  .refine((s) => !UNPRINTABLE.test(s), "must not contain control characters or invalid Unicode");

export const Description = z.string().max(2000, "must be at most 2000 characters");

export const Metadata = z
  .record(z.string(), z.unknown())
  .refine((m) => JSON.stringify(m).length <= 16_384, "must serialise to at most 16 KiB of JSON");

export const ModelList = z
  .array(z.string().trim().min(1).max(200))
  .max(500)
  .describe("Model ids; null or absent = all models");

export const Timestamp = z.iso.datetime({ offset: true, message: "must be an ISO 8601 date-time" });

export const Page = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() });

export const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

/** Refinement for queries with a time range: `from` must come before `to` when both are given. */
export const ordered = <T extends z.ZodObject>(query: T) =>
  query.refine(
    (q: { from?: string; to?: string }) => !q.from || !q.to || Date.parse(q.from) < Date.parse(q.to),
    { message: "must be before 'to'", path: ["from"] },
  );
