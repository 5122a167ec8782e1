import type { Context } from "hono";
import type { Flash } from "../../admin-ui/layout";
import { recordAudit } from "../audit/repo";
import type { AuditNote } from "../lib/context";
import { ApiError } from "../lib/errors";
import { parseJsonObjects } from "../lib/validate";
import { getDb } from "../storage/db";
import type { AdminEnv } from "./context";

export type Form = Record<string, string>;
export type FieldErrors = Record<string, string>;

/** The posted form as plain strings (files are not used by any admin form). */
export async function readForm(c: Context): Promise<Form> {
  const body = await c.req.parseBody();
  const out: Form = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === "string") out[k] = v;
  return out;
}

/**
 * A small posted form, read only up to `maxBytes`: null when it is larger (declared or sent), without
 * reading more than that. For a route anyone may post to (the login), so a huge body costs nothing.
 */
export async function readSmallForm(c: Context, maxBytes: number): Promise<Form | null> {
  if (Number(c.req.header("content-length") ?? 0) > maxBytes) return null;
  const body = c.req.raw.body;
  if (!body) return {};
  const reader = body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out: Form = {};
  try {
    const type = c.req.header("content-type") ?? "";
    const data = await new Response(new Blob(chunks), { headers: { "content-type": type } }).formData();
    for (const [k, v] of data) if (typeof v === "string") out[k] = v;
  } catch {
    // Not a form: no fields (the login then sees no password).
  }
  return out;
}

export const text = (f: Form, name: string): string | undefined => {
  const v = f[name]?.trim();
  return v ? v : undefined;
};

/** A number field: empty → undefined; anything else goes to zod as a number or, if not one, as typed. */
export const num = (f: Form, name: string): number | string | undefined => {
  const v = text(f, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : v;
};

/** A list typed one per line or comma-separated. */
export const list = (f: Form, name: string): string[] | undefined => {
  const items = (f[name] ?? "")
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
};

export function jsonObject(f: Form, name: string): Record<string, unknown> | undefined {
  const raw = text(f, name);
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = parseJsonObjects(raw);
  } catch (err) {
    if (err instanceof ApiError)
      throw new ApiError(400, "validation_error", `Invalid ${name}: ${err.message}`, {
        param: name,
        fields: [{ path: name, message: err.message }],
      });
    const why = err instanceof SyntaxError ? ` (${err.message})` : "";
    throw new ApiError(400, "validation_error", `Invalid ${name}: not valid JSON${why}.`, {
      param: name,
      fields: [{ path: name, message: `not valid JSON${why}` }],
    });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ApiError(
      400,
      "validation_error",
      `Invalid ${name}: must be a JSON object like {"team": "ml"}.`,
      {
        param: name,
        fields: [{ path: name, message: 'must be a JSON object like {"team": "ml"}' }],
      },
    );
  }
  return value as Record<string, unknown>;
}

/** `datetime-local` gives no zone; the forms label it UTC. */
export function utcInstant(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)
    ? `${value.length === 16 ? `${value}:00` : value}Z`
    : value;
}

export const RATE_ROWS = [1, 2, 3] as const;

/** The rate-window rows of a form (`<prefix>rate_requests_<i>`, `<prefix>rate_window_<i>`); empty rows dropped. */
export function rateWindows(f: Form, prefix = "") {
  const rows = RATE_ROWS.map((i) => ({
    requests: num(f, `${prefix}rate_requests_${i}`),
    window_seconds: num(f, `${prefix}rate_window_${i}`),
  })).filter((r) => r.requests !== undefined || r.window_seconds !== undefined);
  return rows.length ? rows : undefined;
}

/** Form values of rate-window rows, the inverse of `rateWindows`. */
export function rateWindowValues(
  windows: { requests: number; window_seconds: number }[] | null | undefined,
  prefix = "",
): Form {
  const out: Form = {};
  (windows ?? []).slice(0, RATE_ROWS.length).forEach((w, i) => {
    out[`${prefix}rate_requests_${i + 1}`] = String(w.requests);
    out[`${prefix}rate_window_${i + 1}`] = String(w.window_seconds);
  });
  return out;
}

/** A number as a form value; null/undefined → empty. */
export const numValue = (n: number | null | undefined): string =>
  n === null || n === undefined ? "" : String(n);

/**
 * The fields of a parsed patch that differ from the resource as the API shows it, so the audit row names
 * what really changed and an unchanged form changes nothing.
 */
export function changedOnly<T extends object>(patch: T, current: Record<string, unknown>): Partial<T> {
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  return Object.fromEntries(
    Object.entries(patch).filter(([k, v]) => v !== undefined && !same(v, current[k])),
  ) as Partial<T>;
}

/**
 * Per-field messages of a validation error, keyed by the form field: the first path segment, or for an
 * object nested in the form (`token_defaults.max_requests`) its form prefix plus the second (`td_max_requests`).
 */
