import { chargeOf } from "../limits/charge";
import { writeAnalytics } from "../metrics/analytics";
import { tokenObject } from "../tokens/admission-cache";
import { batcherFor } from "./batcher";
import type { EventDraft, UsageEvent } from "./event";
import { costUsd, mediaTokenCost } from "./pricing";
import { type RejectionSummary, unidentifiedGate } from "./unidentified";

/** Longest completion text we tokenize for an estimate: bounds the CPU one event can cost. */
const MAX_ESTIMATE_CHARS = 400_000;

/**
 * Client-controlled strings are clipped (here, and only here) so an event always fits a queue message (128 KB) and a log line
 * stays a log line: a 1 MB "model" in a request body must not cost us the event.
 */
const clip = (value: string | null, max: number): string | null =>
  value === null || value.length <= max ? value : value.slice(0, max);

/**
 * Completes a request's event: upstream usage when it reported any, else an estimate (tokenizer loaded
 * lazily, here, in `waitUntil`), else none; then the price. Never throws for a bad draft: a failed
 * estimate leaves the event at `none`.
 */
export async function finalizeEvent(draft: EventDraft): Promise<UsageEvent> {
  const { estimate } = draft;
  let usage = draft.usage;
  let usage_source: UsageEvent["usage_source"] = usage ? "upstream" : "none";
  if (!usage && estimate && (estimate.request !== undefined || estimate.completionText)) {
    try {
      const { estimateUsage } = await import("./estimate");
      usage = await estimateUsage(
        draft.model,
        estimate.request,
        estimate.completionText?.slice(0, MAX_ESTIMATE_CHARS),
      );
      if (usage) usage_source = "estimated";
    } catch (err) {
      console.error("usage estimate failed", draft.id, err);
    }
  }
  return eventOf(draft, usage, usage_source);
}

/** Whether completing the draft needs an estimate (the only asynchronous step of `finalizeEvent`). */
const wantsEstimate = (draft: EventDraft) =>
  !draft.usage &&
  draft.estimate !== undefined &&
  (draft.estimate.request !== undefined || Boolean(draft.estimate.completionText));

/** The event of a draft with its usage known: clipped strings, the price. */
function eventOf(
  draft: EventDraft,
  usage: UsageEvent["usage"],
  usage_source: UsageEvent["usage_source"],
): UsageEvent {
  const { estimate: _estimate, reservationId: _reservation, charge: _charge, ...rest } = draft;
  const cost = costUsd(draft.model, usage) ?? mediaTokenCost(draft.model, usage) ?? requestPricedCost(draft);
  const event: UsageEvent = {
    ...rest,
    path: clip(rest.path, 1024) ?? "",
    model: clip(rest.model, 256),
    user_agent: clip(rest.user_agent, 512),
    error: clip(rest.error, 128),
    upstream_request_id: clip(rest.upstream_request_id, 256),
    model_requested: clip(rest.model_requested ?? null, 256),
    usage,
    usage_source,
    cost_usd: cost,
  };
  // A cache hit reports the original call's usage; it costs nothing, and saves what that usage costs.
  if (draft.cache === "hit") {
    event.cost_usd = 0;
    event.saved_usd = cost;
  }
  return event;
}

/**
 * The cost of a completed request priced by the request itself (an image, speech) or by the duration its
 * answer reported (a transcription), when token usage does not price it.
 */
function requestPricedCost(draft: EventDraft): number | null {
  const charge = draft.charge;
  if (charge?.audioUsd !== undefined) return charge.audioUsd;
  const complete = draft.ttfb_ms !== null && draft.status < 300 && !draft.aborted && !draft.error;
  return complete && charge?.fixed ? charge.fixed.costUsd : null;
}

/** A message on the usage queue: a request event, or a count of unidentified requests not sent as events. */
export type UsageMessage = UsageEvent | RejectionSummary;

/**
 * Ends a request's accounting: settle its budget reservation (if any) and queue its event, independently.
 * The event goes through the isolate's batcher: this resolves once the flushes this request owns are
 * done, which may be before its own event is sent (another request owns that flush then).
 */
export async function completeRequest(env: Env, draft: EventDraft, objectKey?: string): Promise<void> {
  const queue = batcherFor(env.USAGE_QUEUE);
  if (draft.token_id === null && !draft.user_id) {
    // No identified token: count it always, log it as an event only within the isolate's budget.
    const { sendEvent, summary } = unidentifiedGate.admit(draft.error ?? "unknown", Date.now());
    const sends: Promise<void>[] = [];
    if (summary) sends.push(queue.push(summary satisfies UsageMessage));
    if (sendEvent) sends.push(queue.push((await finalizeEvent(draft)) satisfies UsageMessage));
    await Promise.all(sends);
    return;
  }
  // The settle starts first and never waits for the event's estimate (limits/charge.ts decides from the
  // draft alone): a hostile body may keep the tokenizer busy for a while, the budget must not.
  const settled =
    draft.reservationId && objectKey
      ? tokenObject(env, objectKey).settle(draft.reservationId, chargeOf(draft))
      : Promise.resolve();
  settled.catch(() => {}); // reported below, once the event is queued too
  const event = await finalizeEvent(draft);
  // Optional Workers Analytics Engine data point, where an ANALYTICS binding is configured.
  writeAnalytics(env, event);
  // The batcher never rejects: a lost batch is logged there, event by event.
  const [settle] = await Promise.allSettled([settled, queue.push(event satisfies UsageMessage)]);
  if (settle.status === "rejected") console.error("reservation not settled", draft.id, settle.reason);
}

export function recordRequest(env: Env, ctx: ExecutionContext, draft: EventDraft, objectKey?: string): void {
  // The usual request (identified, usage reported or nothing to estimate, no reservation to settle) is
  // completed and queued here, synchronously: no promise chain and no `waitUntil` of its own, unless it
  // owns a flush of the batcher (measured with `npm run bench:ab`, bench/README.md). Everything else goes
  // through completeRequest.
  if (draft.token_id !== null && !draft.reservationId && !wantsEstimate(draft)) {
    try {
      const event = eventOf(draft, draft.usage, draft.usage ? "upstream" : "none");
      writeAnalytics(env, event);
      const flushing = batcherFor(env.USAGE_QUEUE).add(event satisfies UsageMessage);
      if (flushing) ctx.waitUntil(flushing);
    } catch (err) {
      console.error("usage event lost", draft.id, err);
    }
    return;
  }
  ctx.waitUntil(
    completeRequest(env, draft, objectKey).catch((err) => console.error("usage event lost", draft.id, err)),
  );
}
