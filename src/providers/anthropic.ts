import { OPENAI_ONLY, providerRefusal, rewrittenJson, upstreamFetch } from "./http";
import type { AnthropicSettings } from "./settings";
import type { Dialect, Provider, UpstreamCall, UpstreamTarget } from "./types";

/** Sent when neither the client nor the upstream's settings name one (the version every SDK accepts). */
export const DEFAULT_ANTHROPIC_VERSION = "2023-06-01";

const NATIVE = new Set(["/messages", "/messages/count_tokens", "/models"]);

/**
 * Anthropic's Messages API at `base_url` (`https://api.anthropic.com/v1`): `x-api-key` + `anthropic-version`
 * (the client's, else the settings', else 2023-06-01); `anthropic-beta` and every other header pass. An
 * OpenAI chat completions call is translated (translate/anthropic-request.ts, loaded on first use).
 */
export const anthropic: Provider = {
  name: "anthropic",
  dialect: "anthropic",
  streamUsage: true,
  serves(dialect: Dialect, endpoint: string): boolean {
    if (dialect === "anthropic") return NATIVE.has(endpoint) || endpoint.startsWith("/models/");
    return dialect === "openai" && endpoint === "/chat/completions";
  },
  async send(target: UpstreamTarget, call: UpstreamCall): Promise<Response> {
    const headers = call.headers;
    headers.set("x-api-key", target.apiKey);
    if (!headers.has("anthropic-version"))
      headers.set(
        "anthropic-version",
        (target.settings as AnthropicSettings | null)?.version ?? DEFAULT_ANTHROPIC_VERSION,
      );
    if (call.dialect === "anthropic") return upstreamFetch(target.baseUrl + call.path + call.search, call);
    const { chatToMessages, Untranslatable } = await import("./translate/anthropic-request");
    let native: Record<string, unknown>;
    try {
      native = chatToMessages(call.json ?? {});
    } catch (err) {
      if (err instanceof Untranslatable)
        return providerRefusal(400, "unsupported_parameter", err.message, err.param);
      throw err;
    }
    for (const name of OPENAI_ONLY) headers.delete(name);
    return upstreamFetch(`${target.baseUrl}/messages`, call, rewrittenJson(call, native));
  },
};
