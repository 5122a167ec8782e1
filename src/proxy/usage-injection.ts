import { isObject } from "../lib/json";
import type { Provider } from "../providers";
import type { JsonBody } from "./body";

/**
 * The gateway asks the upstream for a stream's usage on the client's behalf (`stream_options.include_usage`)
 * so the request can be counted, then gives the client back the stream it asked for (respond/sse.ts strips
 * the usage-only chunk). `body` goes up instead of the client's bytes; `original` is what the client sent,
 * sent as it was if the upstream refuses `stream_options` (proxy/send.ts).
 */
export type UsageInjection = { body: string; original: Uint8Array };

/**
 * The injection for a chat or legacy completions stream that did not ask for usage itself, when the
 * provider honours `include_usage`; undefined otherwise (the client's body goes up byte for byte).
 */
export function usageInjection(
  provider: Provider,
  path: string,
  body: JsonBody | null,
): UsageInjection | undefined {
  const json = body?.json;
  if (!json || !provider.streamUsage) return undefined;
  if (json.stream !== true || (path !== "/chat/completions" && path !== "/completions")) return undefined;
  const asked = json.stream_options;
  if (isObject(asked) && asked.include_usage === true) return undefined;
  // The client's other stream options are kept.
  const options = (asked ?? {}) as Record<string, unknown>;
  return {
    body: JSON.stringify({ ...json, stream_options: { ...options, include_usage: true } }),
    original: body.bytes,
  };
}
