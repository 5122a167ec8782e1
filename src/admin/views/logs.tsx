import type { FC } from "hono/jsx";
import { Badge, Empty, Field, inputAttrs, Layout, Time } from "../../../admin-ui/layout";
import { fmtInt, fmtUsd } from "../../lib/format";
import type { AuditEntry } from "../../storage/schema";
import type { UsageEvent } from "../../usage/event";
import { ProjectFilter, Table } from "./common";

type ProjectName = { id: string; name: string };

const outcome = (e: UsageEvent) => (e.status >= 400 || e.error ? "error" : "ok");

/** The request log's rows; `projects` and `tokens` (id → name or hint) add the project / token column. */
export const EventTable: FC<{
  events: UsageEvent[];
  empty: string;
  projects?: Map<string, string>;
  tokens?: Map<string, string>;
}> = ({ events, empty, projects, tokens }) =>
  events.length === 0 ? (
    <Empty>{empty}</Empty>
  ) : (
    <Table
      head={
        <>
          <th>Time</th>
          <th>Status</th>
          <th>Request</th>
          <th class="hide-sm">Model</th>
          {projects ? <th class="hide-sm">Project / token</th> : null}
          <th class="num">Tokens</th>
          <th class="num hide-sm">Cost</th>
          <th class="num hide-sm">Duration</th>
        </>
      }
    >
      {events.map((e) => (
        <tr data-request-id={e.id}>
          <td>
            <Time ms={e.timestamp} />
          </td>
          <td>
            <Badge status={outcome(e)} /> <span class="mono">{e.status}</span>
            {e.error ? <span class="sub mono">{e.error}</span> : null}
            {e.aborted ? <span class="sub">client aborted</span> : null}
          </td>
          <td class="wrap-any mono">
            {e.method} {e.path}
            {e.stream ? <span class="sub">stream</span> : null}
            <span class="sub">
              <a
                href={`/admin/events?${new URLSearchParams({ request_id: e.id }).toString()}`}
                title="x-request-id"
              >
                {e.id}
              </a>
            </span>
          </td>
          <td class="hide-sm wrap-any">{e.model ?? "—"}</td>
          {projects ? (
            <td class="hide-sm wrap-any">
              {e.project_id ? (
                <a href={`/admin/projects/${e.project_id}`}>{projects.get(e.project_id) ?? e.project_id}</a>
              ) : (
                "—"
              )}
              {e.token_id ? (
                <span class="sub">
                  <a href={`/admin/tokens/${e.token_id}`}>{tokens?.get(e.token_id) ?? "deleted token"}</a>
                </span>
              ) : null}
            </td>
          ) : null}
          <td class="num">
            {e.usage ? fmtInt(e.usage.total_tokens) : "—"}
            {e.usage_source === "estimated" ? <span class="sub">estimated</span> : null}
          </td>
          <td class="num hide-sm">{fmtUsd(e.cost_usd)}</td>
          <td class="num hide-sm">{fmtInt(e.duration_ms)} ms</td>
        </tr>
      ))}
    </Table>
  );

