import { env } from "cloudflare:workers";
import type { UsageEvent } from "../../src/usage/event";
import { sleep } from "./proxy";

/** Waits for the events of these request ids in the R2 request log (the queue batches for a few seconds). */
export async function eventsOf(ids: string[], timeoutMs = 20_000): Promise<Map<string, UsageEvent>> {
  const found = new Map<string, UsageEvent>();
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const list = await env.EVENTS_BUCKET.list({ prefix: "events/" });
    for (const object of list.objects) {
      const text = await (await env.EVENTS_BUCKET.get(object.key))!.text();
      for (const line of text.split("\n")) {
        if (!line) continue;
        const event = JSON.parse(line) as UsageEvent;
        if (ids.includes(event.id)) found.set(event.id, event);
      }
    }
    if (found.size === ids.length) return found;
    await sleep(250);
  }
  throw new Error(`only ${found.size} of ${ids.length} events arrived`);
}

/** A fetch that remembers the gateway's request id of every answer, for finding their events. */
export function recordingFetch(target: (input: RequestInfo, init?: RequestInit) => Promise<Response>) {
  const ids: string[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const res = await target(input as RequestInfo, init);
    const id = res.headers.get("x-request-id");
    if (id) ids.push(id);
    return res;
  };
  return { fetch, ids };
}
