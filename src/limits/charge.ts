import type { EventDraft } from "../usage/event";
import { costUsd, mediaTokenCost, modelPrice } from "../usage/pricing";
import { ratesFor, utf8Length } from "./reserve";

/**
 * The usage of a finished request, to settle its reservation. `reported: false` (the upstream's usage never
 * arrived): an upper bound of what the gateway saw, and the object charges the hold instead when larger.
 */
export type Settlement = { totalTokens: number; costUsd: number | null; reported?: boolean };

/**
 * What a finished request that reserved budget is charged, decided from its event draft alone — never from
 * the tokenizer's estimate, which runs later and may take a while on a hostile body (the settle must not
 * wait for it):
 *
 * - a response-cache hit: nothing;
 * - the upstream reported usage: exactly that, at the model's price;
 * - the request was never forwarded, or the upstream answered with an error and streamed no text: nothing —
 *   unless an earlier attempt of its route timed out, or was sent all the same (a 2xx head before its
 *   stream broke; in flight when the client left): sent, and possibly worked on — then as below;
 * - a price the request itself fixed (images, speech; see usage/pricing.ts) on a complete 2xx answer: that;
 * - anything else (a stream cut or aborted before its usage chunk, an answer without usage, a fetch that
 *   failed or timed out after the request was sent, a route's attempt that timed out before the request
 *   failed): `reported: false` with the most the gateway can see
 *   was used — the request body's bytes plus the streamed text's UTF-8 bytes, since a token is at least
 *   one byte — and the token's object charges the hold instead when that is larger. Never below what was
 *   visibly streamed, never zero for a stream that produced text; reasoning tokens the gateway cannot see
 *   are covered by the hold (the request's declared maximum, or DEFAULT_RESERVE_OUTPUT_TOKENS).
 */
export function chargeOf(draft: EventDraft): Required<Settlement> {
  const facts = draft.charge;
  // A hit admitted before the cache was consulted holds a reservation: it settles at zero (it cost nothing).
  if (draft.cache === "hit") return { totalTokens: 0, costUsd: 0, reported: true };
  if (draft.usage) {
    // Token-billed image and transcription models: every input token at the dearer input rate.
    const cost = costUsd(draft.model, draft.usage) ?? mediaTokenCost(draft.model, draft.usage);
    return { totalTokens: draft.usage.total_tokens, costUsd: cost, reported: true };
  }
  if (facts?.audioUsd !== undefined) return { totalTokens: 0, costUsd: facts.audioUsd, reported: true };
  // A routed attempt that got no first byte in time was sent: the upstream may have done the work, whatever
  // the attempts after it got (a refused connection, an error answer). The last attempt's timeout is the
  // proxy's `forwarded`; earlier ones are in the event's failed attempts. So is an attempt whose 2xx head
  // came before its stream broke, or that was in flight when the client left (`attemptSent`).
  const sentBefore =
    facts?.attemptSent === true || draft.attempt_errors?.some((e) => e.error === "upstream_timeout") === true;
  const forwarded = sentBefore || (facts?.forwarded ?? (draft.ttfb_ms !== null || draft.aborted));
  const textBytes = facts?.textBytes ?? utf8Length(draft.estimate?.completionText ?? "");
  const answered = draft.ttfb_ms !== null;
  if (!forwarded || (answered && draft.status >= 400 && textBytes === 0 && !sentBefore)) {
    return { totalTokens: 0, costUsd: 0, reported: true };
  }
  if (facts?.fixed && answered && draft.status < 300 && !draft.aborted && !draft.error) {
    return { ...facts.fixed, reported: true };
  }
  const promptBytes = facts?.promptBytes ?? 0;
  const rates = ratesFor(modelPrice(draft.model), promptBytes);
  const cost = rates ? (promptBytes * rates.prompt + textBytes * rates.output) / 1_000_000 : null;
  return { totalTokens: promptBytes + textBytes, costUsd: cost, reported: false };
}
