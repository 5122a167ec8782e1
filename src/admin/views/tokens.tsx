import type { FC } from "hono/jsx";
import {
  Badge,
  CsrfField,
  Empty,
  Field,
  type Flash,
  inputAttrs,
  Layout,
  Time,
} from "../../../admin-ui/layout";
import { fmtInt, fmtUsd } from "../../lib/format";
import type { Project } from "../../storage/schema";
import type { Token } from "../../tokens/response";
import type { UsageEvent } from "../../usage/event";
import type { Bucket, Range } from "../ranges";
import { LiveAllowance } from "./allowance";
import { ProjectFilter, Table } from "./common";
import { RangeTabs, UsageCharts } from "./dashboard";
import { EventTable } from "./logs";
import { RenewingAllowance, renewingText } from "./renewing";

type ProjectName = { id: string; name: string; isActive: boolean };

const STATUSES = ["active", "expired", "revoked", "inactive"];

export const TokenList: FC<{
  csrf: string;
  flash?: Flash;
  tokens: Token[];
  projects: ProjectName[];
  filters: { project_id: string; status: string; search: string };
  nextCursor?: string;
}> = ({ csrf, flash, tokens, projects, filters, nextCursor }) => {
  const names = new Map(projects.map((p) => [p.id, p.name]));
  const filtered = projects.find((p) => p.id === filters.project_id);
  const next = new URLSearchParams({ ...filters, cursor: nextCursor ?? "" });
  return (
    <Layout title="Tokens" nav="tokens" csrf={csrf} flash={flash}>
      <div class="spread">
        <h1>Tokens</h1>
        <div class="row">
          {filtered ? (
            <a class="btn" href={`/admin/projects/${filtered.id}/revoke-tokens`}>
              Revoke all of {filtered.name}
            </a>
          ) : null}
          <a class="btn primary" href={`/admin/tokens/new${filtered ? `?project_id=${filtered.id}` : ""}`}>
            New token
          </a>
        </div>
      </div>
      <form method="get" action="/admin/tokens" class="filters card">
        <ProjectFilter projects={projects} selected={filters.project_id} />
        <Field name="status" label="Status">
          <select {...inputAttrs("status")}>
            <option value="">Any status</option>
            {STATUSES.map((s) => (
              <option value={s} selected={s === filters.status}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <div class="field grow">
          <label for="f-search">Search name or hint</label>
          <input
            id="f-search"
            name="search"
            type="search"
            value={filters.search}
            placeholder="notebook, wt_Ab…"
          />
        </div>
        <button type="submit">Filter</button>
      </form>
      <div class="card">
        {tokens.length === 0 ? (
          <Empty>No tokens match these filters.</Empty>
        ) : (
          <Table
            head={
              <>
                <th>Token</th>
                <th>Status</th>
                <th class="hide-sm">Project</th>
                <th>Expires</th>
                <th class="num">Requests</th>
                <th class="hide-sm">Last used</th>
                <th>
                  <span class="sr-only">Actions</span>
                </th>
              </>
            }
          >
            {tokens.map((t) => {
              const status = t.status;
              return (
                <tr>
                  <td class="wrap-any">
                    <a href={`/admin/tokens/${t.id}`}>{t.name ?? <span class="mono">{t.token_hint}</span>}</a>
                    {t.name ? <span class="sub mono">{t.token_hint}</span> : null}
                  </td>
                  <td>
                    <Badge status={status} />
                  </td>
                  <td class="hide-sm wrap-any">
                    <a href={`/admin/projects/${t.project_id}`}>{names.get(t.project_id) ?? t.project_id}</a>
                  </td>
                  <td>
                    <Time ms={t.expires_at} relative />
                  </td>
                  <td class="num">
                    {fmtInt(t.request_count)}
                    {t.max_requests !== null ? <span class="sub">of {fmtInt(t.max_requests)}</span> : null}
                  </td>
                  <td class="hide-sm">
                    <Time ms={t.last_used_at} relative />
                  </td>
                  <td>
                    {status === "active" || status === "inactive" || status === "expired" ? (
                      <a class="btn small" href={`/admin/tokens/${t.id}/revoke`}>
                        Revoke
                      </a>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </Table>
        )}
        {nextCursor ? (
          <div class="pager">
            <a class="btn" href={`/admin/tokens?${next.toString()}`}>
              Older tokens →
            </a>
          </div>
        ) : null}
      </div>
    </Layout>
  );
};

const limitText = (t: Token) => [
  [
    "Max requests",
    t.max_requests === null
      ? "unlimited"
      : `${fmtInt(t.max_requests)} (${fmtInt(t.remaining_requests)} left)`,
  ],
  [
    "Rate windows",
    t.rate_limit?.length
      ? t.rate_limit.map((w) => `${fmtInt(w.requests)} per ${fmtInt(w.window_seconds)} s`).join(", ")
      : "none",
  ],
  ["Token budget", t.max_tokens === null ? "unlimited" : fmtInt(t.max_tokens)],
  ["Cost budget", t.max_cost_usd === null ? "unlimited" : fmtUsd(t.max_cost_usd)],
  ["Allowed models", t.allowed_models?.join(", ") ?? "all the project allows"],
  ["Response cache", t.cache ? "allowed (where the project has it on)" : "denied"],
];

export const TokenDetail: FC<{
  csrf: string;
  flash?: Flash;
  token: Token;
  project: Project;
  range: Range;
  series: Bucket[];
  events: UsageEvent[];
}> = ({ csrf, flash, token: t, project, range, series, events }) => (
  <Layout title={t.name ?? t.token_hint} nav="tokens" csrf={csrf} flash={flash}>
    <div class="spread">
      <h1 class="wrap-any">
        {t.name ?? t.token_hint} <Badge status={t.status} />
      </h1>
      <div class="row">
        <a class="btn primary" href={`/admin/tokens/${t.id}/edit`}>
          Edit
        </a>
        {t.status !== "revoked" ? (
          <>
            <form method="post" action={`/admin/tokens/${t.id}/active`} class="inline">
              <CsrfField token={csrf} />
              <input type="hidden" name="active" value={t.is_active ? "false" : "true"} />
              <button type="submit">{t.is_active ? "Deactivate" : "Reactivate"}</button>
            </form>
            <a class="btn" href={`/admin/tokens/${t.id}/rotate`}>
              Rotate secret
            </a>
            <a class="btn danger" href={`/admin/tokens/${t.id}/revoke`}>
              Revoke
            </a>
          </>
        ) : null}
      </div>
    </div>
    <div class="grid">
      <div class="card">
        <h2>Token</h2>
        <dl class="props">
          <dt>Hint</dt>
          <dd class="mono">{t.token_hint}</dd>
          <dt>Project</dt>
          <dd>
            <a href={`/admin/projects/${project.id}`}>{project.name}</a>
          </dd>
          <dt>Expires</dt>
          <dd>
            <Time ms={t.expires_at} /> (<Time ms={t.expires_at} relative />)
          </dd>
          {t.revoked_at ? (
            <>
              <dt>Revoked</dt>
              <dd>
                <Time ms={t.revoked_at} />
              </dd>
            </>
          ) : null}
          <dt>Created</dt>
          <dd>
            <Time ms={t.created_at} />
          </dd>
          <dt>Last used</dt>
          <dd>
            <Time ms={t.last_used_at} relative />
          </dd>
          <dt>Requests</dt>
          <dd>{fmtInt(t.request_count)}</dd>
          <dt>Metadata</dt>
          <dd class="mono">{t.metadata ? JSON.stringify(t.metadata) : "—"}</dd>
          <dt>Id</dt>
          <dd class="mono">{t.id}</dd>
        </dl>
      </div>
      <div class="card">
        <h2>Limits</h2>
        <dl class="props">
          {[...limitText(t), ...renewingText(t)].map(([k, v]) => (
            <>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </>
          ))}
        </dl>
      </div>
    </div>
    <LiveAllowance
      token={t}
      project={{
        max_requests: project.maxRequests,
        max_tokens: project.maxTotalTokens,
        max_cost_usd: project.maxCostUsd,
      }}
    />
    <RenewingAllowance token={t} />
    <div class="spread top-gap">
      <h2>Usage</h2>
      <RangeTabs range={range} base={`/admin/tokens/${t.id}`} />
    </div>
    <UsageCharts range={range} series={series} />
    <div class="card top-gap">
      <h2>Recent requests</h2>
      <EventTable events={events} empty="No requests recorded for this token yet." />
    </div>
  </Layout>
);
