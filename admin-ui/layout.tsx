import type { Child, FC, PropsWithChildren } from "hono/jsx";
import { ASSET_VERSION } from "./assets";

export type Nav = "dashboard" | "projects" | "tokens" | "events" | "audit" | "none";

const NAV: [Nav, string, string][] = [
  ["dashboard", "Dashboard", "/admin"],
  ["projects", "Projects", "/admin/projects"],
  ["tokens", "Tokens", "/admin/tokens"],
  ["events", "Request log", "/admin/events"],
  ["audit", "Audit log", "/admin/audit"],
];

type LayoutProps = PropsWithChildren<{ title: string; nav: Nav; csrf?: string; flash?: Flash }>;

export type Flash = { kind: "ok" | "error" | "warn"; text: string };

export const Document: FC<PropsWithChildren<{ title: string }>> = ({ title, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="color-scheme" content="light dark" />
      <meta name="referrer" content="same-origin" />
      <title>{`${title} · llm-proxy admin`}</title>
      <link rel="stylesheet" href={`/admin/assets/admin.css?v=${ASSET_VERSION}`} />
      <script src={`/admin/assets/admin.js?v=${ASSET_VERSION}`} defer></script>
    </head>
    <body>{children}</body>
  </html>
);

export const Layout: FC<LayoutProps> = ({ title, nav, csrf, flash, children }) => (
  <Document title={title}>
    <header class="top">
      <div class="top-inner">
        <a class="brand" href="/admin">
          llm-proxy
        </a>
        <nav class="main" aria-label="Main">
          {NAV.map(([key, label, href]) => (
            <a href={href} aria-current={key === nav ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        {csrf ? (
          <form method="post" action="/admin/logout" class="inline">
            <CsrfField token={csrf} />
            <button type="submit" class="small">
              Log out
            </button>
          </form>
        ) : null}
      </div>
    </header>
    <main>
      {flash ? <Alert kind={flash.kind}>{flash.text}</Alert> : null}
      {children}
    </main>
  </Document>
);

export const CsrfField: FC<{ token: string }> = ({ token }) => (
  <input type="hidden" name="_csrf" value={token} />
);

export const Alert: FC<PropsWithChildren<{ kind: Flash["kind"] }>> = ({ kind, children }) => (
  <div class={`alert ${kind}`} role={kind === "error" ? "alert" : "status"}>
    {children}
  </div>
);

export const Badge: FC<{ status: string }> = ({ status }) => <span class={`badge ${status}`}>{status}</span>;

export const Empty: FC<PropsWithChildren> = ({ children }) => <div class="empty-state">{children}</div>;

/** Form field with its label, hint and error, tied together for screen readers. */
export const Field: FC<{
  name: string;
  label: string;
  hint?: string;
  error?: string;
  children: Child;
}> = ({ name, label, hint, error, children }) => (
  <div class="field">
    <label for={`f-${name}`}>{label}</label>
    {children}
    {hint ? (
      <div class="hint" id={`h-${name}`}>
        {hint}
      </div>
    ) : null}
    {error ? (
      <div class="err" id={`e-${name}`}>
        {error}
      </div>
    ) : null}
  </div>
);

/** Attributes of an input inside a Field. */
export const inputAttrs = (name: string, errors: Record<string, string> = {}, hint?: boolean) => ({
  id: `f-${name}`,
  name,
  "aria-invalid": errors[name] ? "true" : undefined,
  "aria-describedby":
    [hint ? `h-${name}` : "", errors[name] ? `e-${name}` : ""].filter(Boolean).join(" ") || undefined,
});

// Dates are UTC so every operator reads the same time. (Numbers and money: src/lib/format.ts.)

export function fmtDate(ms: number | string | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return "—";
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "in 3 h", "5 min ago". */
export function fmtRelative(ms: number, now = Date.now()): string {
  const diff = ms - now;
  const abs = Math.abs(diff);
  const unit =
    abs < 90_000
      ? `${Math.max(1, Math.round(abs / 1000))} s`
      : abs < 5_400_000
        ? `${Math.round(abs / 60_000)} min`
        : abs < 172_800_000
          ? `${Math.round(abs / 3_600_000)} h`
          : `${Math.round(abs / 86_400_000)} d`;
  return diff >= 0 ? `in ${unit}` : `${unit} ago`;
}

export const Time: FC<{ ms: number | string | null | undefined; relative?: boolean }> = ({
  ms,
  relative,
}) => {
  if (ms === null || ms === undefined) return <span class="muted">—</span>;
  const at = typeof ms === "string" ? Date.parse(ms) : ms;
  return (
    <time datetime={new Date(at).toISOString()} title={fmtDate(at)}>
      {relative ? fmtRelative(at) : fmtDate(at)}
    </time>
  );
};
