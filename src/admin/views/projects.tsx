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
import { fmtInt } from "../../lib/format";
import type { ProjectWithUpstream as Project } from "../../projects/repo";
import type { Project as ProjectView } from "../../projects/schema";
import { type Bucket, type Range, totalsOf } from "../ranges";
import { ProjectLimits } from "./allowance";
import { Table } from "./common";
import { CacheStats, RangeTabs, UsageCharts } from "./dashboard";

type Counts = { active: number; total: number };

/** The project's response cache in one line. */
function cacheSummary(p: Project): string {
  if (!p.cache) return "off";
  const parts = [`on, ${fmtInt(p.cache.ttl_seconds)} s`];
  if (p.cache.exclude.length) parts.push(`except ${p.cache.exclude.join(", ")}`);
  if (p.cache.hits_skip_rate_limits) parts.push("hits skip rate windows");
  return parts.join("; ");
}

export const ProjectList: FC<{
  csrf: string;
  flash?: Flash;
  projects: Project[];
  counts: Map<string, Counts>;
  /** Not the first page: an empty page then means "no more", not "no projects". */
  paged?: boolean;
  nextCursor?: string;
}> = ({ csrf, flash, projects, counts, paged, nextCursor }) => (
  <Layout title="Projects" nav="projects" csrf={csrf} flash={flash}>
    <div class="spread">
      <h1>Projects</h1>
      <a class="btn primary" href="/admin/projects/new">
        New project
      </a>
    </div>
    <div class="card">
      {projects.length === 0 ? (
        paged ? (
          <Empty>
            No more projects. <a href="/admin/projects">Back to the first page</a>.
          </Empty>
        ) : (
          <Empty>
            No projects yet. A project holds an upstream API key; its tokens use it.{" "}
            <a href="/admin/projects/new">Create the first one</a>.
          </Empty>
        )
      ) : (
        <Table
          head={
            <>
              <th>Name</th>
              <th>Status</th>
              <th class="hide-sm">Upstream</th>
              <th class="hide-sm">Key</th>
              <th class="num">Active tokens</th>
              <th class="hide-sm">Created</th>
            </>
          }
        >
          {projects.map((p) => {
            const n = counts.get(p.id) ?? { active: 0, total: 0 };
            return (
              <tr>
                <td class="wrap-any">
                  <a href={`/admin/projects/${p.id}`}>{p.name}</a>
                  {p.description ? <span class="sub">{p.description}</span> : null}
                </td>
                <td>
                  <Badge status={p.isActive ? "active" : "inactive"} />
                </td>
                <td class="hide-sm wrap-any">
                  {p.upstream?.provider ?? "—"}
                  <span class="sub">{p.upstream?.baseUrl}</span>
                </td>
                <td class="hide-sm mono">{p.upstream?.keyHint ?? "—"}</td>
                <td class="num">
                  <a href={`/admin/tokens?project_id=${p.id}&status=active`}>{fmtInt(n.active)}</a>
                  <span class="sub">of {fmtInt(n.total)}</span>
                </td>
                <td class="hide-sm">
                  <Time ms={p.createdAt} />
                </td>
              </tr>
            );
          })}
        </Table>
      )}
      {nextCursor ? (
        <div class="pager">
          <a class="btn" href={`/admin/projects?${new URLSearchParams({ cursor: nextCursor }).toString()}`}>
            More projects →
          </a>
        </div>
      ) : null}
    </div>
  </Layout>
);

