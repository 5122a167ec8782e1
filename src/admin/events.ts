import { partitionOf } from "../usage/consumer";
import type { UsageEvent } from "../usage/event";
import { listEvents } from "../usage/log-reader";

/** Recent request events for the admin pages: the usage module's R2 reader (GET /manage/events), newest first. */
export type EventFilter = {
  projectId?: string;
  tokenId?: string;
  outcome?: "ok" | "error";
  model?: string;
  limit: number;
};

/** `events/dt=YYYY-MM-DD/hour=HH/` of an instant (UTC). */
export const hourPrefix = (ms: number): string => partitionOf(ms);

export async function recentEvents(
  bucket: R2Bucket,
  f: EventFilter,
  now = Date.now(),
): Promise<UsageEvent[]> {
  const page = await listEvents(
    bucket,
    { project_id: f.projectId, token_id: f.tokenId, model: f.model, status: f.outcome, limit: f.limit },
    now,
  );
  return page.data;
}
