import { anthropic } from "./anthropic";
import { azure } from "./azure";
import { gemini } from "./gemini";
import { openAiCompatible } from "./openai";
import type { Provider } from "./types";

export { DEFAULT_BASE_URLS, PROVIDER_NAMES, type ProviderName, parseSettings } from "./settings";
export type { Dialect, Provider, ProviderSettings, UpstreamCall, UpstreamTarget } from "./types";

// Bedrock (SigV4 request signing, e.g. aws4fetch) and Vertex AI (an OAuth token from a service-account JWT
// signed with jose, cached per isolate) are next: each is one more Provider here; see docs/providers.md.
const PROVIDERS: Record<string, Provider> = {
  openai: openAiCompatible("openai", true),
  // Most OpenAI-compatible servers (vLLM, Ollama, LM Studio, Groq, Together) honour include_usage.
  "openai-compatible": openAiCompatible("openai-compatible", true),
  azure,
  anthropic,
  gemini,
};

export function providerFor(name: string): Provider | undefined {
  return Object.hasOwn(PROVIDERS, name) ? PROVIDERS[name] : undefined;
}
