import { type ApiError, errorHeaders, errorResponse } from "../lib/errors";
import type { Dialect } from "../providers";

// The gateway's own errors in each client's dialect, so each SDK raises its own classes: OpenAI's envelope,
// Anthropic's `{"type":"error","error":{type,message}}`, Google's `{"error":{code,message,status}}`. The
// status, `x-should-retry`, `Retry-After` and allowance headers are the same in all three.

function anthropicType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 413) return "request_too_large";
  if (status === 429) return "rate_limit_error";
  if (status === 503) return "overloaded_error";
  if (status === 504) return "timeout_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

/** google.rpc.Code names, as the Generative Language API puts them in `error.status`. */
function googleStatus(status: number): string {
  if (status === 401) return "UNAUTHENTICATED";
  if (status === 403) return "PERMISSION_DENIED";
  if (status === 404) return "NOT_FOUND";
  if (status === 429) return "RESOURCE_EXHAUSTED";
  if (status === 503 || status === 502) return "UNAVAILABLE";
  if (status === 504) return "DEADLINE_EXCEEDED";
  if (status >= 500) return "INTERNAL";
  return "INVALID_ARGUMENT";
}

/** The envelope of a gateway error for a client of `dialect` (the gateway's code is kept in each). */
export function dialectEnvelope(err: ApiError, dialect: Exclude<Dialect, "openai">): unknown {
  if (dialect === "anthropic")
    return {
      type: "error",
      error: { type: anthropicType(err.status), message: err.message, code: err.code },
    };
  return {
    error: {
      code: err.status,
      message: err.message,
      status: googleStatus(err.status),
      details: [
        { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: err.code, domain: "llm-proxy" },
      ],
    },
  };
}

/** A gateway error as the client's SDK expects it. */
export function gatewayErrorResponse(err: ApiError, dialect: Dialect, extraHeaders?: HeadersInit): Response {
  if (dialect === "openai") return errorResponse(err, extraHeaders);
  return new Response(JSON.stringify(dialectEnvelope(err, dialect)), {
    status: err.status,
    headers: errorHeaders(err, extraHeaders),
  });
}
