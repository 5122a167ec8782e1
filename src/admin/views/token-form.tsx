import type { FC } from "hono/jsx";
import { Alert, CsrfField, Field, inputAttrs, Layout, Time } from "../../../admin-ui/layout";
import type { Project, Token as TokenRow } from "../../storage/schema";
import type { Token } from "../../tokens/response";
import { LimitFields } from "./limit-fields";
import { RenewingFields } from "./renewing";

type ProjectName = { id: string; name: string; isActive: boolean };
type Values = Record<string, string>;

const MetadataField: FC<{ value: string; error?: string }> = ({ value, error }) => (
  <Field name="metadata" label="Metadata (JSON object)" hint='e.g. {"user": "alice"}' error={error}>
    <textarea {...inputAttrs("metadata", error ? { metadata: error } : {}, true)}>{value}</textarea>
  </Field>
);

/** Whether the token may use its project's response cache (default: allowed). */
const CacheField: FC<{ value: string; error?: string }> = ({ value, error }) => (
  <Field
    name="cache"
    label="Response cache"
    hint="Used only where the project has the cache on."
    error={error}
  >
    <select {...inputAttrs("cache", error ? { cache: error } : {}, true)}>
      <option value="true" selected={value !== "false"}>
        allowed
      </option>
      <option value="false" selected={value === "false"}>
        denied
      </option>
    </select>
  </Field>
);

/** The two ways to set an expiry: a duration, or an instant (the route takes the duration when both are given). */
const ExpiryFields: FC<{ durationLabel: string; values: Values; errors: Record<string, string> }> = ({
  durationLabel,
  values,
  errors,
}) => (
  <div class="form-grid">
    <Field
      name="duration_minutes"
      label={durationLabel}
      hint="1 … 525600 (one year). 60 = 1 hour, 1440 = 1 day."
      error={errors.duration_minutes}
    >
      <input
        {...inputAttrs("duration_minutes", errors, true)}
        type="number"
        min={1}
        max={525600}
        value={values.duration_minutes ?? ""}
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
        value={values.expires_at ?? ""}
      />
    </Field>
  </div>
);

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
        {/* One id per form: a batch sent twice (a reload) is created once (src/admin/batch-once.ts). */}
        <input type="hidden" name="_once" value={v("_once") || crypto.randomUUID()} />
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
          <Field
            name="count"
            label="How many"
            hint="1 … 1000. More than one: named <name>-1, <name>-2, …; all secrets shown once, with a CSV."
            error={errors.count}
          >
            <input
              {...inputAttrs("count", errors, true)}
              type="number"
              min={1}
              max={1000}
              value={v("count") || "1"}
            />
          </Field>
        </div>
        <fieldset>
          <legend>Lifetime</legend>
          <ExpiryFields durationLabel="Duration (minutes)" values={values} errors={errors} />
        </fieldset>
        <fieldset>
          <legend>Limits (empty = unlimited, or the project's default)</legend>
          <LimitFields values={values} errors={errors} />
          <CacheField value={v("cache")} error={errors.cache} />
        </fieldset>
        <fieldset>
          <legend>Budgets that renew, token window, child tokens</legend>
          <RenewingFields values={values} errors={errors} canMint />
        </fieldset>
        <MetadataField value={v("metadata")} error={errors.metadata} />
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

/**
 * After a create: the secret, once. Shown again (a reload, the back button) it is gone: the gateway keeps
 * only its hash, so the page says what to do instead of showing it.
 */
export const TokenCreated: FC<{
  csrf: string;
  token: TokenRow;
  project: Project;
  secret: string | null;
  origin: string;
  /** The secret is a rotation's new one. */
  rotated?: boolean;
}> = ({ csrf, token, project, secret, origin, rotated }) => (
  <Layout title={rotated ? "Secret rotated" : "Token created"} nav="tokens" csrf={csrf}>
    <h1>{rotated ? "Secret rotated" : "Token created"}</h1>
    {rotated && token.previousValidUntil ? (
      <Alert kind="ok">
        The previous secret keeps working until <Time ms={token.previousValidUntil} />.
      </Alert>
    ) : null}
    <div class="card">
      {secret ? (
        <>
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
        </>
      ) : (
        <Alert kind="warn">
          The secret of token {token.name ? `“${token.name}” ` : ""}
          <span class="mono">{token.tokenHint}</span> was shown once, when it was created, and is not stored
          anywhere. If it was not copied, revoke this token and create a new one.
        </Alert>
      )}
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

/** PATCH of a token: every field shows the current value; an emptied limit means "no limit". */
export const TokenEditForm: FC<{
  csrf: string;
  token: Token;
  projectName: string;
  values: Values;
  errors?: Record<string, string>;
  error?: string;
}> = ({ csrf, token: t, projectName, values, errors = {}, error }) => {
  const v = (k: string) => values[k] ?? "";
  const label = t.name ?? t.token_hint;
  return (
    <Layout title={`Edit ${label}`} nav="tokens" csrf={csrf}>
      <h1 class="wrap-any">Edit {label}</h1>
      {error ? <Alert kind="error">{error}</Alert> : null}
      {t.status === "revoked" ? (
        <Alert kind="warn">This token is revoked: it stays refused whatever you change here.</Alert>
      ) : null}
      <form method="post" action={`/admin/tokens/${t.id}`} class="card">
        <CsrfField token={csrf} />
        <p class="muted small">
          Project “{projectName}” · <span class="mono">{t.token_hint}</span> · changes apply from the token's
          next request on.
        </p>
        <div class="form-grid">
          <Field name="name" label="Name" hint="Empty removes the name." error={errors.name}>
            <input {...inputAttrs("name", errors, true)} value={v("name")} maxlength={200} />
          </Field>
          {t.status === "revoked" ? null : (
            <Field
              name="is_active"
              label="State"
              hint="A deactivated token is refused until reactivated."
              error={errors.is_active}
            >
              <select {...inputAttrs("is_active", errors, true)}>
                <option value="true" selected={v("is_active") === "true"}>
                  active
                </option>
                <option value="false" selected={v("is_active") === "false"}>
                  deactivated
                </option>
              </select>
            </Field>
          )}
        </div>
        <fieldset>
          <legend>New expiry (empty = keep the current one)</legend>
          <p class="muted small">
            Now expires <Time ms={t.expires_at} /> (<Time ms={t.expires_at} relative />
            ).
          </p>
          <ExpiryFields durationLabel="Duration from now (minutes)" values={values} errors={errors} />
        </fieldset>
        <fieldset>
          <legend>Limits (empty = unlimited)</legend>
          <LimitFields values={values} errors={errors} />
          <CacheField value={v("cache")} error={errors.cache} />
        </fieldset>
        <fieldset>
          <legend>Budgets that renew, token window, child tokens</legend>
          <RenewingFields values={values} errors={errors} canMint />
        </fieldset>
        <MetadataField value={v("metadata")} error={errors.metadata} />
        <div class="row">
          <button type="submit" class="primary">
            Save token
          </button>
          <a class="btn" href={`/admin/tokens/${t.id}`}>
            Cancel
          </a>
        </div>
      </form>
    </Layout>
  );
};
