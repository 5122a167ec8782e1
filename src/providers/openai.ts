import { upstreamFetch } from "./http";
import type { OpenAiSettings } from "./settings";
import type { Dialect, Provider, ProviderName, UpstreamCall, UpstreamTarget } from "./types";

/** OpenAI's API, or any API that speaks it at `base_url` with a Bearer key (vLLM, Ollama, Groq, …). */
export function openAiCompatible(name: ProviderName, streamUsage: boolean): Provider {
  return {
    name,
    dialect: "openai",
    streamUsage,
    serves: (dialect: Dialect) => dialect === "openai",
    send(target: UpstreamTarget, call: UpstreamCall): Promise<Response> {
      // A keyless upstream (a local server) gets no authorization header at all.
      if (target.apiKey) call.headers.set("authorization", `Bearer ${target.apiKey}`);
      const settings = target.settings as OpenAiSettings | null;
      if (settings?.organization && !call.headers.has("openai-organization"))
        call.headers.set("openai-organization", settings.organization);
      if (settings?.project && !call.headers.has("openai-project"))
        call.headers.set("openai-project", settings.project);
      return upstreamFetch(target.baseUrl + call.path + call.search, call);
    },
  };
}
