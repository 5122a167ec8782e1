import { z } from "zod";

/** Every provider an upstream may speak. `bedrock` and `vertex` come next (see docs/providers.md). */
export const PROVIDER_NAMES = ["openai", "openai-compatible", "azure", "anthropic", "gemini"] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** Where an upstream of each provider lives when the operator names none (Azure has no default). */
export const DEFAULT_BASE_URLS: Readonly<Record<ProviderName, string | null>> = {
  openai: "https://api.openai.com/v1",
  "openai-compatible": null,
  azure: null,
  anthropic: "https://api.anthropic.com/v1",
  gemini: "https://generativelanguage.googleapis.com/v1beta",
};

const ApiVersion = z
  .string()
  .regex(/^[0-9A-Za-z.-]{1,40}$/, "must look like 2024-10-21 or 2025-04-01-preview");
const Deployment = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be a deployment name");
const ModelId = z.string().min(1).max(200);

/**
 * Azure OpenAI: `api` `deployments` calls `{base}/openai/deployments/{deployment}/…?api-version=…` (the
 * deployment from `deployments[model]`, else the model name itself); `v1` calls the resource's
 * `{base}/openai/v1/…` API, where the body's model is the deployment name.
 */
export const AzureSettings = z.strictObject({
  api_version: ApiVersion.default("2024-10-21").describe("api-version of the deployments API"),
  deployments: z
    .record(ModelId, Deployment)
    .refine((d) => Object.keys(d).length <= 200, "at most 200 deployments")
    .default({})
    .describe("Model name -> deployment name"),
  api: z.enum(["deployments", "v1"]).default("deployments"),
});

/** Anthropic: the `anthropic-version` sent when the client sends none. */
export const AnthropicSettings = z.strictObject({
  version: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .optional(),
});

/** Gemini (Generative Language API); `api_version` is informational: it is part of the base URL. */
export const GeminiSettings = z.strictObject({
  api_version: z.enum(["v1beta", "v1"]).optional(),
});

/** OpenAI: organization and project headers sent upstream when the client sends none. */
export const OpenAiSettings = z.strictObject({
  organization: z.string().max(200).optional(),
  project: z.string().max(200).optional(),
});

export const SETTINGS_SCHEMAS = {
  openai: OpenAiSettings,
  "openai-compatible": OpenAiSettings,
  azure: AzureSettings,
  anthropic: AnthropicSettings,
  gemini: GeminiSettings,
} as const;

export type AzureSettings = z.output<typeof AzureSettings>;
export type AnthropicSettings = z.output<typeof AnthropicSettings>;
export type GeminiSettings = z.output<typeof GeminiSettings>;
export type OpenAiSettings = z.output<typeof OpenAiSettings>;
export type ProviderSettings = AzureSettings | AnthropicSettings | GeminiSettings | OpenAiSettings;

/** Free-form settings as an API body carries them, before they are checked against a provider. */
export const SettingsInput = z
  .record(z.string(), z.unknown())
  .describe(
    "Per provider: azure {api_version, deployments: {model: deployment}, api: deployments|v1}; " +
      "anthropic {version}; gemini {api_version}; openai {organization, project}",
  );

export type SettingsIssue = { path: string; message: string };

/**
 * The settings of `provider` checked and completed with defaults, or the problems found. Settings that
 * belong to another provider are refused (strict objects), so a provider change must bring its own.
 */
export function parseSettings(
  provider: ProviderName,
  input: unknown,
): { ok: true; settings: ProviderSettings } | { ok: false; issues: SettingsIssue[] } {
  const result = SETTINGS_SCHEMAS[provider].safeParse(input ?? {});
  if (result.success) return { ok: true, settings: result.data };
  return {
    ok: false,
    issues: result.error.issues.map((i) => ({
      path: ["provider_settings", ...i.path.map(String)].join("."),
      message: i.message,
    })),
  };
}
