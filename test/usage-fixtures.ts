import { env } from "cloudflare:workers";
import type { EventDraft, UsageEvent } from "../src/usage/event";

let n = 0;

/** A request event draft as the proxy hands it over; override what a test cares about. */
export function draft(over: Partial<EventDraft> = {}): EventDraft {
  return {
    id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    token_id: "00000000-0000-4000-8000-000000000001",
    project_id: "00000000-0000-4000-8000-0000000000aa",
    method: "POST",
    path: "/v1/chat/completions",
    status: 200,
    duration_ms: 120 + (n++ % 7),
    ttfb_ms: 40,
    stream: false,
    model: "gpt-4o-mini",
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    error: null,
    aborted: false,
    upstream_request_id: "req_abc",
    colo: "FRA",
    user_agent: "OpenAI/JS 6.0",
    ...over,
  };
}

/** A finished event (what the queue carries). */
export function event(over: Partial<UsageEvent> = {}): UsageEvent {
  const { estimate: _e, reservationId: _r, ...rest } = draft();
  return { ...rest, usage_source: "upstream", cost_usd: 0.000004, ...over };
}

/** Every event line in the R2 log under `prefix`, every listing page read (duplicates kept, to be counted). */
export async function logLines(prefix = "events/"): Promise<UsageEvent[]> {
  const out: UsageEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.EVENTS_BUCKET.list({ prefix, cursor });
    for (const o of page.objects) {
      const text = await (await env.EVENTS_BUCKET.get(o.key))!.text();
      for (const l of text.split("\n")) if (l) out.push(JSON.parse(l) as UsageEvent);
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return out;
}
