import type { Meter } from "../limits/meter";
import type { AttemptErrorEntry, CacheStatus, EventDraft, Usage } from "../usage/event";
import { TEXT_CAP } from "./observe";

/** What the proxy knows about a request as it goes, for its event. */
export type RequestFacts = {
  requestId: string;
  started: number;
  method: string;
  path: string;
  userAgent: string | null;
  colo: string | null;
  tokenId: string | null;
  /** The end user an identity provider vouched for (a JWT, or a token exchanged for one). */
  userId?: string | null;
  projectId: string | null;
  /** The model the request named; once routed, the model of the target that answered. */
  model: string | null;
  /** Where the request went (set once an attempt is made upstream). */
  route?: RouteFacts;
  /** The request asked for a stream. */
  stream: boolean;
  /** The provider of the upstream that serves the request, once known. */
  provider?: string;
  /** The parsed JSON body, kept for an estimate (never logged). */
  json: Record<string, unknown> | null;
  reservationId?: string;
  /** Bytes of the JSON body the gateway read, if it read one (bounds the prompt's tokens). */
  bodyBytes?: number;
  /** What the request may cost (limits/meter.ts): its fixed price or per-second rate settle it. */
  meter?: Meter;
  /** What the response cache did, when the request was a candidate for it (proxy/cache-step.ts). */
  cache?: CacheStatus | null;
  /**
   * An attempt that is not the answer was sent all the same (route-send.ts): its 2xx head came before its
   * stream broke, or the client left while it was in flight. The upstream may have done the work.
   */
  sent?: boolean;
};

/** The routing side of an event: the attempt that answered (or failed last) and those that failed before. */
export type RouteFacts = {
  /** null when no attempt was made (every target open) or the client left before one answered. */
  upstream: string | null;
  upstreamId: string | null;
  keyId: string | null;
  provider: string | null;
  /** The name the client asked for (an alias or a model). */
  modelRequested: string | null;
  attempts: number;
  errors: AttemptErrorEntry[];
};

export type Outcome = {
  status: number;
  error: string | null;
  ttfbMs: number | null;
  aborted: boolean;
  /** The model the upstream answered with, when it said. */
  model?: string | null;
  usage?: Usage | null;
  text?: string;
  /** UTF-8 bytes of all the text the answer carried (uncapped). */
  textBytes?: number;
  /** Seconds of audio the answer reported (transcriptions). */
  audioSeconds?: number;
  /** false when the gateway refused before sending anything upstream (default: it was sent). */
  forwarded?: boolean;
  stream?: boolean;
  upstreamRequestId?: string | null;
  endedAt?: number;
};

/** The request's event as the proxy hands it over (record.ts clips the client-controlled strings). */
export function requestDraft(facts: RequestFacts, outcome: Outcome): EventDraft {
  const usage = outcome.usage ?? null;
  const draft: EventDraft = {
    id: facts.requestId,
    timestamp: new Date(facts.started).toISOString(),
    token_id: facts.tokenId,
    ...(facts.userId ? { user_id: facts.userId } : {}),
    project_id: facts.projectId,
    method: facts.method,
    path: facts.path,
    status: outcome.status,
    duration_ms: (outcome.endedAt ?? Date.now()) - facts.started,
    ttfb_ms: outcome.ttfbMs,
    stream: outcome.stream ?? facts.stream,
    model: outcome.model ?? facts.model,
    provider: facts.route?.provider ?? facts.provider ?? null,
    usage,
    error: outcome.error,
    aborted: outcome.aborted,
    upstream_request_id: outcome.upstreamRequestId ?? null,
    colo: facts.colo,
    user_agent: facts.userAgent,
    upstream: facts.route?.upstream ?? null,
    upstream_id: facts.route?.upstreamId ?? null,
    key_id: facts.route?.keyId ?? null,
    model_requested: facts.route ? facts.route.modelRequested : facts.model,
    attempts: facts.route?.attempts ?? 0,
    attempt_errors: facts.route?.errors ?? [],
  };
  if (facts.cache) draft.cache = facts.cache;
  // An estimate only where the upstream may have used tokens: it answered, or the client left midway (a
  // cache hit reached no upstream: its usage is the original call's, or none).
  const reachedUpstream =
    facts.cache !== "hit" &&
    outcome.forwarded !== false &&
    ((outcome.ttfbMs !== null && outcome.status < 400) || outcome.aborted);
  if (!usage && reachedUpstream && (facts.json || outcome.text)) {
    draft.estimate = { request: facts.json ?? undefined, completionText: outcome.text?.slice(0, TEXT_CAP) };
  }
  if (facts.reservationId) draft.reservationId = facts.reservationId;
  // What settling a reservation needs, and what prices an image or a transcription in the event.
  if (facts.reservationId || facts.meter?.fixed || facts.meter?.perSecondUsd !== undefined) {
    draft.charge = {
      forwarded: outcome.forwarded !== false,
      promptBytes: facts.bodyBytes ?? 0,
      textBytes: outcome.textBytes ?? 0,
    };
    if (facts.sent) draft.charge.attemptSent = true;
    if (facts.meter?.fixed) draft.charge.fixed = facts.meter.fixed;
    if (facts.meter?.perSecondUsd !== undefined && outcome.audioSeconds !== undefined)
      draft.charge.audioUsd = outcome.audioSeconds * facts.meter.perSecondUsd;
  }
  return draft;
}
