import type { FC } from "hono/jsx";
import { Alert, CsrfField, Field, inputAttrs, Layout } from "../../../admin-ui/layout";
import type { ProjectWithUpstream as Project } from "../../projects/repo";
import type { ProviderName } from "../../providers/settings";
import { CapabilityFields } from "./capability-fields";
import { LimitFields } from "./limit-fields";

type Values = Record<string, string>;

// Views import only types from domain code: the list is spelled here, and the compiler checks it is complete.
const PROVIDER_NAMES = ["openai", "openai-compatible", "azure", "anthropic", "gemini"] as const;
const everyProvider: Exclude<ProviderName, (typeof PROVIDER_NAMES)[number]> extends never ? true : never =
  true;
void everyProvider;

/** A cacheable endpoint and the name of its "keep out of the cache" checkbox. */
type CacheChoice = { endpoint: string; field: string };

export const ProjectForm: FC<{
  csrf: string;
  project?: Project;
  values: Values;
  cacheChoices: readonly CacheChoice[];
  errors?: Record<string, string>;
  error?: string;
}> = ({ csrf, project, values, cacheChoices, errors = {}, error }) => {
  const title = project ? `Edit ${project.name}` : "New project";
  return (
    <Layout title={title} nav="projects" csrf={csrf}>
      <h1>{title}</h1>
      {error ? <Alert kind="error">{error}</Alert> : null}
      <form method="post" action={project ? `/admin/projects/${project.id}` : "/admin/projects"} class="card">
        <CsrfField token={csrf} />
        <div class="form-grid">
          <Field name="name" label="Name" error={errors.name}>
            <input {...inputAttrs("name", errors)} value={values.name ?? ""} required maxlength={200} />
          </Field>
          <Field name="provider" label="Provider" error={errors.provider}>
            <select {...inputAttrs("provider", errors)}>
              {PROVIDER_NAMES.map((p) => (
                <option value={p} selected={values.provider === p}>
                  {p}
                </option>
              ))}
            </select>
          </Field>
        </div>
        {project ? (
          <Field
            name="api_key"
            label="Upstream API key (only to move the base URL to another host)"
            hint="The stored key is never sent to a new host: give the key for that host with the change."
            error={errors.api_key}
          >
            <input {...inputAttrs("api_key", errors, true)} type="password" autocomplete="off" />
          </Field>
        ) : (
          <Field
            name="api_key"
            label="Upstream API key"
            hint="Stored encrypted. It is never shown again, only a masked hint."
            error={errors.api_key}
          >
            <input {...inputAttrs("api_key", errors, true)} type="password" autocomplete="off" required />
          </Field>
        )}
        <Field
          name="base_url"
          label="Base URL"
          hint="Default per provider: OpenAI https://api.openai.com/v1, Anthropic https://api.anthropic.com/v1, Gemini https://generativelanguage.googleapis.com/v1beta; Azure: your resource endpoint. https:// only (http:// for localhost)."
          error={errors.base_url}
        >
          <input
            {...inputAttrs("base_url", errors, true)}
            type="url"
            value={values.base_url ?? ""}
            placeholder="https://api.openai.com/v1"
          />
        </Field>
        {project ? (
          <Field
            name="api_key"
            label="Upstream API key for a new host"
            hint="Needed only when the base URL moves to another host: the stored key is never sent to a new one. Empty keeps the current key."
            error={errors.api_key}
          >
            <input {...inputAttrs("api_key", errors, true)} type="password" autocomplete="off" />
          </Field>
        ) : null}
        <Field
          name="provider_settings"
          label="Provider settings (JSON)"
          hint='Azure: {"api_version": "2024-10-21", "deployments": {"gpt-4o": "my-deployment"}, "api": "deployments" | "v1"}; Anthropic: {"version": "2023-06-01"}'
          error={errors.provider_settings}
        >
          <textarea {...inputAttrs("provider_settings", errors)} rows={3}>
            {values.provider_settings ?? ""}
          </textarea>
        </Field>
        <Field name="description" label="Description" error={errors.description}>
          <input {...inputAttrs("description", errors)} value={values.description ?? ""} maxlength={2000} />
        </Field>
        <div class="form-grid">
          <Field
            name="allowed_models"
            label="Allowed models"
            hint="One per line or comma-separated; empty = all models."
            error={errors.allowed_models}
          >
            <textarea {...inputAttrs("allowed_models", errors, true)}>{values.allowed_models ?? ""}</textarea>
          </Field>
          <Field
            name="allowed_origins"
            label="Allowed browser origins"
            hint="e.g. https://app.example.com; empty = any origin."
            error={errors.allowed_origins}
          >
            <textarea {...inputAttrs("allowed_origins", errors, true)}>
              {values.allowed_origins ?? ""}
            </textarea>
          </Field>
        </div>
        <Field
          name="metadata"
          label="Metadata (JSON object)"
          hint='e.g. {"team": "ml"}'
          error={errors.metadata}
        >
          <textarea {...inputAttrs("metadata", errors, true)}>{values.metadata ?? ""}</textarea>
        </Field>
        <CapabilityFields values={values} errors={errors} />
        <fieldset>
          <legend>Project-wide caps (all its tokens together; empty = none)</legend>
          <div class="form-grid">
            <Field name="max_requests" label="Project max requests" error={errors.max_requests}>
              <input
                {...inputAttrs("max_requests", errors)}
                type="number"
                min={1}
                value={values.max_requests ?? ""}
              />
            </Field>
            <Field
              name="max_tokens"
              label="Project token budget"
              hint="Prompt + completion tokens."
              error={errors.max_tokens}
            >
              <input
                {...inputAttrs("max_tokens", errors, true)}
                type="number"
                min={1}
                value={values.max_tokens ?? ""}
              />
            </Field>
            <Field name="max_cost_usd" label="Project cost budget (USD)" error={errors.max_cost_usd}>
              <input
                {...inputAttrs("max_cost_usd", errors)}
                type="number"
                min={0}
                step="any"
                value={values.max_cost_usd ?? ""}
              />
            </Field>
          </div>
        </fieldset>
        <fieldset>
          <legend>Response cache (off unless a TTL is set)</legend>
          <p class="muted small">
            Identical requests of the project's tokens (chat, completions, Responses, embeddings, moderations)
            are answered from the cache for this long: no upstream call, $0 against budgets.
          </p>
          {errors.cache ? <div class="field err" role="alert">{`Cache: ${errors.cache}`}</div> : null}
          <Field
            name="cache_ttl_seconds"
            label="Cache TTL (seconds)"
            hint="1 … 2592000 (30 days); empty = no cache."
            error={errors.cache_ttl_seconds}
          >
            <input
              {...inputAttrs("cache_ttl_seconds", errors, true)}
              type="number"
              min={1}
              value={values.cache_ttl_seconds ?? ""}
            />
          </Field>
          <fieldset>
            <legend>Keep out of the cache</legend>
            {cacheChoices.map(({ endpoint, field }) => (
              <label class="check">
                <input type="checkbox" name={field} checked={values[field] === "on"} />{" "}
                <span class="mono">{endpoint}</span>
              </label>
            ))}
          </fieldset>
          <label class="check">
            <input
              type="checkbox"
              name="cache_hits_skip_rate_limits"
              checked={values.cache_hits_skip_rate_limits === "on"}
            />{" "}
            Cache hits take no slot in tokens' rate windows (they still count against max requests)
          </label>
        </fieldset>
        <fieldset>
          <legend>Defaults for new tokens (empty = no default)</legend>
          <p class="muted small">
            Applied when a token is created; whatever the create request sets itself wins. Existing tokens
            keep their limits.
          </p>
          {errors.token_defaults ? (
            <div class="field err" role="alert">{`Defaults: ${errors.token_defaults}`}</div>
          ) : null}
          <Field
            name="td_duration_minutes"
            label="Default duration (minutes)"
            hint="1 … 525600. Without it, new tokens live 60 minutes."
            error={errors.td_duration_minutes}
          >
            <input
              {...inputAttrs("td_duration_minutes", errors, true)}
              type="number"
              min={1}
              max={525600}
              value={values.td_duration_minutes ?? ""}
            />
          </Field>
          <LimitFields
            values={values}
            errors={errors}
            prefix="td_"
            label="Default "
            modelsHint="One per line or comma-separated; empty = no default."
          />
        </fieldset>
        <div class="row">
          <button type="submit" class="primary">
            {project ? "Save" : "Create project"}
          </button>
          <a class="btn" href={project ? `/admin/projects/${project.id}` : "/admin/projects"}>
            Cancel
          </a>
        </div>
      </form>
    </Layout>
  );
};
