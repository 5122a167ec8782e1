// What crosses the gateway in each direction. Client → upstream: everything except credentials,
// hop-by-hop headers, anything that identifies the end user's network (client IP, Cloudflare's own cf-*
// headers) and cookies. Upstream → client: everything except hop-by-hop headers and cookies; the upstream's
// own request id moves to `x-upstream-request-id` so `x-request-id` can be the gateway's.

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

const NOT_UPSTREAM = new Set([
  ...HOP_BY_HOP,
  "host",
  "authorization",
  "api-key",
  "x-api-key",
  "x-goog-api-key",
  "cookie",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-forwarded-port",
  "x-forwarded-server",
  "x-real-ip",
  "x-client-ip",
  "x-cluster-client-ip",
  "true-client-ip",
  "fastly-client-ip",
  "forwarded",
  "via",
  // The gateway's own cache control (proxy/cache-step.ts): it steers the gateway, not the upstream.
  "x-llm-proxy-cache",
]);

const NOT_DOWNSTREAM = [...HOP_BY_HOP, "set-cookie", "content-length"];

function nominated(headers: Headers): string[] {
  const value = headers.get("connection");
  return value ? value.split(",").map((h) => h.trim().toLowerCase()) : [];
}

// Both directions copy the Headers natively and delete the few names that must not cross: cheaper than
// rebuilding them entry by entry in JS (Headers iterate in sorted order, so no order is lost).

/**
 * The headers to send upstream, without the project's credential (the provider sets it).
 * `keepLength`: the body goes up unchanged, so its content-length still holds.
 */
export function upstreamRequestHeaders(client: Headers, keepLength: boolean): Headers {
  const out = new Headers(client);
  const extra = nominated(client);
  for (const name of client.keys()) {
    if (
      NOT_UPSTREAM.has(name) ||
      name.startsWith("cf-") ||
      name.startsWith("x-forwarded-") ||
      (name === "content-length" && !keepLength) ||
      (extra.length && extra.includes(name))
    )
      out.delete(name);
  }
  return out;
}

/**
 * The upstream's response headers as the client gets them. `keepLength`: the body reaches the client
 * byte for byte and was not decompressed by the runtime, so its content-length still holds.
 */
export function downstreamResponseHeaders(
  upstream: Headers,
  requestId: string,
  keepLength: boolean,
): Headers {
  const out = new Headers(upstream);
  // A fixed list: deleting a name that is absent costs less than iterating the headers to find it.
  for (const name of NOT_DOWNSTREAM) if (name !== "content-length" || !keepLength) out.delete(name);
  for (const name of nominated(upstream)) out.delete(name);
  const upstreamId = out.get("x-request-id");
  if (upstreamId !== null) {
    const prior = out.get("x-upstream-request-id");
    out.set("x-upstream-request-id", prior === null ? upstreamId : `${upstreamId}, ${prior}`);
  }
  out.set("x-request-id", requestId);
  return out;
}
