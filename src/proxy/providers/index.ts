import { openAiCompatible } from "./openai";
import type { Provider } from "./types";

export type { Provider, UpstreamCall, UpstreamTarget } from "./types";

const PROVIDERS: Record<string, Provider> = {
  openai: openAiCompatible(true),
  // Most OpenAI-compatible servers (vLLM, Ollama, LM Studio, Groq, Together) honour include_usage.
  "openai-compatible": openAiCompatible(true),
};

export function providerFor(name: string): Provider | undefined {
  return Object.hasOwn(PROVIDERS, name) ? PROVIDERS[name] : undefined;
}