export const ProjectDetail: FC<{
  csrf: string;
  flash?: Flash;
  project: Project;
  counts: Counts;
  usage?: ProjectView["usage"];
  range: Range;
  series: Bucket[];
}> = ({ csrf, flash, project: p, counts, usage, range, series }) => (
  <Layout title={p.name} nav="projects" csrf={csrf} flash={flash}>
    <div class="spread">
      <h1 class="wrap-any">
        {p.name} <Badge status={p.isActive ? "active" : "inactive"} />
      </h1>
      <div class="row">
        <a class="btn primary" href={`/admin/tokens/new?project_id=${p.id}`}>
          New token
        </a>
        <a class="btn" href={`/admin/projects/${p.id}/issuing`}>
          Issuing
        </a>
        <a class="btn" href={`/admin/projects/${p.id}/routes`}>
          Upstreams and aliases
        </a>
        <a class="btn" href={`/admin/projects/${p.id}/edit`}>
          Edit
        </a>
      </div>
    </div>
    <div class="grid">
      <div class="card">
        <h2>Settings</h2>
        <dl class="props">
          <dt>Provider</dt>
          <dd>{p.upstream?.provider ?? "—"}</dd>
          <dt>Base URL</dt>
          <dd class="mono">{p.upstream?.baseUrl ?? "—"}</dd>
          <dt>Upstream key</dt>
          <dd class="mono">{p.upstream?.keyHint ?? "—"}</dd>
          <dt>Description</dt>
          <dd>{p.description ?? "—"}</dd>
          <dt>Allowed models</dt>
          <dd>{p.allowedModels?.join(", ") ?? "all"}</dd>
          <dt>Allowed origins</dt>
          <dd>{p.allowedOrigins?.join(", ") ?? "any"}</dd>
          <dt>Account-wide endpoints</dt>
          <dd>{p.capabilities.length ? p.capabilities.join(", ") : "none (inference only)"}</dd>
          <dt>Objects reachable by</dt>
          <dd>
            {p.objectScope === "project" ? "every token of the project" : "the token that created them"}
          </dd>
          <dt>Metadata</dt>
          <dd class="mono">{p.metadata ? JSON.stringify(p.metadata) : "—"}</dd>
          <dt>Response cache</dt>
          <dd>{cacheSummary(p)}</dd>
          <dt>Tokens</dt>
          <dd>
            <a href={`/admin/tokens?project_id=${p.id}`}>
              {fmtInt(counts.active)} active of {fmtInt(counts.total)}
            </a>
          </dd>
          <dt>Created</dt>
          <dd>
            <Time ms={p.createdAt} />
          </dd>
          <dt>Updated</dt>
          <dd>
            <Time ms={p.updatedAt} />
          </dd>
        </dl>
      </div>
      <div class="card">
        <h2>Rotate the upstream key</h2>
        <form method="post" action={`/admin/projects/${p.id}/key`}>
          <CsrfField token={csrf} />
          <Field
            name="api_key"
            label="New upstream API key"
            hint={`Replaces ${p.upstream?.keyHint ?? "the first key of the first upstream"}; tokens keep working.`}
          >
            <input {...inputAttrs("api_key", {}, true)} type="password" autocomplete="off" required />
          </Field>
          <button type="submit">Replace key</button>
        </form>
        <h2 class="top-gap">State</h2>
        <div class="row">
          <form method="post" action={`/admin/projects/${p.id}/active`} class="inline">
            <CsrfField token={csrf} />
            <input type="hidden" name="active" value={p.isActive ? "false" : "true"} />
            <button type="submit">{p.isActive ? "Deactivate" : "Activate"}</button>
          </form>
          <a class="btn" href={`/admin/projects/${p.id}/revoke-tokens`}>
            Revoke all tokens
          </a>
          <a class="btn danger" href={`/admin/projects/${p.id}/delete`}>
            Delete
          </a>
        </div>
        <p class="muted small">Deactivating refuses all its tokens until the project is activated again.</p>
        {p.cache ? (
          <>
            <h2 class="top-gap">Response cache</h2>
            <form method="post" action={`/admin/projects/${p.id}/cache/purge`} class="inline">
              <CsrfField token={csrf} />
              <button type="submit">Purge the cache</button>
            </form>
            <p class="muted small">
              Every answer cached so far is no longer served, from the next request on (generation{" "}
              {fmtInt(p.cacheGeneration)}).
            </p>
          </>
        ) : null}
      </div>
    </div>
    <ProjectLimits project={p} usage={usage ?? null} />
    <div class="spread top-gap">
      <h2>Usage</h2>
      <RangeTabs range={range} base={`/admin/projects/${p.id}`} />
    </div>
    {p.cache ? (
      <div class="stats">
        <CacheStats totals={totalsOf(series)} />
      </div>
    ) : null}
    <UsageCharts range={range} series={series} />
  </Layout>
);
