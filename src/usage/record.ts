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

/** Ends a request's accounting: settle its budget reservation (if any) and queue its event, independently. */
export async function completeRequest(env: Env, draft: EventDraft, tokenHash?: string): Promise<void> {
  const event = await finalizeEvent(draft);
  const settle = async () => {
    if (!draft.reservationId || !tokenHash) return;
    const actual = { totalTokens: event.usage?.total_tokens ?? 0, costUsd: event.cost_usd };
    await env.TOKEN_DO.get(env.TOKEN_DO.idFromName(tokenHash)).settle(draft.reservationId, actual);
  };
  const [settled, queued] = await Promise.allSettled([settle(), env.USAGE_QUEUE.send(event)]);
  if (settled.status === "rejected") console.error("reservation not settled", draft.id, settled.reason);
  if (queued.status === "rejected") throw queued.reason;
}

export function recordRequest(env: Env, ctx: ExecutionContext, draft: EventDraft, tokenHash?: string): void {
  ctx.waitUntil(
    completeRequest(env, draft, tokenHash).catch((err) => console.error("usage event lost", draft.id, err)),
  );
}
