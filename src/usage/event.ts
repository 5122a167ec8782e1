/** Token counts of one request, in OpenAI's chat-completions vocabulary. */
export type Usage = {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens served from a cache (part of prompt_tokens). */
  cached_tokens?: number;
  /** Prompt tokens written to a cache (part of prompt_tokens; Anthropic bills them above the input rate). */
  cache_creation_tokens?: number;
  /** Of those, the ones written for an hour (Anthropic bills them at 2× input rather than 1.25×). */
  cache_creation_1h_tokens?: number;
  /** Output tokens spent on reasoning or thinking (part of completion_tokens). */
  reasoning_tokens?: number;
};

export type UsageSource = "upstream" | "estimated" | "none";

/** An attempt that did not serve the request: where it went and why it failed. Never a key, only its id. */
export type AttemptErrorEntry = {
  upstream: string;
  upstream_id: string;
  key_id: string | null;
  /** The upstream's status, or null when it sent none (connection refused or broken, timeout). */
  status: number | null;
  /** `upstream_<status>`, `upstream_error` (connection) or `upstream_timeout`. */
  error: string;
  ms: number;
};
/**
 * What the response cache did for a request (absent: the project has no cache, or the request could never
 * be cached): `hit` answered from the cache, `miss` sent upstream (and stored if cacheable), `refresh`
 * sent upstream because the client asked for a fresh answer, `bypass` the client or the body kept the
 * request out of the cache.
 */
export type CacheStatus = "hit" | "miss" | "refresh" | "bypass";

/** One request event (docs/usage-events.md): a line of the R2 request log. Never holds a secret or a body. */
export type UsageEvent = {
  id: string;
  timestamp: string;
  token_id: string | null;
  /** The end user of an identity provider the request was counted for, if any (src/issuing/identity). */
  user_id?: string;
  project_id: string | null;
  method: string;
  path: string;
  status: number;
  duration_ms: number;
  ttfb_ms: number | null;
  stream: boolean;
  model: string | null;
  /** The provider of the upstream that served (openai, azure, anthropic, gemini, …); null before routing. */
  provider?: string | null;
  usage: Usage | null;
  usage_source: UsageSource;
  cost_usd: number | null;
  error: string | null;
  aborted: boolean;
  upstream_request_id: string | null;
  colo: string | null;
  user_agent: string | null;
  /** The upstream (by name) that served — or last failed — the request; null when none was tried. */
  upstream?: string | null;
  upstream_id?: string | null;
  /** The id of the upstream key used (never the key). */
  key_id?: string | null;
  /** The model (or alias) the client asked for; `model` is the one that served. */
  model_requested?: string | null;
  /** Attempts made upstream (0 when the gateway answered without trying). */
  attempts?: number;
  /** The attempts that failed before the one that answered, in order. */
  attempt_errors?: AttemptErrorEntry[];
  cache?: CacheStatus;
  /** On a cache hit: what the original call's usage costs at today's prices (the hit itself costs $0). */
  saved_usd?: number | null;
};

/**
 * What the proxy hands over when a request ends. The usage module completes it off the hot path
 * (estimate where the upstream reported nothing, price it) and queues it.
 */
export type EventDraft = Omit<UsageEvent, "usage_source" | "cost_usd" | "saved_usd"> & {
  /** Inputs for an estimate when the upstream sent no usage (cut-off stream, no usage reported). */
  estimate?: {
    /** The parsed JSON request body (messages / prompt / input), if the proxy read it. */
    request?: unknown;
    /** The completion text actually streamed to the client, capped. */
    completionText?: string;
  };
  /** A budget reservation made at admission, to settle against the real usage. */
  reservationId?: string;
  /** What settling the reservation needs besides usage (limits/charge.ts). Absent: inferred from the draft. */
  charge?: {
    /** The request was sent upstream (it may have used tokens even without an answer). */
    forwarded: boolean;
    /**
     * An attempt of its route that is not the answer was sent all the same (its 2xx head came before its
     * stream broke, or the client left while it was in flight): charged as a timed-out attempt is.
     */
    attemptSent?: boolean;
    /** Bytes of the request body the gateway read (an upper bound of its prompt tokens). */
    promptBytes: number;
    /** UTF-8 bytes of all the answer's text the gateway saw (not capped like the estimate's text). */
    textBytes: number;
    /** A price fixed by the request itself (images, speech), charged when the answer completes. */
    fixed?: { totalTokens: number; costUsd: number | null };
    /** A transcription's cost from the duration its answer reported. */
    audioUsd?: number;
  };
};
