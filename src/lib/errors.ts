import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** OpenAI's error `type` for each status family, so SDKs map our errors to their usual classes. */
function errorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 409) return "conflict_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/**
 * Every `code` the gateway itself answers with, in the error envelope (docs/troubleshooting.md explains
 * them to clients). A union so that a misspelt code fails the type check instead of reaching a client.
 */
export type ErrorCode =
  // The request itself
  | "validation_error"
  | "invalid_json"
  | "invalid_form_data"
  | "model_required"
  | "unsupported_media_type"
  | "request_too_large"
  | "not_found"
  | "conflict"
  | "endpoint_not_found"
  | "method_not_allowed"
  | "object_not_found"
  // Credentials
  | "invalid_token"
  | "token_not_found"
  | "token_inactive"
  | "token_expired"
  | "unauthorized"
  | "management_disabled"
  | "csrf_failed"
  | "wrong_password"
  // Issuing (src/issuing): an issuing key outside its scope or ceilings; an identity provider's JWTs
  | "forbidden"
  | "ceiling_exceeded"
  | "identity_changed"
  | "identity_provider_unavailable"
  // Admission refusals
  | "project_inactive"
  | "origin_not_allowed"
  | "model_not_allowed"
  | "rate_limit_exceeded"
  | "quota_exceeded"
  | "model_not_found"
  | "unpriceable_request"
  // Internal: a restricted token's multipart form must be read first (never answered to a client).
  | "form_needed"
  // The gateway or its upstream
  | "upstream_error"
  | "upstream_timeout"
  | "upstream_unavailable"
  | "encryption_key_invalid"
  | "gateway_misconfigured"
  | "token_signing_disabled"
  | "token_objects_unreachable"
  | "internal_error";

export type FieldIssue = { path: string; message: string };

export type ApiErrorOptions = {
  param?: string | null;
  headers?: Record<string, string>;
  /** Per-field problems of a validation error. */
  fields?: FieldIssue[];
  /** Whether an OpenAI SDK may usefully retry; defaults to "only for rate windows and upstream trouble". */
  retryable?: boolean;
};

/** The one error type of the gateway: a status, a stable machine-readable code and a human message. */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: ErrorCode;
  readonly options: ApiErrorOptions;

  constructor(status: ContentfulStatusCode, code: ErrorCode, message: string, options: ApiErrorOptions = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.options = options;
  }

  get retryable(): boolean {
    return this.options.retryable ?? (this.code === "rate_limit_exceeded" || this.status >= 500);
  }
}

export type ErrorEnvelope = {
  error: { message: string; type: string; param: string | null; code: ErrorCode; fields?: FieldIssue[] };
};

export function errorEnvelope(err: ApiError): ErrorEnvelope {
  const body: ErrorEnvelope = {
    error: {
      message: err.message,
      type: errorType(err.status),
      param: err.options.param ?? null,
      code: err.code,
    },
  };
  if (err.options.fields) body.error.fields = err.options.fields;
  return body;
}

/** The headers of an error response: JSON, the error's own (Allow, Retry-After…), and `x-should-retry`. */
export function errorHeaders(err: ApiError, extraHeaders?: HeadersInit): Headers {
  const headers = new Headers(extraHeaders);
  headers.set("content-type", "application/json");
  for (const [k, v] of Object.entries(err.options.headers ?? {})) headers.set(k, v);
  if (!err.retryable) headers.set("x-should-retry", "false");
  return headers;
}

/** Renders an ApiError as the OpenAI-shaped JSON response, without needing a Hono context (hot path). */
export function errorResponse(err: ApiError, extraHeaders?: HeadersInit): Response {
  return new Response(JSON.stringify(errorEnvelope(err)), {
    status: err.status,
    headers: errorHeaders(err, extraHeaders),
  });
}

/** The app's single onError: ApiErrors become their envelope, anything else a logged 500 without internals. */
export function handleError(err: Error, c: Context): Response {
  const apiError =
    err instanceof ApiError
      ? err
      : new ApiError(500, "internal_error", "The gateway failed to handle the request.");
  if (!(err instanceof ApiError)) console.error("unhandled error", err);
  const res = errorResponse(apiError);
  const requestId = c.get("requestId");
  if (requestId) res.headers.set("x-request-id", requestId);
  return res;
}

export const notFound = (what: string, id: string) =>
  new ApiError(404, "not_found", `No ${what} with id '${id}'.`);
