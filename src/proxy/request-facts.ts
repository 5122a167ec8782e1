import type { EventDraft, Usage } from "../usage/event";
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
  userId: string | null;
  projectId: string | null;
  /** The model the request named. */
  model: string | null;
  /** The request asked for a stream. */
  stream: boolean;
  /** The provider of the upstream that serves the request, once known. */
  provider?: string;
  /** The parsed JSON body, kept for an estimate (never logged). */
  json: Record<string, unknown> | null;
  reservationId?: string;
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
    provider: facts.provider ?? null,
    usage,
    error: outcome.error,
    aborted: outcome.aborted,
    upstream_request_id: outcome.upstreamRequestId ?? null,
    colo: facts.colo,
    user_agent: facts.userAgent,
  };
  // An estimate only where the upstream may have used tokens: it answered, or the client left midway.
  const reachedUpstream = (outcome.ttfbMs !== null && outcome.status < 400) || outcome.aborted;
  if (!usage && reachedUpstream && (facts.json || outcome.text)) {
    draft.estimate = { request: facts.json ?? undefined, completionText: outcome.text?.slice(0, TEXT_CAP) };
  }
  if (facts.reservationId) draft.reservationId = facts.reservationId;
  return draft;
}