export function fieldErrors(err: unknown, nested: Record<string, string> = {}): FieldErrors {
  const out: FieldErrors = {};
  if (err instanceof ApiError) {
    for (const f of err.options.fields ?? []) {
      const [head = f.path, sub] = f.path.split(".");
      const prefix = nested[head];
      const key = prefix !== undefined && sub !== undefined ? `${prefix}${sub}` : head;
      out[key] ??= f.message;
    }
    if (err.options.param && !Object.keys(out).length) out[err.options.param] = err.message;
  }
  return out;
}

/** What to tell the operator about an error: the ApiError message, or a generic line for the unexpected. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  console.error("admin action failed", err);
  return "The action failed unexpectedly. Nothing was changed if no confirmation is shown; try again.";
}

/** Flash messages after a redirect, by key, so no text from the URL is ever shown. */
const FLASHES: Record<string, Flash> = {
  project_created: { kind: "ok", text: "Project created." },
  project_saved: { kind: "ok", text: "Project saved." },
  project_deleted: { kind: "ok", text: "Project deleted; its tokens no longer work." },
  project_activated: { kind: "ok", text: "Project activated." },
  project_deactivated: {
    kind: "warn",
    text: "Project deactivated: its tokens are refused until you activate it.",
  },
  key_rotated: { kind: "ok", text: "Upstream key replaced. Requests now use the new key." },
  tokens_revoked: { kind: "ok", text: "All tokens of the project are revoked." },
  cache_purged: { kind: "ok", text: "Cache purged: no answer cached before now is served again." },
  token_revoked: { kind: "ok", text: "Token revoked. It is refused from its next request on." },
  token_saved: { kind: "ok", text: "Token saved. The change applies from its next request on." },
  token_unchanged: { kind: "ok", text: "Nothing to change: the form matched the token." },
  project_unchanged: { kind: "ok", text: "Nothing to change: the form matched the project." },
  token_activated: { kind: "ok", text: "Token reactivated." },
  token_deactivated: {
    kind: "warn",
    text: "Token deactivated: it is refused until you reactivate it.",
  },
  logged_out: { kind: "ok", text: "You are logged out." },
  upstream_added: { kind: "ok", text: "Upstream added. Tokens in use route to it from their next request." },
  upstream_key_added: { kind: "ok", text: "Key added: it now takes its share of requests." },
  upstream_key_rotated: { kind: "ok", text: "Key rotated. Requests now use the new value." },
  upstream_key_enabled: { kind: "ok", text: "Key in use again." },
  alias_saved: { kind: "ok", text: "Alias saved. It applies from the tokens' next request." },
  alias_deleted: { kind: "ok", text: "Alias deleted." },
};

export function flashFrom(c: Context): Flash | undefined {
  const key = c.req.query("msg");
  return key ? FLASHES[key] : undefined;
}

/** Runs an admin change and writes its audit row (actor `admin`), failures included. */
export async function audited<T>(
  c: Context<AdminEnv>,
  action: string,
  targetType: string,
  targetId: string | null,
  run: () => Promise<T>,
  note?: (result: T) => AuditNote,
): Promise<T> {
  const write = (result: string, status: number, n: AuditNote = {}) =>
    recordAudit(getDb(c.env), {
      actor: "admin",
      action,
      targetType,
      targetId: n.targetId ?? targetId,
      result,
      status,
      ip: c.req.header("cf-connecting-ip") ?? null,
      details: n.details ?? null,
    }).catch((err) => console.error("audit write failed", err));
  try {
    const result = await run();
    await write("ok", 200, note?.(result));
    return result;
  } catch (err) {
    if (err instanceof ApiError) await write(err.code, err.status);
    else await write("internal_error", 500);
    throw err;
  }
}

/** The two admin resources whose routes share the save/activate flow (`/admin/<kind>s/:id`, `<kind>_…` flashes). */
type Kind = "project" | "token";

/**
 * Saves what an edit form changed, audited as `<kind>.update`; an unchanged form writes nothing and says so.
 * Callers `return await` it inside their try so a refused save re-renders the form.
 */
export async function saveChanges<P extends object>(
  c: Context<AdminEnv>,
  kind: Kind,
  id: string,
  patch: P,
  save: (patch: P) => Promise<unknown>,
): Promise<Response> {
  if (Object.keys(patch).length === 0) return c.redirect(`/admin/${kind}s/${id}?msg=${kind}_unchanged`, 303);
  await audited(
    c,
    `${kind}.update`,
    kind,
    id,
    () => save(patch),
    () => ({ details: { fields: Object.keys(patch) } }),
  );
  return c.redirect(`/admin/${kind}s/${id}?msg=${kind}_saved`, 303);
}

/** POST `/:id/active`: (de)activates from the form's `active` field, audited as `<kind>.update`. */
export async function setActive(
  c: Context<AdminEnv>,
  kind: Kind,
  id: string,
  save: (patch: { is_active: boolean }) => Promise<unknown>,
): Promise<Response> {
  const active = (await readForm(c)).active === "true";
  await audited(
    c,
    `${kind}.update`,
    kind,
    id,
    () => save({ is_active: active }),
    () => ({ details: { fields: ["is_active"], is_active: active } }),
  );
  return c.redirect(`/admin/${kind}s/${id}?msg=${kind}_${active ? "activated" : "deactivated"}`, 303);
}
