import type { FC } from "hono/jsx";
import { Field, inputAttrs } from "../../../admin-ui/layout";

type Values = Record<string, string>;
type Errors = Record<string, string>;

/**
 * The limit fields of a token (max requests, budgets, up to three rate windows, allowed models), shared
 * by the token forms and the project's defaults for new tokens. `prefix` namespaces the field names,
 * `label` the visible labels, so two sets can live in one form.
 */
export const LimitFields: FC<{
  values: Values;
  errors: Errors;
  prefix?: string;
  label?: string;
  modelsHint?: string;
}> = ({ values, errors, prefix = "", label = "", modelsHint }) => {
  const n = (k: string) => `${prefix}${k}`;
  // "Max requests" alone, "Default max requests" after a prefix.
  const l = (text: string) => (label ? `${label}${text[0]!.toLowerCase()}${text.slice(1)}` : text);
  const v = (k: string) => values[n(k)] ?? "";
  return (
    <>
      <div class="form-grid">
        <Field name={n("max_requests")} label={l(`Max requests`)} error={errors[n("max_requests")]}>
          <input {...inputAttrs(n("max_requests"), errors)} type="number" min={1} value={v("max_requests")} />
        </Field>
        <Field
          name={n("max_tokens")}
          label={l(`Token budget`)}
          hint="Prompt + completion tokens."
          error={errors[n("max_tokens")]}
        >
          <input
            {...inputAttrs(n("max_tokens"), errors, true)}
            type="number"
            min={1}
            value={v("max_tokens")}
          />
        </Field>
        <Field name={n("max_cost_usd")} label={l(`Cost budget (USD)`)} error={errors[n("max_cost_usd")]}>
          <input
            {...inputAttrs(n("max_cost_usd"), errors)}
            type="number"
            min={0}
            step="any"
            value={v("max_cost_usd")}
          />
        </Field>
      </div>
      {errors[n("rate_limit")] ? (
        <div class="field err" role="alert">{`Rate windows: ${errors[n("rate_limit")]}`}</div>
      ) : null}
      {[1, 2, 3].map((i) => (
        <div class="form-grid">
          <Field name={n(`rate_requests_${i}`)} label={l(`Rate window ${i}: requests`)}>
            <input
              {...inputAttrs(n(`rate_requests_${i}`))}
              type="number"
              min={1}
              value={v(`rate_requests_${i}`)}
            />
          </Field>
          <Field
            name={n(`rate_window_${i}`)}
            label={l(`Rate window ${i}: per seconds`)}
            hint={i === 1 ? "60 = per minute, 3600 = per hour." : undefined}
          >
            <input
              {...inputAttrs(n(`rate_window_${i}`), {}, i === 1)}
              type="number"
              min={1}
              value={v(`rate_window_${i}`)}
            />
          </Field>
        </div>
      ))}
      <Field
        name={n("allowed_models")}
        label={l(`Allowed models`)}
        hint={modelsHint ?? "One per line or comma-separated; empty = all the project allows."}
        error={errors[n("allowed_models")]}
      >
        <textarea {...inputAttrs(n("allowed_models"), errors, true)}>{v("allowed_models")}</textarea>
      </Field>
    </>
  );
};
