import type { FC } from "hono/jsx";
import type { Project, Token as TokenRow } from "../../src/storage/schema";
import { Alert, CsrfField, Field, inputAttrs, Layout, Time } from "../layout";

type ProjectName = { id: string; name: string; isActive: boolean };
type Values = Record<string, string>;

export const TokenForm: FC<{
  csrf: string;
  projects: ProjectName[];
  values: Values;
  errors?: Record<string, string>;
  error?: string;
}> = ({ csrf, projects, values, errors = {}, error }) => {
  const active = projects.filter((p) => p.isActive);
  const v = (k: string) => values[k] ?? "";
  return (
    <Layout title="New token" nav="tokens" csrf={csrf}>
      <h1>New token</h1>
      {error ? <Alert kind="error">{error}</Alert> : null}
      {active.length === 0 ? (
        <Alert kind="warn">
          There is no active project yet. <a href="/admin/projects/new">Create a project</a> first.
        </Alert>
      ) : null}
      <form method="post" action="/admin/tokens" class="card">
        <CsrfField token={csrf} />
        <div class="form-grid">
          <Field name="project_id" label="Project" error={errors.project_id}>
            <select {...inputAttrs("project_id", errors)} required>
              <option value="">Choose a project…</option>
              {active.map((p) => (
                <option value={p.id} selected={p.id === v("project_id")}>
                  {p.name}
                </option>
              ))}
            </select>
          </Field>
          <Field
            name="name"
            label="Name"
            hint="Who or what gets it, e.g. “alice-notebook”."
            error={errors.name}
          >
            <input {...inputAttrs("name", errors, true)} value={v("name")} maxlength={200} />
          </Field>
        </div>
        <fieldset>
          <legend>Lifetime</legend>
          <div class="form-grid">
            <Field
              name="duration_minutes"
              label="Duration (minutes)"
              hint="1 … 525600 (one year). 60 = 1 hour, 1440 = 1 day."
              error={errors.duration_minutes}
            >
              <input
                {...inputAttrs("duration_minutes", errors, true)}
                type="number"
                min={1}
                max={525600}
                value={v("duration_minutes")}
              />
            </Field>
            <Field
              name="expires_at"
              label="Or expires at (UTC)"
              hint="Leave the duration empty to use this."
              error={errors.expires_at}
            >
              <input
                {...inputAttrs("expires_at", errors, true)}
                type="datetime-local"
                value={v("expires_at")}
              />
            </Field>
          </div>
        </fieldset>
        <fieldset>
          <legend>Limits (empty = unlimited)</legend>
          <div class="form-grid">
            <Field name="max_requests" label="Max requests" error={errors.max_requests}>
              <input
                {...inputAttrs("max_requests", errors)}
                type="number"
                min={1}
                value={v("max_requests")}
              />
            </Field>
            <Field
              name="max_tokens"
              label="Token budget"
              hint="Prompt + completion tokens."
              error={errors.max_tokens}
            >
              <input
                {...inputAttrs("max_tokens", errors, true)}
                type="number"
                min={1}
                value={v("max_tokens")}
              />
            </Field>
            <Field name="max_cost_usd" label="Cost budget (USD)" error={errors.max_cost_usd}>
              <input
                {...inputAttrs("max_cost_usd", errors)}
                type="number"
                min={0}
                step="0.01"
                value={v("max_cost_usd")}
              />
            </Field>
          </div>
          {errors.rate_limit ? <div class="field err">{`Rate windows: ${errors.rate_limit}`}</div> : null}
          {[1, 2, 3].map((i) => (
            <div class="form-grid">
              <Field name={`rate_requests_${i}`} label={`Rate window ${i}: requests`}>
                <input
                  {...inputAttrs(`rate_requests_${i}`)}
                  type="number"
                  min={1}
                  value={v(`rate_requests_${i}`)}
                />
              </Field>
              <Field
                name={`rate_window_${i}`}
                label={`Rate window ${i}: per seconds`}
                hint={i === 1 ? "60 = per minute, 3600 = per hour." : undefined}
              >
                <input
                  {...inputAttrs(`rate_window_${i}`, {}, i === 1)}
                  type="number"
                  min={1}
                  value={v(`rate_window_${i}`)}
                />
              </Field>
            </div>
          ))}
        </fieldset>
        <div class="form-grid">
          <Field
            name="allowed_models"
            label="Allowed models"
            hint="One per line or comma-separated; empty = all the project allows."
            error={errors.allowed_models}
          >
            <textarea {...inputAttrs("allowed_models", errors, true)}>{v("allowed_models")}</textarea>
          </Field>
          <Field
            name="metadata"
            label="Metadata (JSON object)"
            hint='e.g. {"user": "alice"}'
            error={errors.metadata}
          >
            <textarea {...inputAttrs("metadata", errors, true)}>{v("metadata")}</textarea>
          </Field>
        </div>
        <div class="row">
          <button type="submit" class="primary">
            Create token
          </button>
          <a class="btn" href="/admin/tokens">
            Cancel
          </a>
        </div>
      </form>
    </Layout>
  );
};

export const TokenCreated: FC<{
  csrf: string;
  token: TokenRow;
  project: Project;
  secret: string;
  origin: string;
}> = ({ csrf, token, project, secret, origin }) => (
  <Layout title="Token created" nav="tokens" csrf={csrf}>
    <h1>Token created</h1>
    <div class="card">
      <Alert kind="warn">
        Copy the token now: this is the only time it is shown. The gateway stores only its hash.
      </Alert>
      <label for="token-secret">
        Token for “{project.name}”{token.name ? `, ${token.name}` : ""} — expires{" "}
        <Time ms={token.expiresAt} />
      </label>
      <div class="secret">
        <code id="token-secret" data-testid="token-secret">
          {secret}
        </code>
        <button type="button" class="primary" data-copy="token-secret">
          Copy
        </button>
      </div>
      <h2 class="top-gap">Use it with any OpenAI SDK</h2>
      <div class="secret">
        <pre id="token-env">{`OPENAI_BASE_URL=${origin}/v1\nOPENAI_API_KEY=${secret}`}</pre>
        <button type="button" data-copy="token-env">
          Copy
        </button>
      </div>
      <pre>{`curl ${origin}/v1/chat/completions \\\n  -H "Authorization: Bearer ${secret}" \\\n  -H "Content-Type: application/json" \\\n  -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}'`}</pre>
      <div class="row top-gap">
        <a class="btn" href={`/admin/tokens/${token.id}`}>
          Token details
        </a>
        <a class="btn" href={`/admin/tokens/new?project_id=${project.id}`}>
          Another token
        </a>
      </div>
    </div>
  </Layout>
);
