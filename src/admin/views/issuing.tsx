import type { FC } from "hono/jsx";
import { Alert, Badge, CsrfField, Field, inputAttrs, Layout, Time } from "../../../admin-ui/layout";
import type { IssuingKey } from "../../issuing/keys/schema";
import { fmtInt, fmtUsd } from "../../lib/format";
import type { EndUser, IdentityProvider, Project } from "../../storage/schema";
import type { Token } from "../../tokens/response";
import { Table } from "./common";

type Values = Record<string, string>;
type Errors = Record<string, string>;

const csvCell = (v: string | null) =>
  v === null ? "" : /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;

/** Many tokens created at once: every secret shown once, with a CSV to download or copy. */
export const BatchCreated: FC<{
  csrf: string;
  project: Project;
  created: { token: Token; secret: string }[];
}> = ({ csrf, project, created }) => {
  const csv = [
    "id,name,token,expires_at",
    ...created.map(({ token: t, secret }) => [t.id, t.name, secret, t.expires_at].map(csvCell).join(",")),
  ].join("\n");
  return (
    <Layout title="Tokens created" nav="tokens" csrf={csrf}>
      <h1>{fmtInt(created.length)} tokens created</h1>
      <div class="card">
        <Alert kind="warn">
          Copy or download the secrets now: this is the only time they are shown. The gateway stores only
          their hashes.
        </Alert>
        <div class="row">
          <button
            type="button"
            class="primary"
            data-download="batch-csv"
            data-filename={`${project.name}-tokens.csv`}
          >
            Download CSV
          </button>
          <button type="button" data-copy="batch-csv">
            Copy CSV
          </button>
          <a class="btn" href={`/admin/tokens?project_id=${project.id}`}>
            Tokens of “{project.name}”
          </a>
        </div>
        <pre id="batch-csv" class="top-gap" data-testid="batch-csv">
          {csv}
        </pre>
      </div>
    </Layout>
  );
};

const ceilingText = (c: Record<string, unknown>) => {
  const parts: string[] = [];
  if (typeof c.max_duration_minutes === "number") parts.push(`≤ ${fmtInt(c.max_duration_minutes)} min`);
  if (typeof c.max_cost_usd === "number") parts.push(`≤ ${fmtUsd(c.max_cost_usd)}`);
  if (typeof c.max_requests === "number") parts.push(`≤ ${fmtInt(c.max_requests)} requests`);
  if (typeof c.max_tokens === "number") parts.push(`≤ ${fmtInt(c.max_tokens)} tokens`);
  if (Array.isArray(c.period_budgets)) {
    for (const b of c.period_budgets as { period: string; max_cost_usd?: number }[])
      parts.push(`${b.period}: ${b.max_cost_usd !== undefined ? fmtUsd(b.max_cost_usd) : "limited"}`);
  }
  if (Array.isArray(c.allowed_models)) parts.push(`models ${c.allowed_models.join(", ")}`);
  if (c.allow_minting) parts.push("may allow minting");
  return parts.length ? parts.join(" · ") : "none";
};

