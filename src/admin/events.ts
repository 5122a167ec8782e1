import { partitionOf } from "../usage/consumer";
import type { UsageEvent } from "../usage/event";
import { type EventStores, listEvents } from "../usage/log-reader";

/** Recent request events for the admin pages: the usage module's R2 reader (GET /manage/events), newest first. */
export type EventFilter = {
  /** The request id a client saw in `x-request-id`. */
  requestId?: string;
  projectId?: string;
  tokenId?: string;
  /** Any of these tokens (a search by name or hint). */
  tokenIds?: string[];
  outcome?: "ok" | "error";
  model?: string;
  limit: number;
};

/** `events/dt=YYYY-MM-DD/hour=HH/` of an instant (UTC). */
export const hourPrefix = (ms: number): string => partitionOf(ms);

export async function recentEvents(
  stores: EventStores,
  f: EventFilter,
  now = Date.now(),
): Promise<UsageEvent[]> {
  const page = await listEvents(
    stores,
    {
      request_id: f.requestId,
      project_id: f.projectId,
      token_id: f.tokenId,
      token_ids: f.tokenIds,
      model: f.model,
      status: f.outcome,
      limit: f.limit,
    },
    now,
  );
  return page.data;
}
