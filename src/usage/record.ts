import type { EventDraft, UsageEvent } from "./event";

/**
 * Completes a request's event and queues it; runs in `waitUntil`, never on the response path.
 * Foundation version: no estimate, no price. The usage-events work fills in estimation, pricing and
 * budget settlement here.
 */
export async function finalizeEvent(draft: EventDraft): Promise<UsageEvent> {
  const { estimate: _estimate, reservationId: _reservation, ...rest } = draft;
  return { ...rest, usage_source: draft.usage ? "upstream" : "none", cost_usd: null };
}

export function recordRequest(env: Env, ctx: ExecutionContext, draft: EventDraft): void {
  ctx.waitUntil(
    finalizeEvent(draft)
      .then((event) => env.USAGE_QUEUE.send(event))
      .catch((err) => console.error("usage event lost", draft.id, err)),
  );
}