export const EventsPage: FC<{
  csrf: string;
  events: UsageEvent[];
  projects: ProjectName[];
  tokens: Map<string, string>;
  filters: { request_id: string; project_id: string; token: string; outcome: string; model: string };
  /** The token search matched no token at all. */
  noTokenMatch?: boolean;
}> = ({ csrf, events, projects, tokens, filters, noTokenMatch }) => (
  <Layout title="Request log" nav="events" csrf={csrf}>
    <h1>Request log</h1>
    <form method="get" action="/admin/events" class="filters card">
      <div class="field grow">
        <label for="f-request_id">Request id</label>
        <input
          {...inputAttrs("request_id")}
          type="search"
          value={filters.request_id}
          placeholder="x-request-id of a response"
          class="mono"
        />
      </div>
      <Field name="token" label="Token">
        <input
          {...inputAttrs("token")}
          type="search"
          value={filters.token}
          placeholder="name, wt_… hint or id"
        />
      </Field>
      <ProjectFilter projects={projects} selected={filters.project_id} />
      <Field name="outcome" label="Outcome">
        <select {...inputAttrs("outcome")}>
          <option value="">Any</option>
          <option value="ok" selected={filters.outcome === "ok"}>
            ok
          </option>
          <option value="error" selected={filters.outcome === "error"}>
            error
          </option>
        </select>
      </Field>
      <Field name="model" label="Model">
        <input {...inputAttrs("model")} value={filters.model} placeholder="gpt-4o-mini" />
      </Field>
      <button type="submit">Filter</button>
    </form>
    <div class="card">
      <EventTable
        events={events}
        projects={new Map(projects.map((p) => [p.id, p.name]))}
        tokens={tokens}
        empty={
          noTokenMatch
            ? "No token has this id, or a name or hint containing it."
            : filters.request_id
              ? "No request with this id in the log. It appears a few seconds after the response; ids are found at once for 5 days, older ones only among the newest events."
              : "No requests in the log for these filters. Events appear a few seconds after a proxied request."
        }
      />
      <p class="muted small">
        The newest matching events of the last 7 days (up to 100), read from the R2 request log. The request
        id is the <span class="mono">x-request-id</span> header of the response the client got.
      </p>
    </div>
  </Layout>
);

export const AuditPage: FC<{
  csrf: string;
  entries: AuditEntry[];
  filters: { action: string; actor: string; target_id: string };
  nextCursor?: string;
}> = ({ csrf, entries, filters, nextCursor }) => (
  <Layout title="Audit log" nav="audit" csrf={csrf}>
    <h1>Audit log</h1>
    <form method="get" action="/admin/audit" class="filters card">
      <Field name="action" label="Action">
        <input {...inputAttrs("action")} value={filters.action} placeholder="token.revoke" />
      </Field>
      <Field name="actor" label="Actor">
        <select {...inputAttrs("actor")}>
          <option value="">Anyone</option>
          {["admin", "management_token"].map((a) => (
            <option value={a} selected={a === filters.actor}>
              {a}
            </option>
          ))}
        </select>
      </Field>
      <Field name="target_id" label="Target id">
        <input {...inputAttrs("target_id")} value={filters.target_id} />
      </Field>
      <button type="submit">Filter</button>
    </form>
    <div class="card">
      {entries.length === 0 ? (
        <Empty>No management actions recorded for these filters.</Empty>
      ) : (
        <Table
          head={
            <>
              <th>Time</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Result</th>
              <th class="hide-sm">Target</th>
              <th class="hide-sm">Details</th>
            </>
          }
        >
          {entries.map((a) => (
            <tr>
              <td>
                <Time ms={a.at} />
              </td>
              <td>
                {a.actor}
                {a.ip ? <span class="sub mono">{a.ip}</span> : null}
              </td>
              <td class="mono">{a.action}</td>
              <td>
                <Badge status={a.result === "ok" ? "ok" : "error"} />
                {a.result !== "ok" ? <span class="sub mono">{a.result}</span> : null}
              </td>
              <td class="hide-sm wrap-any mono">
                {a.targetType === "project" && a.targetId ? (
                  <a href={`/admin/projects/${a.targetId}`}>{a.targetId}</a>
                ) : a.targetType === "token" && a.targetId ? (
                  <a href={`/admin/tokens/${a.targetId}`}>{a.targetId}</a>
                ) : (
                  (a.targetId ?? "—")
                )}
              </td>
              <td class="hide-sm wrap-any mono small">{a.details ? JSON.stringify(a.details) : ""}</td>
            </tr>
          ))}
        </Table>
      )}
      {nextCursor ? (
        <div class="pager">
          <a
            class="btn"
            href={`/admin/audit?${new URLSearchParams({ ...filters, cursor: nextCursor }).toString()}`}
          >
            Older →
          </a>
        </div>
      ) : null}
    </div>
    <p class="muted small">{`Showing ${fmtInt(entries.length)} entries, newest first.`}</p>
  </Layout>
);
