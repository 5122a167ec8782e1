import type { Child, FC, PropsWithChildren } from "hono/jsx";
import {
  Alert,
  CsrfField,
  Document,
  Field,
  type Flash,
  inputAttrs,
  Layout,
  type Nav,
} from "../../../admin-ui/layout";

export const LoginPage: FC<{ next: string; error?: string; disabled?: string; flash?: Flash }> = ({
  next,
  error,
  disabled,
  flash,
}) => (
  <Document title="Log in">
    <main class="login">
      <div class="card">
        <h1>llm-proxy admin</h1>
        {flash ? <Alert kind={flash.kind}>{flash.text}</Alert> : null}
        {disabled ? (
          <Alert kind="error">{disabled}</Alert>
        ) : (
          <form method="post" action="/admin/login">
            {error ? <Alert kind="error">{error}</Alert> : null}
            <input type="hidden" name="next" value={next} />
            <div class="field">
              <label for="f-password">Admin password</label>
              <input
                id="f-password"
                name="password"
                type="password"
                autocomplete="current-password"
                required
                autofocus
              />
            </div>
            <button type="submit" class="primary">
              Log in
            </button>
          </form>
        )}
      </div>
    </main>
  </Document>
);

/** A plain message page: errors, refusals. */
export const MessagePage: FC<{ title: string; message: string; csrf?: string; nav?: Nav; back?: string }> = ({
  title,
  message,
  csrf,
  nav,
  back,
}) => (
  <Layout title={title} nav={nav ?? "none"} csrf={csrf}>
    <h1>{title}</h1>
    <Alert kind="error">{message}</Alert>
    <p>
      <a href={back ?? "/admin"}>{back ? "Back" : "Back to the dashboard"}</a>
    </p>
  </Layout>
);

/** The confirmation step of a destructive action: says what will stop working, posts on confirm. */
export const ConfirmPage: FC<
  PropsWithChildren<{
    title: string;
    action: string;
    confirmLabel: string;
    cancelHref: string;
    csrf: string;
    nav: Nav;
    /** Form fields of the confirmation itself (a choice that goes with it). */
    fields?: Child;
  }>
> = ({ title, action, confirmLabel, cancelHref, csrf, nav, fields, children }) => (
  <Layout title={title} nav={nav} csrf={csrf}>
    <h1>{title}</h1>
    <div class="card">
      <div class="alert warn" role="status">
        {children}
      </div>
      <form method="post" action={action} class="row">
        <CsrfField token={csrf} />
        {fields ?? null}
        <button type="submit" class="danger">
          {confirmLabel}
        </button>
        <a class="btn" href={cancelHref}>
          Cancel
        </a>
      </form>
    </div>
  </Layout>
);

/** A list table in its scrolling wrapper: `head` holds the header cells, the children the rows. */
export const Table: FC<PropsWithChildren<{ head: Child }>> = ({ head, children }) => (
  <div class="table-wrap">
    <table>
      <thead>
        <tr>{head}</tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  </div>
);

/** The "Project" select of a list's filter form. */
export const ProjectFilter: FC<{ projects: { id: string; name: string }[]; selected: string }> = ({
  projects,
  selected,
}) => (
  <Field name="project_id" label="Project">
    <select {...inputAttrs("project_id")}>
      <option value="">All projects</option>
      {projects.map((p) => (
        <option value={p.id} selected={p.id === selected}>
          {p.name}
        </option>
      ))}
    </select>
  </Field>
);