/** A project's ways to issue tokens without the management token: issuing keys, identity providers, users. */
export const ProjectIssuing: FC<{
  csrf: string;
  project: Project;
  keys: IssuingKey[];
  providers: IdentityProvider[];
  users: EndUser[];
  values?: Values;
  errors?: Errors;
  error?: string;
  created?: { kind: "key"; secret: string; name: string };
}> = ({ csrf, project: p, keys, providers, users, values = {}, errors = {}, error, created }) => {
  const v = (k: string) => values[k] ?? "";
  return (
    <Layout title={`Issuing · ${p.name}`} nav="projects" csrf={csrf}>
      <div class="spread">
        <h1 class="wrap-any">Issuing tokens for “{p.name}”</h1>
        <a class="btn" href={`/admin/projects/${p.id}`}>
          Back to the project
        </a>
      </div>
      {error ? <Alert kind="error">{error}</Alert> : null}
      {created ? (
        <div class="card" data-testid="key-created">
          <Alert kind="warn">Copy the key “{created.name}” now: this is the only time it is shown.</Alert>
          <div class="secret">
            <code id="key-secret" data-testid="key-secret">
              {created.secret}
            </code>
            <button type="button" class="primary" data-copy="key-secret">
              Copy
            </button>
          </div>
          <p class="muted small">
            The app's backend uses it like the management token on <code>/manage/tokens</code> (create, list,
            read, revoke) for this project only, within the ceilings below.
          </p>
        </div>
      ) : null}

      <div class="card top-gap" data-testid="issuing-keys">
        <h2>Issuing keys</h2>
        <Table
          head={
            <>
              <th>Name</th>
              <th>Hint</th>
              <th>Status</th>
              <th>Ceilings</th>
              <th>Last used</th>
              <th />
            </>
          }
        >
          {keys.map((k) => (
            <tr>
              <td>{k.name}</td>
              <td class="mono">{k.key_hint}</td>
              <td>
                <Badge status={k.status === "active" ? "active" : "revoked"} />
              </td>
              <td>{ceilingText(k.ceilings)}</td>
              <td>
                <Time ms={k.last_used_at} relative />
              </td>
              <td>
                {k.status === "active" ? (
                  <form
                    method="post"
                    action={`/admin/projects/${p.id}/issuing/keys/${k.id}/revoke`}
                    class="inline"
                    data-confirm={`Revoke the issuing key “${k.name}”? Tokens it created stay valid.`}
                  >
                    <CsrfField token={csrf} />
                    <button type="submit" class="small danger">
                      Revoke
                    </button>
                  </form>
                ) : null}
              </td>
            </tr>
          ))}
        </Table>
        {keys.length === 0 ? <p class="muted">No issuing keys yet.</p> : null}
        <form method="post" action={`/admin/projects/${p.id}/issuing/keys`} class="top-gap">
          <CsrfField token={csrf} />
          <h3>New issuing key</h3>
          <div class="form-grid">
            <Field name="key_name" label="Name" hint="Who holds it, e.g. “web backend”." error={errors.name}>
              <input
                {...inputAttrs("key_name", errors, true)}
                value={v("key_name")}
                maxlength={200}
                required
              />
            </Field>
            <Field
              name="ceil_duration"
              label="Longest token (minutes)"
              error={errors["ceilings.max_duration_minutes"]}
            >
              <input
                {...inputAttrs("ceil_duration")}
                type="number"
                min={1}
                max={525600}
                value={v("ceil_duration")}
              />
            </Field>
            <Field name="ceil_cost" label="Largest cost budget (USD)" error={errors["ceilings.max_cost_usd"]}>
              <input {...inputAttrs("ceil_cost")} type="number" min={0} step="any" value={v("ceil_cost")} />
            </Field>
            <Field name="ceil_requests" label="Largest max requests">
              <input {...inputAttrs("ceil_requests")} type="number" min={1} value={v("ceil_requests")} />
            </Field>
            <Field name="ceil_day_cost" label="Largest daily cost budget (USD)">
              <input
                {...inputAttrs("ceil_day_cost")}
                type="number"
                min={0}
                step="any"
                value={v("ceil_day_cost")}
              />
            </Field>
            <Field
              name="ceil_models"
              label="Models"
              hint="Comma-separated, within the project's; empty = the project's."
              error={errors["ceilings.allowed_models"]}
            >
              <input {...inputAttrs("ceil_models", errors, true)} value={v("ceil_models")} />
            </Field>
          </div>
          <label class="check">
            <input type="checkbox" name="ceil_minting" value="true" checked={v("ceil_minting") === "true"} />{" "}
            Its tokens may mint child tokens
          </label>
          <div class="row top-gap">
            <button type="submit" class="primary">
              Create issuing key
            </button>
          </div>
        </form>
      </div>

      <div class="card top-gap" data-testid="identity-providers">
        <h2>Identity providers</h2>
        <p class="muted small">
          Your users' JWTs (Firebase, Auth0, Clerk…) are exchanged at <code>POST /issue/exchange</code> for
          tokens counted against per-user limits, or — with direct use — work as API keys themselves.
        </p>
        <Table
          head={
            <>
              <th>Name</th>
              <th>Issuer</th>
              <th>Audience</th>
              <th>Keys</th>
              <th>Direct use</th>
              <th>Limits per user</th>
              <th>State</th>
              <th />
            </>
          }
        >
          {providers.map((x) => (
            <tr>
              <td>{x.name}</td>
              <td class="mono wrap-any">{x.issuer}</td>
              <td class="mono">{x.audience}</td>
              <td class="wrap-any">{x.jwksUrl ?? `shared secret (${x.algorithms.join(", ")})`}</td>
              <td>{x.allowDirect ? "yes" : "exchange only"}</td>
              <td class="mono small">{x.userLimits ? JSON.stringify(x.userLimits) : "none"}</td>
              <td>
                <Badge status={x.isActive ? "active" : "inactive"} />
              </td>
              <td>
                <form
                  method="post"
                  action={`/admin/projects/${p.id}/issuing/providers/${x.id}/active`}
                  class="inline"
                >
                  <CsrfField token={csrf} />
                  <input type="hidden" name="active" value={x.isActive ? "false" : "true"} />
                  <button type="submit" class="small">
                    {x.isActive ? "Deactivate" : "Activate"}
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </Table>
        {providers.length === 0 ? <p class="muted">No identity provider trusted yet.</p> : null}
        <form method="post" action={`/admin/projects/${p.id}/issuing/providers`} class="top-gap">
          <CsrfField token={csrf} />
          <h3>Trust an identity provider</h3>
          <div class="form-grid">
            <Field name="idp_name" label="Name" error={errors.name}>
              <input {...inputAttrs("idp_name", errors)} value={v("idp_name")} maxlength={200} required />
            </Field>
            <Field name="issuer" label="Issuer (iss)" hint="Exactly as in the JWTs." error={errors.issuer}>
              <input {...inputAttrs("issuer", errors, true)} value={v("issuer")} maxlength={500} required />
            </Field>
            <Field name="audience" label="Audience (aud)" error={errors.audience}>
              <input {...inputAttrs("audience", errors)} value={v("audience")} maxlength={500} required />
            </Field>
            <Field name="jwks_url" label="JWKS URL" hint="Or a shared secret below." error={errors.jwks_url}>
              <input {...inputAttrs("jwks_url", errors, true)} value={v("jwks_url")} type="url" />
            </Field>
            <Field
              name="hs256_secret"
              label="Shared HS256 secret"
              hint="At least 32 characters; stored encrypted, never shown again."
              error={errors.hs256_secret}
            >
              <input {...inputAttrs("hs256_secret", errors, true)} type="password" autocomplete="off" />
            </Field>
            <Field name="user_day_cost" label="Per user: daily cost budget (USD)">
              <input
                {...inputAttrs("user_day_cost")}
                type="number"
                min={0}
                step="any"
                value={v("user_day_cost")}
              />
            </Field>
            <Field name="user_rpm" label="Per user: requests per minute">
              <input {...inputAttrs("user_rpm")} type="number" min={1} value={v("user_rpm")} />
            </Field>
            <Field name="user_tpm" label="Per user: tokens per minute">
              <input {...inputAttrs("user_tpm")} type="number" min={1} value={v("user_tpm")} />
            </Field>
          </div>
          <label class="check">
            <input type="checkbox" name="allow_direct" value="true" checked={v("allow_direct") === "true"} />{" "}
            Accept the JWT itself as the API key
          </label>
          <div class="row top-gap">
            <button type="submit" class="primary">
              Trust this provider
            </button>
          </div>
        </form>
      </div>

      <div class="card top-gap" data-testid="end-users">
        <h2>End users</h2>
        <Table
          head={
            <>
              <th>Subject</th>
              <th>State</th>
              <th class="num">Requests</th>
              <th class="num">Cost</th>
              <th>Last used</th>
              <th />
            </>
          }
        >
          {users.map((u) => (
            <tr>
              <td class="mono wrap-any">{u.subject}</td>
              <td>
                <Badge status={u.isActive ? "active" : "revoked"} />
              </td>
              <td class="num">{fmtInt(u.requestCount)}</td>
              <td class="num">{fmtUsd(u.costUsedUsd)}</td>
              <td>
                <Time ms={u.lastUsedAt} relative />
              </td>
              <td>
                <form
                  method="post"
                  action={`/admin/projects/${p.id}/issuing/users/${u.id}/active`}
                  class="inline"
                >
                  <CsrfField token={csrf} />
                  <input type="hidden" name="active" value={u.isActive ? "false" : "true"} />
                  <button type="submit" class={u.isActive ? "small danger" : "small"}>
                    {u.isActive ? "Revoke" : "Restore"}
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </Table>
        {users.length === 0 ? <p class="muted">No end user has signed in yet.</p> : null}
      </div>
    </Layout>
  );
};
