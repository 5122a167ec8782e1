import type { UsageEvent } from "../usage/event";

/**
 * Recent request events read back from the R2 log (`events/dt=YYYY-MM-DD/hour=HH/*.jsonl`), newest first.
 * A stop-gap for the admin request log until the usage work's reader lands (`listEvents` in
 * src/usage/events.ts, behind GET /manage/events): then `recentEvents(bucket, f)` becomes
 * `(await listEvents(bucket, { project_id, token_id, model, status: outcome, limit })).data`.
 */
export type EventFilter = {
  projectId?: string;
  tokenId?: string;
  outcome?: "ok" | "error";
  model?: string;
  limit: number;
};

const HOUR = 3_600_000;
/** Bounds on one page view: hours scanned back and objects read. */
const MAX_HOURS = 48;
const MAX_OBJECTS = 60;

export function hourPrefix(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `events/dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/`;
}

function matches(e: UsageEvent, f: EventFilter): boolean {
  if (f.projectId && e.project_id !== f.projectId) return false;
  if (f.tokenId && e.token_id !== f.tokenId) return false;
  if (f.model && e.model !== f.model) return false;
  if (f.outcome === "ok" && (e.status >= 400 || e.error)) return false;
  if (f.outcome === "error" && e.status < 400 && !e.error) return false;
  return true;
}

function parseLines(text: string): UsageEvent[] {
  const out: UsageEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as UsageEvent;
      if (e && typeof e.id === "string" && typeof e.timestamp === "string") out.push(e);
    } catch {
      // A torn or foreign line must not hide the rest of the log.
    }
  }
  return out;
}

export async function recentEvents(
  bucket: R2Bucket,
  f: EventFilter,
  now = Date.now(),
): Promise<UsageEvent[]> {
  const found = new Map<string, UsageEvent>();
  let objectsRead = 0;
  for (let h = 0; h < MAX_HOURS && found.size < f.limit && objectsRead < MAX_OBJECTS; h++) {
    const listing = await bucket.list({ prefix: hourPrefix(now - h * HOUR), limit: 1000 });
    const objects = listing.objects.sort((a, b) => b.uploaded.getTime() - a.uploaded.getTime());
    for (const obj of objects) {
      if (objectsRead >= MAX_OBJECTS) break;
      const body = await bucket.get(obj.key);
      objectsRead++;
      if (!body) continue;
      // Event ids dedupe: a retried batch may have written the same events twice.
      for (const e of parseLines(await body.text())) if (matches(e, f)) found.set(e.id, e);
    }
  }
  return [...found.values()].sort((a, b) => b.timestamp.localeCompare(a.timestamp)).slice(0, f.limit);
}
