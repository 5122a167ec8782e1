import { ApiError } from "../lib/errors";

// Where an upstream's keys may be sent. A key is stored encrypted and never shown, but whoever may edit a
// project could point an upstream's base URL at a host of their own and have the gateway send the key there;
// and over http:// anyone on the path reads it. So: https (http:// only to this machine, or where the
// operator opted in with ALLOW_HTTP_UPSTREAMS), no credentials in the URL, and a new host only together
// with the key meant for it.

const invalid = (param: string, message: string) =>
  new ApiError(400, "validation_error", `Invalid request: ${param}: ${message}`, {
    param,
    fields: [{ path: param, message }],
  });

/** localhost, *.localhost, 127.0.0.0/8 and ::1: a request there never leaves the machine. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost") || /^127(\.\d{1,3}){3}$/.test(h) || h === "[::1]";
}

/** Throws 400 unless the (already http(s)-parsed) base URL may receive the project's key. */
export function checkBaseUrl(baseUrl: string, env: { ALLOW_HTTP_UPSTREAMS?: string }): void {
  const url = new URL(baseUrl);
  if (url.username || url.password) {
    throw invalid("base_url", "must not contain credentials (user:password@); the key goes in api_key");
  }
  if (url.protocol === "http:" && !isLoopback(url.hostname) && env.ALLOW_HTTP_UPSTREAMS !== "true") {
    throw invalid(
      "base_url",
      'must be https:// (http:// only for localhost, unless the gateway\'s ALLOW_HTTP_UPSTREAMS is "true")',
    );
  }
}

/**
 * A change of base URL to another origin (scheme, host or port) without a key in the same request: refused,
 * the stored key is never sent to a host it was not given for.
 */
export function checkHostChange(current: string, next: string): void {
  if (new URL(current).origin === new URL(next).origin) return;
  throw invalid(
    "api_key",
    `moving base_url to ${new URL(next).origin} needs the upstream API key for it in the same request (api_key): the stored key is never sent to a new host`,
  );
}
