import { providerRefusal, rewrittenJson, upstreamFetch } from "./http";
import type { AzureSettings } from "./settings";
import type { Provider, UpstreamCall, UpstreamTarget } from "./types";

/** Endpoints Azure serves per deployment (`/openai/deployments/{d}/…`); the rest live at `/openai/…`. */
const PER_DEPLOYMENT = /^\/(chat\/completions|completions|embeddings|audio\/[a-z]+|images\/[a-z]+)$/;

/** Endpoints at `/openai/…` whose body's `model` is the deployment's name (Azure's Responses API). */
const DEPLOYMENT_IN_BODY = /^\/responses(\/input_tokens)?$/;

/** What a deployment name may be (Azure allows letters, digits, `.`, `_`, `-`): nothing that reads as a path. */
const DEPLOYMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** As `AzureSettings.parse({})` gives them (a project stored before settings existed has none). */
const DEFAULTS: AzureSettings = { api_version: "2024-10-21", deployments: {}, api: "deployments" };

/** `https://res.openai.azure.com`, whether the operator wrote it with `/openai` or `/openai/v1` or not. */
export function azureResource(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, "").replace(/\/openai(\/v1)?$/, "");
}

/** The deployment (or, on the v1 API, the model id) a model name maps to: the mapping, else the name. */
export function azureDeployment(settings: AzureSettings, model: string): string {
  return Object.hasOwn(settings.deployments, model) ? settings.deployments[model]! : model;
}

function withApiVersion(search: string, version: string): string {
  const params = new URLSearchParams(search);
  if (!params.has("api-version")) params.set("api-version", version);
  return `?${params.toString()}`;
}

/**
 * The URL of an OpenAI-dialect call on an Azure OpenAI resource, or a refusal. Exported for tests.
 * - `deployments`: `/openai/deployments/{deployment}{path}?api-version=…` for the per-deployment endpoints,
 *   `/openai{path}?api-version=…` for the others (files, batches, responses).
 * - `v1`: `/openai/v1{path}` (no api-version), the body's model replaced by its deployment.
 */
export function azureUrl(target: UpstreamTarget, call: UpstreamCall): string | Response {
  const settings = (target.settings as AzureSettings | null) ?? DEFAULTS;
  const resource = azureResource(target.baseUrl);
  if (settings.api === "v1") return `${resource}/openai/v1${call.path}${call.search}`;
  const search = withApiVersion(call.search, settings.api_version);
  if (!PER_DEPLOYMENT.test(call.path)) return `${resource}/openai${call.path}${search}`;
  if (!call.model) {
    return providerRefusal(
      400,
      "model_required",
      "This project's upstream is Azure OpenAI: the request must name a model to choose its deployment.",
    );
  }
  // An unmapped model is the deployment's name, a path segment: one Azure could not have (`a/../b`) is not sent.
  if (!Object.hasOwn(settings.deployments, call.model) && !DEPLOYMENT_NAME.test(call.model)) {
    return providerRefusal(
      404,
      "model_not_found",
      `The model '${call.model}' cannot name an Azure OpenAI deployment (letters, digits, '.', '_', '-').`,
    );
  }
  const deployment = encodeURIComponent(azureDeployment(settings, call.model));
  return `${resource}/openai/deployments/${deployment}${call.path}${search}`;
}

/** Azure OpenAI: the `api-key` header, deployments from model names, `api-version` (or the `/openai/v1/` API). */
export const azure: Provider = {
  name: "azure",
  dialect: "openai",
  // Azure honours stream_options.include_usage since api-version 2024-09-01-preview (GA 2024-10-21).
  streamUsage: true,
  serves: (dialect) => dialect === "openai",
  send(target: UpstreamTarget, call: UpstreamCall): Promise<Response> {
    const url = azureUrl(target, call);
    if (url instanceof Response) return Promise.resolve(url);
    call.headers.set("api-key", target.apiKey);
    const settings = (target.settings as AzureSettings | null) ?? DEFAULTS;
    let body = call.body;
    // The body's model goes to the deployment the gateway mapped it to, where Azure reads it from the body.
    const inBody = settings.api === "v1" || DEPLOYMENT_IN_BODY.test(call.path);
    if (inBody && call.json && call.model) {
      const deployment = azureDeployment(settings, call.model);
      if (deployment !== call.model) body = rewrittenJson(call, { ...call.json, model: deployment });
    }
    return upstreamFetch(url, call, body);
  },
};
