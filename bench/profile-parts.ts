// Which part of a request one CPU-profile sample belongs to, from its stack resolved to source files: the
// rules of `--profile` (profile.ts takes and sums the profile, profile-report.ts renders it). Kept apart
// because these rules follow the source tree — a file moved in src/ is a rule edited here.

/** Where a sample's time goes. The first parts follow the request; the rest is shared or runtime work. */
export const PARTS = [
  "body read and parse",
  "token hash",
  "admission (isolate)",
  "admission (token object)",
  "headers (upstream, downstream, CORS, allowance)",
  "response copy and parse (JSON)",
  "SSE tap",
  "event build (draft, finalise, price)",
  "queue send (batcher, sendBatch)",
  "consumer: validate, group, lines (JS)",
  "consumer: D1 client (ledger, rollups)",
  "consumer: R2 client",
  "upstream fetch (what the floor does too)",
  "routing (path, allowlist, request facts)",
  "cache step, ownership guard",
  "forward: response object, timers, abort",
  "other gateway code",
  "garbage collection",
  "runtime code called from JS (promise jobs, streams)",
] as const;
export type Part = (typeof PARTS)[number];

export type Frame = { fn: string; file: string | null; native: boolean };

/** Rules by source file (and function, where a file holds two parts), innermost frame first. */
function partOfFrame(f: Frame, leaf: Frame, inConsumer: boolean): Part | undefined {
  const file = f.file;
  if (!file) return undefined;
  const fn = f.fn.replace(/\d+$/, "");
  if (inConsumer) {
    if (/node_modules\/zod\//.test(file) || file.endsWith("usage/schema.ts"))
      return "consumer: validate, group, lines (JS)";
    if (file.endsWith("usage/event-ledger.ts")) return "consumer: D1 client (ledger, rollups)";
    if (file.endsWith("usage/consumer.ts"))
      return leaf.native && leaf.fn === "put"
        ? "consumer: R2 client"
        : "consumer: validate, group, lines (JS)";
    if (file.startsWith("cloudflare-internal:d1")) return "consumer: D1 client (ledger, rollups)";
    return undefined;
  }
  if (file.endsWith("proxy/body.ts")) return "body read and parse";
  if (file.endsWith("proxy/auth.ts") || file.endsWith("tokens/secret.ts")) return "token hash";
  if (file.endsWith("proxy/isolate-caches.ts"))
    return /TokenHash|Unknown/.test(fn) ? "token hash" : "other gateway code";
  if (file.endsWith("tokens/durable.ts") || file.includes("/limits/") || file.endsWith("projects/durable.ts"))
    return "admission (token object)";
  if (file.endsWith("tokens/admission-cache.ts") || file.endsWith("tokens/admission.ts"))
    return "admission (isolate)";
  if (
    file.endsWith("proxy/headers.ts") ||
    file.endsWith("proxy/cors.ts") ||
    file.endsWith("tokens/allowance.ts")
  )
    return "headers (upstream, downstream, CORS, allowance)";
  // The answer's relay (proxy/respond/): a JSON answer's whole read and parse, the SSE tap, the rest.
  if (file.endsWith("respond/json.ts")) {
    if (/^(finish|done|afterTick)$/.test(fn)) return "event build (draft, finalise, price)";
    return "response copy and parse (JSON)";
  }
  if (file.endsWith("respond/sse.ts") || file.endsWith("lib/sse-parser.ts")) return "SSE tap";
  if (file.endsWith("proxy/observe.ts") || file.endsWith("proxy/observe-native.ts"))
    return leaf.native || /stream/i.test(fn) ? "SSE tap" : "response copy and parse (JSON)";
  if (
    file.endsWith("proxy/request-facts.ts") ||
    file.endsWith("usage/record.ts") ||
    file.endsWith("usage/pricing.ts") ||
    file.endsWith("usage/prices.ts") ||
    file.endsWith("metrics/analytics.ts")
  )
    return "event build (draft, finalise, price)";
  if (file.endsWith("usage/batcher.ts")) return "queue send (batcher, sendBatch)";
  // The provider's send is where the native fetch is called: what the floor does too.
  if (file.includes("src/providers/")) {
    if (leaf.native && leaf.fn === "fetch") return "upstream fetch (what the floor does too)";
    return "forward: response object, timers, abort";
  }
  if (
    file.endsWith("proxy/path.ts") ||
    file.endsWith("proxy/allowlist.ts") ||
    file.endsWith("proxy/dialect.ts") ||
    file.endsWith("ownership/endpoints.ts")
  )
    return "routing (path, allowlist, request facts)";
  if (
    file.endsWith("proxy/cache-step.ts") ||
    file.endsWith("proxy/objects.ts") ||
    file.includes("src/ownership/") ||
    file.includes("src/cache/")
  )
    return "cache step, ownership guard";
  if (
    file.endsWith("proxy/send.ts") ||
    file.endsWith("respond/index.ts") ||
    file.endsWith("respond/relay.ts")
  ) {
    if (/^(finish|record|afterTick)$/.test(fn)) return "event build (draft, finalise, price)";
    return "forward: response object, timers, abort";
  }
  if (file.endsWith("proxy/handler.ts") || file.endsWith("src/index.ts")) {
    return "routing (path, allowlist, request facts)";
  }
  return undefined;
}

/** The part of one sample of the worker's isolate, from its stack (leaf first). */
export function partOfStack(stack: Frame[]): Part {
  const leaf = stack[0]!;
  if (leaf.fn === "(garbage collector)") return "garbage collection";
  const inConsumer = stack.some((f) => f.file?.endsWith("usage/consumer.ts"));
  for (const f of stack) {
    const part = partOfFrame(f, leaf, inConsumer);
    if (part) return part;
  }
  if (inConsumer) return "consumer: validate, group, lines (JS)";
  return stack.some((f) => f.file?.includes("/src/") || f.file?.startsWith("src/"))
    ? "other gateway code"
    : "runtime code called from JS (promise jobs, streams)";
}
