import { ApiError } from "../lib/errors";
import {
  DEFAULT_BASE_URLS,
  type ProviderName,
  type ProviderSettings,
  parseSettings,
} from "../providers/settings";

/**
 * An upstream's provider settings checked and completed with defaults (src/providers/settings.ts), or 400
 * `validation_error` naming the fields under `field` (`settings` on upstreams, `provider_settings` on the
 * project fields that act on its first upstream).
 */
export function checkedSettings(
  provider: ProviderName,
  input: unknown,
  field = "settings",
): ProviderSettings {
  const result = parseSettings(provider, input);
  if (result.ok) return result.settings;
  const fields = result.issues.map((i) => ({ ...i, path: i.path.replace(/^provider_settings/, field) }));
  const summary = fields.map((i) => `${i.path}: ${i.message}`).join("; ");
  throw new ApiError(400, "validation_error", `Invalid body: ${summary}`, {
    param: fields[0]?.path ?? null,
    fields,
  });
}

/**
 * The base URL of a new upstream: the one given, else its provider's (Azure's resource and an
 * OpenAI-compatible server are the operator's own: they have none).
 */
export function baseUrlFor(provider: ProviderName, given: string | undefined): string {
  const url = given ?? DEFAULT_BASE_URLS[provider];
  if (url) return url;
  const what = provider === "azure" ? "https://<resource>.openai.azure.com" : "the server's /v1 URL";
  throw new ApiError(
    400,
    "validation_error",
    `Invalid body: base_url: required for provider '${provider}' (${what}).`,
    {
      param: "base_url",
      fields: [{ path: "base_url", message: `required for provider '${provider}'` }],
    },
  );
}
