import type { Context } from "hono";
import type { z } from "zod";
import { ApiError, type FieldIssue } from "./errors";

function issues(error: z.ZodError, prefix?: string): FieldIssue[] {
  return error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter(Boolean).join(".") || "(body)",
    message: i.message,
  }));
}

function validationError(error: z.ZodError, where: string, prefix?: string): ApiError {
  const fields = issues(error, prefix);
  const summary = fields.map((f) => `${f.path}: ${f.message}`).join("; ");
  return new ApiError(400, "validation_error", `Invalid ${where}: ${summary}`, {
    param: fields[0]?.path ?? null,
    fields,
  });
}

export function parseWith<T extends z.ZodType>(
  schema: T,
  value: unknown,
  where: string,
  prefix?: string,
): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, where, prefix);
  return result.data;
}

/**
 * JSON.parse that refuses a `__proto__` key: zod's records drop it without a word (the data would be lost
 * silently) and code that copies objects could let it reach a prototype. Throws SyntaxError or ApiError.
 */
export function parseJsonObjects(text: string): unknown {
  return JSON.parse(text, (key, value) => {
    if (key === "__proto__") {
      throw new ApiError(400, "validation_error", 'The key "__proto__" is not allowed in a JSON object.', {
        fields: [{ path: "__proto__", message: "reserved key" }],
      });
    }
    return value;
  });
}

/** Reads and validates a JSON body: 415 for another content type, 400 for broken JSON or bad fields. */
export async function readJson<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw new ApiError(
      415,
      "unsupported_media_type",
      "Send the body as JSON with 'Content-Type: application/json'.",
    );
  }
  let body: unknown;
  try {
    body = parseJsonObjects(await c.req.text());
  } catch (err) {
    if (err instanceof ApiError) throw err;
    const detail = err instanceof SyntaxError ? ` (${err.message})` : "";
    throw new ApiError(400, "invalid_json", `The request body is not valid JSON${detail}.`);
  }
  return parseWith(schema, body, "request body");
}

export function readQuery<T extends z.ZodType>(c: Context, schema: T): z.infer<T> {
  return parseWith(schema, c.req.query(), "query", "query");
}

export function readParam<T extends z.ZodType>(c: Context, name: string, schema: T): z.infer<T> {
  return parseWith(schema, c.req.param(name), "path", name);
}
