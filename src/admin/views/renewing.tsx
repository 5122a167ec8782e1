import type { FC } from "hono/jsx";
import { Field, inputAttrs } from "../../../admin-ui/layout";
import { fmtInt, fmtUsd } from "../../lib/format";
import type { Token } from "../../tokens/response";
import { Table } from "./common";

type Values = Record<string, string>;
type Errors = Record<string, string>;

const PERIOD_ROWS = ["hour", "day", "week", "month"] as const;
const ADJECTIVE = { hour: "Hourly", day: "Daily", week: "Weekly", month: "Monthly" } as const;

/** Budgets that renew every hour/day/week/month, the time zone of their calendar, one token window. */
export const RenewingFields: FC<{ values: Values; errors: Errors; prefix?: string; canMint?: boolean }> = ({
  values,
  errors,
  prefix = "",
  canMint,
}) => {
  const n = (k: string) => `${prefix}${k}`;
  const v = (k: string) => values[n(k)] ?? "";
  return (
    <>
      {errors[n("period_budgets")] ? (
        <div class="field err" role="alert">{`Budgets per period: ${errors[n("period_budgets")]}`}</div>
      ) : null}
      {PERIOD_ROWS.map((p) => (
        <div class="form-grid">
          <Field name={n(`pb_${p}_cost`)} label={`${ADJECTIVE[p]} cost budget (USD)`}>
            <input
              {...inputAttrs(n(`pb_${p}_cost`))}
              type="number"
              min={0}
              step="any"
              value={v(`pb_${p}_cost`)}
            />
          </Field>
          <Field name={n(`pb_${p}_requests`)} label={`${ADJECTIVE[p]} requests`}>
            <input
              {...inputAttrs(n(`pb_${p}_requests`))}
              type="number"
              min={1}
              value={v(`pb_${p}_requests`)}
            />
          </Field>
          <Field name={n(`pb_${p}_tokens`)} label={`${ADJECTIVE[p]} tokens`}>
            <input {...inputAttrs(n(`pb_${p}_tokens`))} type="number" min={1} value={v(`pb_${p}_tokens`)} />
          </Field>
        </div>
      ))}
      <div class="form-grid">
        <Field
          name={n("budget_time_zone")}
          label="Time zone of the periods"
          hint="IANA name, e.g. Europe/Berlin; empty = UTC. Days start at local midnight."
          error={errors[n("budget_time_zone")]}
        >
          <input
            {...inputAttrs(n("budget_time_zone"), errors, true)}
            value={v("budget_time_zone")}
            maxlength={100}
          />
        </Field>
        <Field
          name={n("tpm_tokens")}
          label="Token window: tokens"
          hint="e.g. 40000 tokens per 60 s (a sliding window)."
          error={errors[n("token_rate_limit")]}
        >
          <input
            {...inputAttrs(n("tpm_tokens"), errors, true)}
            type="number"
            min={1}
            value={v("tpm_tokens")}
          />
        </Field>
        <Field name={n("tpm_window")} label="Token window: per seconds" hint="At most 3600.">
          <input {...inputAttrs(n("tpm_window"))} type="number" min={1} max={3600} value={v("tpm_window")} />
        </Field>
      </div>
      {canMint ? (
        <Field name={n("can_mint")} label="Child tokens" hint="It may mint children out of its own budgets.">
          <label class="check">
            <input type="checkbox" name={n("can_mint")} value="true" checked={v("can_mint") === "true"} /> May
            mint child tokens
          </label>
        </Field>
      ) : null}
    </>
  );
};

/** Lines for the limits card: budgets per period, token windows, minting. */
export function renewingText(t: Token): [string, string][] {
  const out: [string, string][] = [];
  for (const b of t.period_budgets ?? []) {
    const parts = [
      b.max_cost_usd != null ? fmtUsd(b.max_cost_usd) : null,
      b.max_requests != null ? `${fmtInt(b.max_requests)} requests` : null,
      b.max_tokens != null ? `${fmtInt(b.max_tokens)} tokens` : null,
    ].filter(Boolean);
    out.push([`${ADJECTIVE[b.period as keyof typeof ADJECTIVE] ?? b.period} budget`, parts.join(", ")]);
  }
  if (t.period_budgets?.length) out.push(["Periods in", t.budget_time_zone ?? "UTC"]);
  for (const w of t.token_rate_limit ?? [])
    out.push(["Token window", `${fmtInt(w.tokens)} per ${fmtInt(w.window_seconds)} s`]);
  if (t.can_mint) out.push(["Child tokens", "may mint"]);
  if (t.parent_id) out.push(["Carved from", t.parent_id]);
  if (t.issued_by) out.push(["Issued by", t.issued_by]);
  return out;
}

/** The current periods, token windows and child escrow of a token's live allowance. */
export const RenewingAllowance: FC<{ token: Token }> = ({ token: t }) => {
  const a = t.allowance;
  if (!a || (a.periods.length === 0 && a.token_windows.length === 0 && a.escrow.children === 0)) return null;
  return (
    <div class="card top-gap" data-testid="renewing">
      {a.periods.length ? (
        <>
          <h2>Budgets per period</h2>
          <Table
            head={
              <>
                <th>Period</th>
                <th class="num">Requests</th>
                <th class="num">Tokens used</th>
                <th class="num">Cost used</th>
                <th class="num">Cost left</th>
                <th>Renews</th>
              </>
            }
          >
            {a.periods.map((p) => (
              <tr>
                <td>{ADJECTIVE[p.period]}</td>
                <td class="num">{fmtInt(p.requests.used)}</td>
                <td class="num">{fmtInt(p.tokens.used + p.tokens.reserved)}</td>
                <td class="num">{fmtUsd(p.cost_usd.used + p.cost_usd.reserved)}</td>
                <td class="num">{p.cost_usd.remaining === null ? "—" : fmtUsd(p.cost_usd.remaining)}</td>
                <td>{p.renews_at.replace("T", " ").replace(/\.\d+Z$/, "Z")}</td>
              </tr>
            ))}
          </Table>
        </>
      ) : null}
      {a.token_windows.length ? (
        <>
          <h3>Token windows</h3>
          <Table
            head={
              <>
                <th>Window</th>
                <th class="num">Used</th>
                <th class="num">Remaining</th>
              </>
            }
          >
            {a.token_windows.map((w) => (
              <tr>
                <td>{`${fmtInt(w.tokens)} tokens per ${fmtInt(w.window_seconds)} s`}</td>
                <td class="num">{fmtInt(w.used)}</td>
                <td class="num">{fmtInt(w.remaining)}</td>
              </tr>
            ))}
          </Table>
        </>
      ) : null}
      {a.escrow.children ? (
        <p>
          {fmtInt(a.escrow.children)} child token{a.escrow.children === 1 ? "" : "s"} hold{" "}
          {fmtUsd(a.escrow.cost_usd)}
          {a.escrow.requests ? `, ${fmtInt(a.escrow.requests)} requests` : ""}
          {a.escrow.tokens ? `, ${fmtInt(a.escrow.tokens)} tokens` : ""} of this token's budgets; what they do
          not use returns when they end.
        </p>
      ) : null}
    </div>
  );
};
