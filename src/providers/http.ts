import type { UpstreamCall } from "./types";

/**
 * The one upstream fetch of every provider. A redirect is the client's to follow: following it here would
 * send the project's key elsewhere.
 */
export function upstreamFetch(url: string, call: UpstreamCall, body: BodyInit | null = call.body) {
  return fetch(url, {
    method: call.method,
    headers: call.headers,
    body,
    signal: call.signal,
    redirect: "manual",
  });
}

/** A JSON body the provider rewrote: its old content-length no longer holds. */
export function rewrittenJson(call: UpstreamCall, json: unknown): string {
  call.headers.delete("content-length");
  call.headers.set("content-type", "application/json");
  return JSON.stringify(json);
}

/** An error the provider itself answers before any upstream call, in OpenAI's envelope. */
export function providerRefusal(status: number, code: string, message: string, param = "model"): Response {
  const body = { error: { message, type: "invalid_request_error", param, code } };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "x-should-retry": "false" },
  });
}

/** OpenAI's account headers: meaningless to another provider, so not sent to one. */
export const OPENAI_ONLY = ["openai-organization", "openai-project", "openai-beta"];
