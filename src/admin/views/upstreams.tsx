import type { FC } from "hono/jsx";
import {
  Alert,
  Badge,
  CsrfField,
  Empty,
  Field,
  type Flash,
  inputAttrs,
  Layout,
} from "../../../admin-ui/layout";
import type { UpstreamHealth } from "../../upstreams/health-schema";
import type { Alias, Upstream } from "../../upstreams/schema";
import { Table } from "./common";

export type UpstreamRow = { upstream: Upstream; health: UpstreamHealth | null };

type Props = {
  csrf: string;
  flash?: Flash;
  project: { id: string; name: string };
  upstreams: UpstreamRow[];
  aliases: Alias[];
  presets: { name: string; label: string; baseUrl: string }[];
  providers: readonly string[];
  /** The add-upstream or alias form as typed, with its error, after a refused save. */
  values?: Record<string, string>;
  error?: { form: "upstream" | "alias" | "key"; text: string };
};

/** A project's routes: its upstreams (keys, health), and its model aliases, with the forms that change them. */
export const RoutesPage: FC<Props> = ({
  csrf,
  flash,
  project,
  upstreams,
  aliases,
  presets,
  providers,
  values = {},
  error,
}) => (
  <Layout title={`Routes of ${project.name}`} nav="projects" csrf={csrf} flash={flash}>
    <div class="spread">
      <h1 class="wrap-any">Routes of {project.name}</h1>
      <a class="btn" href={`/admin/projects/${project.id}`}>
        Back to the project
      </a>
    </div>
    <div class="card">
      <h2>Upstreams</h2>
      <p class="hint">
        A request names a model: an alias below, else the first upstream (top first) whose models match; the
        others are its fallbacks. Health is the last hour, from the request log.
      </p>
      {upstreams.length === 0 ? (
        <Empty>No upstream: the project's tokens have nowhere to send requests. Add one below.</Empty>
      ) : (
        <Table
          head={
            <>
              <th>Name</th>
              <th class="hide-sm">Upstream</th>
              <th>Keys</th>
              <th class="num">Requests</th>
              <th class="num">Errors</th>
              <th class="num hide-sm">Failed attempts</th>
              <th class="num hide-sm">429s</th>
              <th class="num hide-sm">Avg TTFB</th>
            </>
          }
        >
          {upstreams.map(({ upstream: u, health: h }) => (
            <tr>
              <td class="wrap-any">
                <strong>{u.name}</strong> {u.is_active ? null : <Badge status="inactive" />}
                {h?.breaker.open ? <Badge status="error" /> : null}
                <span class="sub">{u.models ? u.models.join(", ") : "any model"}</span>
              </td>
              <td class="hide-sm wrap-any">
                {u.provider}
                <span class="sub mono">{u.base_url}</span>
              </td>
              <td>
                {u.keys.length === 0 ? <span class="sub">no key</span> : null}
                {u.keys.map((k) => (
                  <div class="key-row">
                    <span class="mono">{k.hint}</span> <span class="sub">weight {k.weight}</span>{" "}
                    {k.failing ? (
                      <Badge status="error" />
                    ) : (
                      <Badge status={k.is_active ? "active" : "inactive"} />
                    )}
                    {k.failing ? <span class="sub">{k.failing_reason}</span> : null}
                    <form
                      method="post"
                      action={`/admin/upstreams/${u.id}/keys/${k.id}/rotate`}
                      class="inline"
                    >
                      <CsrfField token={csrf} />
                      <input
                        name="api_key"
                        type="password"
                        autocomplete="off"
                        required
                        placeholder="new value"
                        aria-label={`New value for key ${k.hint}`}
                      />
                      <button type="submit">Rotate</button>
                    </form>
                    {k.failing || !k.is_active ? (
                      <form
                        method="post"
                        action={`/admin/upstreams/${u.id}/keys/${k.id}/enable`}
                        class="inline"
                      >
                        <CsrfField token={csrf} />
                        <button type="submit">Use again</button>
                      </form>
                    ) : null}
                  </div>
                ))}
                <form method="post" action={`/admin/upstreams/${u.id}/keys`} class="inline">
                  <CsrfField token={csrf} />
                  <input
                    name="api_key"
                    type="password"
                    autocomplete="off"
                    required
                    placeholder="another key"
                    aria-label={`Another key for ${u.name}`}
                  />
                  <input name="weight" type="number" min={1} max={1000} value="1" aria-label="Weight" />
                  <button type="submit">Add key</button>
                </form>
              </td>
              <td class="num">{h?.requests ?? "–"}</td>
              <td class="num">{h?.errors ?? "–"}</td>
              <td class="num hide-sm">{h?.failed_attempts ?? "–"}</td>
              <td class="num hide-sm">{h?.rate_limited ?? "–"}</td>
              <td class="num hide-sm">{h?.avg_ttfb_ms == null ? "–" : `${h.avg_ttfb_ms} ms`}</td>
            </tr>
          ))}
        </Table>
      )}
      {error?.form === "key" ? <Alert kind="error">{error.text}</Alert> : null}
    </div>
    <div class="grid">
      <div class="card">
        <h2>Add an upstream</h2>
        {error?.form === "upstream" ? <Alert kind="error">{error.text}</Alert> : null}
        <form method="post" action={`/admin/projects/${project.id}/upstreams`}>
          <CsrfField token={csrf} />
          <Field name="name" label="Name" hint="Letters, digits, . _ -; aliases name it.">
            <input {...inputAttrs("name", {}, true)} value={values.name ?? ""} required maxlength={64} />
          </Field>
          <Field
            name="preset"
            label="Preset"
            hint="An OpenAI-compatible service: sets provider and base URL."
          >
            <select {...inputAttrs("preset", {}, true)}>
              <option value="">none</option>
              {presets.map((p) => (
                <option value={p.name} selected={values.preset === p.name}>
                  {p.label} — {p.baseUrl}
                </option>
              ))}
            </select>
          </Field>
          <Field name="provider" label="Provider">
            <select {...inputAttrs("provider")}>
              {providers.map((p) => (
                <option value={p} selected={(values.provider ?? "openai-compatible") === p}>
                  {p}
                </option>
              ))}
            </select>
          </Field>
          <Field name="base_url" label="Base URL" hint="Leave empty with a preset.">
            <input {...inputAttrs("base_url", {}, true)} type="url" value={values.base_url ?? ""} />
          </Field>
          <Field
            name="api_key"
            label="API key"
            hint="Stored encrypted, shown only as a hint. Optional for a local server."
          >
            <input {...inputAttrs("api_key", {}, true)} type="password" autocomplete="off" />
          </Field>
          <Field name="models" label="Models it serves" hint="Comma-separated ids or prefix*; empty = any.">
            <input {...inputAttrs("models", {}, true)} value={values.models ?? ""} />
          </Field>
          <Field
            name="first_byte_timeout_ms"
            label="First-byte timeout (ms)"
            hint="Give an attempt up after this long and fall back; empty = the gateway's default."
          >
            <input
              {...inputAttrs("first_byte_timeout_ms", {}, true)}
              type="number"
              min={100}
              value={values.first_byte_timeout_ms ?? ""}
            />
          </Field>
          <button type="submit" class="primary">
            Add upstream
          </button>
        </form>
      </div>
      <div class="card">
        <h2>Model aliases</h2>
        {aliases.length === 0 ? (
          <p class="hint">No alias: clients name models the upstreams serve.</p>
        ) : (
          <Table
            head={
              <>
                <th>Alias</th>
                <th>Targets</th>
                <th />
              </>
            }
          >
            {aliases.map((a) => (
              <tr>
                <td class="wrap-any">
                  <strong>{a.name}</strong>
                  <span class="sub">{a.strategy}</span>
                </td>
                <td class="mono wrap-any">
                  {a.targets.map((t) => (
                    <div>
                      {t.upstream}:{t.model}
                      {t.weight !== undefined ? ` ×${t.weight}` : ""}
                    </div>
                  ))}
                </td>
                <td>
                  <form method="post" action={`/admin/aliases/${a.id}/delete`} class="inline">
                    <CsrfField token={csrf} />
                    <button type="submit" class="danger">
                      Delete
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </Table>
        )}
        <h2 class="top-gap">Define an alias</h2>
        {error?.form === "alias" ? <Alert kind="error">{error.text}</Alert> : null}
        <form method="post" action={`/admin/projects/${project.id}/aliases`}>
          <CsrfField token={csrf} />
          <Field
            name="alias_name"
            label="Name clients send"
            hint="An existing alias of that name is replaced."
          >
            <input
              {...inputAttrs("alias_name", {}, true)}
              value={values.alias_name ?? ""}
              required
              maxlength={200}
            />
          </Field>
          <Field name="strategy" label="Strategy">
            <select {...inputAttrs("strategy")}>
              <option value="ordered" selected={values.strategy !== "weighted"}>
                ordered: the first target, then the next on failure
              </option>
              <option value="weighted" selected={values.strategy === "weighted"}>
                weighted: the first picked by weight, the others as fallbacks
              </option>
            </select>
          </Field>
          <Field
            name="targets"
            label="Targets"
            hint="One per line: upstream:model, or upstream:model=weight."
          >
            <textarea {...inputAttrs("targets", {}, true)} required>
              {values.targets ?? ""}
            </textarea>
          </Field>
          <button type="submit" class="primary">
            Save alias
          </button>
        </form>
      </div>
    </div>
  </Layout>
);
