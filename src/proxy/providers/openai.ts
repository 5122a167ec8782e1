import { openAiObserver } from "../observe";
import type { Provider, UpstreamCall, UpstreamTarget } from "./types";

/** OpenAI's API, or any API that speaks it at `base_url` with a Bearer key (vLLM, Ollama, Groq, …). */
export function openAiCompatible(streamUsage: boolean): Provider {
  return {
    streamUsage,
    observer: openAiObserver,
    send(target: UpstreamTarget, call: UpstreamCall): Promise<Response> {
      call.headers.set("authorization", `Bearer ${target.apiKey}`);
      return fetch(target.baseUrl + call.path + call.search, {
        method: call.method,
        headers: call.headers,
        body: call.body,
        signal: call.signal,
        // A redirect is the client's to follow: following it here would send the project's key elsewhere.
        redirect: "manual",
      });
    },
  };
}
