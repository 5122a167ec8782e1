import type { FC } from "hono/jsx";
import { Badge, CsrfField, Field, inputAttrs, Time } from "../../../admin-ui/layout";
import type { IssuingKey } from "../../issuing/keys/schema";
import { fmtInt, fmtUsd } from "../../lib/format";
import { Table } from "./common";

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

/** The issuing-keys card of a project's issuing page: its keys, revoke buttons, and the form for a new one. */
export const IssuingKeysCard: FC<{
  csrf: string;
  projectId: string;
  keys: IssuingKey[];
  values: Record<string, string>;
  errors: Record<string, string>;
}> = ({ csrf, projectId, keys, values, errors }) => {
  const v = (k: string) => values[k] ?? "";
  return (
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
                  action={`/admin/projects/${projectId}/issuing/keys/${k.id}/revoke`}
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
      <form method="post" action={`/admin/projects/${projectId}/issuing/keys`} class="top-gap">
        <CsrfField token={csrf} />
        <h3>New issuing key</h3>
        <div class="form-grid">
          <Field name="key_name" label="Name" hint="Who holds it, e.g. “web backend”." error={errors.name}>
            <input {...inputAttrs("key_name", errors, true)} value={v("key_name")} maxlength={200} required />
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
  );
};
