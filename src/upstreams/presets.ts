/**
 * OpenAI-compatible servers that need nothing but a base URL (provider `openai-compatible`, a Bearer key).
 * Shared by the admin pages, the CLI (`--preset`) and docs/routing.md.
 */
export const PRESETS = {
  groq: { baseUrl: "https://api.groq.com/openai/v1", label: "Groq" },
  together: { baseUrl: "https://api.together.xyz/v1", label: "Together AI" },
  mistral: { baseUrl: "https://api.mistral.ai/v1", label: "Mistral" },
  deepseek: { baseUrl: "https://api.deepseek.com/v1", label: "DeepSeek" },
  openrouter: { baseUrl: "https://openrouter.ai/api/v1", label: "OpenRouter" },
  fireworks: { baseUrl: "https://api.fireworks.ai/inference/v1", label: "Fireworks AI" },
  xai: { baseUrl: "https://api.x.ai/v1", label: "xAI" },
  vllm: { baseUrl: "http://localhost:8000/v1", label: "vLLM (self-hosted)" },
  ollama: { baseUrl: "http://localhost:11434/v1", label: "Ollama (self-hosted)" },
} as const satisfies Record<string, { baseUrl: string; label: string }>;

export type PresetName = keyof typeof PRESETS;

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
