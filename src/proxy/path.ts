import { ApiError } from "../lib/errors";

/** A request path below `/v1`, checked and split for matching. */
export type ApiPath = {
  /** The path after `/v1`, exactly as the client encoded it, e.g. `/chat/completion%73`. */
  raw: string;
  /** Its segments, each decoded once, e.g. `["chat", "completions"]`: what the allowlist matches. */
  segments: string[];
  /**
   * The one path every later decision and the upstream URL use: the decoded segments re-encoded the one
   * canonical way (`encodeSegment`), e.g. `/chat/completions` for `/chat/completion%73`. What the allowlist
   * matched is then exactly what is reserved, tapped and forwarded, whatever the client's encoding.
   */
  canonical: string;
};

/**
 * A path segment in its canonical encoding: every character outside RFC 3986's `pchar` set percent-encoded
 * (UTF-8), everything inside it (letters, digits, `-._~`, `!$&'()*+,;=:@`) literal. Percent-encoded
 * unreserved characters (`%73` for `s`) are thereby decoded: the upstream sees the path the gateway checked.
 */
export function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%(24|26|2B|2C|3B|3D|3A|40)/g, (m) => decodeURIComponent(m));
}

const notFound = (message: string) => new ApiError(404, "endpoint_not_found", message);

// Percent-encodings that would turn into a separator, a dot segment or a NUL once someone decodes the path.
export const FORBIDDEN_ENCODED = /%(2f|5c|00|2e|25)/i;

/**
 * Checks the URL path of a `/v1` request before anything is matched or forwarded: no dot segments (plain or
 * encoded), no encoded slashes or backslashes, no backslashes, no empty segments (`//`), no NUL, no
 * double encoding. Each segment is decoded once for matching and re-encoded canonically for everything else.
 */
export function parseApiPath(pathname: string): ApiPath {
  if (pathname !== "/v1" && !pathname.startsWith("/v1/")) throw notFound(`No route for ${pathname}.`);
  const raw = pathname.slice(3);
  if (raw === "/v1" || raw.startsWith("/v1/")) {
    throw notFound(
      `The path ${pathname} repeats /v1. Set your client's base URL to the gateway's /v1 once ` +
        "(e.g. https://<gateway>/v1), not /v1/v1.",
    );
  }
  if (raw === "" || raw === "/") throw notFound("No endpoint named: the path stops at /v1.");
  if (raw.includes("\\") || raw.includes("\0") || FORBIDDEN_ENCODED.test(raw)) {
    throw notFound(`The path ${pathname} contains an encoded separator, dot or NUL; it is not forwarded.`);
  }
  const parts = raw.slice(1).split("/");
  const segments: string[] = [];
  for (const part of parts) {
    if (part === "" || part === "." || part === "..")
      throw notFound(`The path ${pathname} has an empty or dot segment; it is not forwarded.`);
    let decoded: string;
    try {
      decoded = decodeURIComponent(part);
    } catch {
      throw notFound(`The path ${pathname} is not valid percent-encoding.`);
    }
    segments.push(decoded);
  }
  return { raw, segments, canonical: `/${segments.map(encodeSegment).join("/")}` };
}
