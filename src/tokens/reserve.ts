import type { AdmitInput } from "./admission";

/** The parts of a JSON request body that admission cares about. */
export type ParsedRequest = {
  /** The API path below /v1, e.g. `/chat/completions`. */
  path: string;
  model: string | null;
  /** The parsed JSON body, if the proxy read one. */
  body: Record<string, unknown> | null;
};

/**
 * What to reserve against a token's budgets before forwarding: the most this request may use.
 * Foundation stub (no budgets yet); the limits work computes it from max_tokens / max_completion_tokens /
 * max_output_tokens, a prompt estimate and the model's price.
 */
export function reserveFor(_request: ParsedRequest): AdmitInput["reserve"] {
  return undefined;
}
