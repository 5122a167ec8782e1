import type { FC } from "hono/jsx";
import { Field, inputAttrs } from "../../../admin-ui/layout";
import type { Capability, ObjectScope } from "../../ownership/capabilities";

type Values = Record<string, string>;
type Errors = Record<string, string>;

/** The account-wide capabilities, as the form offers them (the compiler checks the list is complete). */
const CAPABILITY_CHOICES: readonly [Capability, string][] = [
  ["files", "Files and uploads (/v1/files, /v1/uploads)"],
  ["batches", "Batches (/v1/batches)"],
  ["vector_stores", "Vector stores (/v1/vector_stores)"],
  ["stored_completions", "Stored chat completions (read back, list, update, delete)"],
  ["conversations", "Conversations (/v1/conversations)"],
  ["fine_tuning", "Fine-tuning (/v1/fine_tuning)"],
  ["model_deletion", "Deleting fine-tuned models of the project's own jobs"],
];
const everyCapability: Exclude<Capability, (typeof CAPABILITY_CHOICES)[number][0]> extends never
  ? true
  : never = true;
void everyCapability;

const SCOPES: readonly [ObjectScope, string][] = [
  ["token", "only the token that created it"],
  ["project", "every token of this project"],
];

/**
 * The project form's section on upstream objects (files, batches, vector stores, …): which account-wide
 * endpoints its tokens may use and which of its tokens reach an object one of them created — the
 * ownership rules (src/ownership), apart from the form's provider, caps, cache and token defaults.
 */
export const CapabilityFields: FC<{ values: Values; errors: Errors }> = ({ values, errors }) => (
  <fieldset>
    <legend>Account-wide endpoints (off = inference only)</legend>
    <p class="muted small">
      Objects in the upstream account that any of its keys could list, read or delete. Enabled, a token still
      reaches only the objects created through this gateway by its own project.
    </p>
    {CAPABILITY_CHOICES.map(([name, label]) => (
      <label class="check" for={`f-cap_${name}`}>
        <input
          type="checkbox"
          id={`f-cap_${name}`}
          name={`cap_${name}`}
          checked={values[`cap_${name}`] === "on"}
        />
        <span>
          {label} <code>{name}</code>
        </span>
      </label>
    ))}
    {errors.capabilities ? (
      <div class="field err" role="alert">{`Capabilities: ${errors.capabilities}`}</div>
    ) : null}
    <Field
      name="object_scope"
      label="A file, batch, response … a token created is reachable by"
      hint="Never by another project's tokens."
      error={errors.object_scope}
    >
      <select {...inputAttrs("object_scope", errors, true)}>
        {SCOPES.map(([scope, label]) => (
          <option value={scope} selected={(values.object_scope ?? "token") === scope}>
            {label}
          </option>
        ))}
      </select>
    </Field>
  </fieldset>
);
