import { ApiError } from "../lib/errors";
import type { Dialect } from "../providers";
import { GEMINI_METHODS, GEMINI_MODEL } from "../providers/gemini";
import { type Allowlist, checkAllowed } from "./allowlist";
import { FORBIDDEN_ENCODED, parseApiPath } from "./path";

/** What the proxy serves a request as: its dialect, endpoint and the path that goes upstream. */
export type ProxyRoute = {
  dialect: Dialect;
  /** What `Provider.serves` and the reservation look at: the canonical path below the dialect's root. */
  endpoint: string;
  /** The path sent below the upstream's base URL. */
  path: string;
  /** The path's segments below the dialect's root, each decoded once (what ownership/endpoints.ts reads). */
  segments: readonly string[];
  /** The query sent upstream: a Gemini client's `key` is never part of it. */
  search: string;
  /** The model named by the path (Gemini); null when it is in the body. */
  model: string | null;
  /** The path alone says the answer streams (Gemini's streamGenerateContent). */
  stream: boolean;
  /** The withering token a Gemini client sent as `?key=`. */
  queryKey: string | null;
};

const GEMINI_ROOT = "/v1beta";

/**
 * The dialect a path asks for, from the URL string alone: used to answer errors found before the path is
 * parsed (a malformed Gemini path still gets Google's envelope).
 */
export function dialectOf(pathname: string, headers: Headers): Dialect {
  if (pathname === GEMINI_ROOT || pathname.startsWith(`${GEMINI_ROOT}/`)) return "gemini";
  if (pathname.startsWith("/v1/messages")) return "anthropic";
  if ((pathname === "/v1/models" || pathname.startsWith("/v1/models/")) && headers.has("anthropic-version"))
    return "anthropic";
  return "openai";
}

const geminiNotFound = () =>
  new ApiError(
    404,
    "endpoint_not_found",
    `The gateway forwards ${GEMINI_ROOT}/models/{model}:{${GEMINI_METHODS.join("|")}} only.`,
  );

/** Google's system parameters that change an answer's shape past what the gateway reads usage from. */
const TRIMS_ANSWER = new Set(["fields", "$fields", "callback", "$callback"]);

const answerTrimmed = (name: string) =>
  new ApiError(
    400,
    "validation_error",
    `${name} is not forwarded: it changes the answer the gateway reads usage from.`,
    { param: name },
  );

function geminiRoute(method: string, url: URL, headers: Headers): ProxyRoute {
  const match = /^\/v1beta\/models\/([^/]+)$/.exec(url.pathname);
  if (!match || FORBIDDEN_ENCODED.test(match[1]!)) throw geminiNotFound();
  let segment: string;
  try {
    segment = decodeURIComponent(match[1]!);
  } catch {
    throw geminiNotFound();
  }
  const colon = segment.lastIndexOf(":");
  const model = segment.slice(0, colon);
  const action = segment.slice(colon + 1);
  if (colon < 0 || !GEMINI_METHODS.includes(action) || !GEMINI_MODEL.test(model)) throw geminiNotFound();
  if (method !== "POST") {
    throw new ApiError(
      405,
      "method_not_allowed",
      `${method} is not allowed on ${url.pathname}; allowed: POST.`,
      {
        headers: { allow: "POST, OPTIONS" },
      },
    );
  }
  const params = new URLSearchParams(url.search);
  // Google's `alt` (also spelled `$alt`) may ask for protocol buffers or media: answers whose usage the
  // gateway could not read, so a budget could not be charged what they cost. JSON and SSE only.
  for (const [name, value] of params) {
    if ((name === "alt" || name === "$alt") && value !== "json" && value !== "sse")
      throw new ApiError(
        400,
        "validation_error",
        `alt=${value} is not forwarded: the gateway reads JSON and SSE answers only.`,
        { param: "alt" },
      );
    // A field mask trims the answer (`fields=candidates` leaves usageMetadata out) and a JSONP callback wraps
    // it: either way the usage a budget is charged could not be read.
    if (TRIMS_ANSWER.has(name)) throw answerTrimmed(name);
  }
  if (headers.has("x-goog-fieldmask")) throw answerTrimmed("X-Goog-FieldMask");
  const queryKey = params.get("key");
  params.delete("key");
  const query = params.toString();
  // The canonical path (decoded once, re-encoded by construction) serves the allowlist, reservation and URL.
  const path = `/models/${model}:${action}`;
  return {
    dialect: "gemini",
    endpoint: path,
    path,
    segments: ["models", `${model}:${action}`],
    search: query ? `?${query}` : "",
    model,
    stream: action === "streamGenerateContent",
    queryKey,
  };
}

/**
 * The route of a proxied request, or a 404/405 in the SPEC's terms. `/v1` paths go through the path checks
 * and the allowlist; Anthropic's endpoints are forwarded by their canonical names; Gemini's are a fixed set.
 */
export function routeOf(method: string, url: URL, headers: Headers, allowlist: Allowlist): ProxyRoute {
  if (dialectOf(url.pathname, headers) === "gemini") return geminiRoute(method, url, headers);
  const apiPath = parseApiPath(url.pathname);
  checkAllowed(allowlist, method, apiPath.segments);
  const [first] = apiPath.segments;
  const anthropic = first === "messages" || (first === "models" && headers.has("anthropic-version"));
  // The canonical path (decoded once, re-encoded one way) serves the allowlist, reservation, tap and URL.
  const path = apiPath.canonical;
  return {
    dialect: anthropic ? "anthropic" : "openai",
    endpoint: path,
    path,
    segments: apiPath.segments,
    search: url.search,
    model: null,
    stream: false,
    queryKey: null,
  };
}
