import type { FC } from "hono/jsx";
import { Badge, CsrfField, Field, inputAttrs, Time } from "../../../admin-ui/layout";
import { fmtInt, fmtUsd } from "../../lib/format";
import type { EndUser, IdentityProvider } from "../../storage/schema";
import { Table } from "./common";

/** The identity-providers card of a project's issuing page: the providers it trusts, and the form for one more. */
export const IdentityProvidersCard: FC<{
  csrf: string;
  projectId: string;
  providers: IdentityProvider[];
  values: Record<string, string>;
  errors: Record<string, string>;
}> = ({ csrf, projectId, providers, values, errors }) => {
  const v = (k: string) => values[k] ?? "";
  return (
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
                action={`/admin/projects/${projectId}/issuing/providers/${x.id}/active`}
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
      <form method="post" action={`/admin/projects/${projectId}/issuing/providers`} class="top-gap">
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
  );
};

/** The end users who signed in through the project's identity providers, each revocable. */
export const EndUsersCard: FC<{ csrf: string; projectId: string; users: EndUser[] }> = ({
  csrf,
  projectId,
  users,
}) => (
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
              action={`/admin/projects/${projectId}/issuing/users/${u.id}/active`}
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
);
