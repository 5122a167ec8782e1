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
};

/**
 * What the proxy hands over when a request ends. The usage module completes it off the hot path
 * (estimate where the upstream reported nothing, price it) and queues it.
 */
export type EventDraft = Omit<UsageEvent, "usage_source" | "cost_usd"> & {
  /** Inputs for an estimate when the upstream sent no usage (cut-off stream, no usage reported). */
  estimate?: {
    /** The parsed JSON request body (messages / prompt / input), if the proxy read it. */
    request?: unknown;
    /** The completion text actually streamed to the client, capped. */
    completionText?: string;
  };
  /** A budget reservation made at admission, to settle against the real usage. */
  reservationId?: string;
};
