import type { Found } from "../../cache/tiers";
import { allowanceHeaders } from "../../tokens/allowance";
import { recordRequest } from "../../usage/record";
import { cacheHeaders } from "../cache-step";
import { addCors } from "../cors";
import { requestDraft } from "../request-facts";
import type { Exchange } from "./index";

/**
 * An answer from the response cache: the bytes the original client got (a JSON document, or the SSE
 * events of a stream, replayed at once), with this request's id, allowance and CORS headers, plus
 * `x-llm-proxy-cache: hit` and `age`. Nothing reaches the upstream; the event is recorded at once with the
 * original call's usage (priced as money saved, charged $0: usage/record.ts).
 */
export function answerFromCache(
  found: Found,
  ex: Pick<Exchange, "env" | "ctx" | "facts" | "admitted" | "objectKey" | "origin">,
): Response {
  const { entry } = found;
  const headers = new Headers({ "content-type": entry.contentType, "x-request-id": ex.facts.requestId });
  const allowance = allowanceHeaders(ex.admitted);
  for (const name in allowance) headers.set(name, allowance[name]!);
  addCors(headers, ex.origin, Object.keys(allowance));
  cacheHeaders(headers, "hit", entry);
  const now = Date.now();
  ex.facts.cache = "hit";
  const outcome = {
    status: 200,
    error: null,
    ttfbMs: now - ex.facts.started,
    aborted: false,
    model: entry.model,
    usage: entry.usage,
    stream: entry.stream,
    endedAt: now,
  };
  recordRequest(ex.env, ex.ctx, requestDraft(ex.facts, outcome), ex.objectKey);
  return new Response(entry.body, { status: 200, headers });
}
