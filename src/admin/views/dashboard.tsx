import type { FC } from "hono/jsx";
import { BarChart } from "../../../admin-ui/chart";
import { Empty, type Flash, Layout, Time } from "../../../admin-ui/layout";
import { fmtCompact, fmtInt, fmtPct, fmtUsd } from "../../lib/format";
import type { Token } from "../../storage/schema";
import type { Bucket, Range, Top, Totals, UpstreamTop } from "../ranges";
import { RANGES, totalsOf } from "../ranges";
import { Table } from "./common";

const bucketLabel = (range: Range, start: number) => {
  const iso = new Date(start).toISOString();
  return range === "month" ? iso.slice(5, 10) : `${iso.slice(11, 13)}:00`;
};

const TopTable: FC<{ title: string; rows: Top[]; href?: (key: string) => string; empty: string }> = ({
  title,
  rows,
  href,
  empty,
}) => (
  <div class="card">
    <h2>{title}</h2>
    {rows.length === 0 ? (
      <Empty>{empty}</Empty>
    ) : (
      <Table
        head={
          <>
            <th>Name</th>
            <th class="num">Requests</th>
            <th class="num">Tokens</th>
            <th class="num">Cost</th>
          </>
        }
      >
        {rows.map((r) => (
          <tr>
            <td class="wrap-any">
              {href && r.key ? (
                <a href={href(r.key)}>{r.name ?? r.key}</a>
              ) : (
                (r.name ?? <span class="muted">(unknown)</span>)
              )}
            </td>
            <td class="num">{fmtInt(r.requests)}</td>
            <td class="num">{fmtCompact(r.tokens)}</td>
            <td class="num">{fmtUsd(r.costUsd)}</td>
          </tr>
        ))}
      </Table>
    )}
  </div>
);

/** Errors and latency per upstream: what the routes page shows per project, across projects. */
const UpstreamTable: FC<{ rows: UpstreamTop[] }> = ({ rows }) => (
  <div class="card">
    <h2>Upstreams</h2>
    {rows.length === 0 ? (
      <Empty>No upstream traffic yet.</Empty>
    ) : (
      <Table
        head={
          <>
            <th>Upstream</th>
            <th class="num">Requests</th>
            <th class="num">Errors</th>
            <th class="num">Failed attempts</th>
            <th class="num">Avg TTFB</th>
          </>
        }
      >
        {rows.map((r) => (
          <tr>
            <td class="wrap-any">
              <a href={`/admin/projects/${r.projectId}/routes`}>{r.name ?? r.upstreamId}</a>
              <span class="sub">{r.projectName ?? r.projectId}</span>
            </td>
            <td class="num">{fmtInt(r.requests)}</td>
            <td class="num">{r.requests ? fmtPct(r.errors / r.requests) : "—"}</td>
            <td class="num">{fmtInt(r.failedAttempts)}</td>
            <td class="num">{r.avgTtfbMs === null ? "—" : `${fmtInt(r.avgTtfbMs)} ms`}</td>
          </tr>
        ))}
      </Table>
    )}
  </div>
);

export const RangeTabs: FC<{ range: Range; base: string }> = ({ range, base }) => (
  <nav class="tabs" aria-label="Time range">
    {(Object.keys(RANGES) as Range[]).map((r) => (
      <a
        href={`${base}${base.includes("?") ? "&" : "?"}range=${r}`}
        aria-current={r === range ? "true" : undefined}
      >
        {RANGES[r].label}
      </a>
    ))}
  </nav>
);

/** The four usage charts of a range; shared by the dashboard and the token and project pages. */
export const UsageCharts: FC<{ range: Range; series: Bucket[] }> = ({ range, series }) => {
  const label = (b: Bucket) => bucketLabel(range, b.start);
  return (
    <div class="grid charts">
      <div class="card">
        <h2>Requests</h2>
        <BarChart
          title="Requests"
          points={series.map((b) => ({ label: label(b), value: b.requests, part: b.errors }))}
          format={fmtCompact}
          partLabel="errors"
        />
      </div>
      <div class="card">
        <h2>Tokens</h2>
        <BarChart
          title="Tokens"
          points={series.map((b) => ({ label: label(b), value: b.tokens }))}
          format={fmtCompact}
        />
      </div>
      <div class="card">
        <h2>Cost</h2>
        <BarChart
          title="Cost (USD)"
          points={series.map((b) => ({ label: label(b), value: b.costUsd }))}
          format={fmtUsd}
        />
      </div>
      <div class="card">
        <h2>Error rate</h2>
        <BarChart
          title="Error rate"
          points={series.map((b) => ({ label: label(b), value: b.requests ? b.errors / b.requests : 0 }))}
          format={fmtPct}
        />
      </div>
    </div>
  );
};

/** The response cache over a range: hits, hit rate among the requests it could answer, money saved. */
export const CacheStats: FC<{ totals: Totals }> = ({ totals: t }) => {
  const looked = t.cacheHits + t.cacheMisses;
  return (
    <>
      <div class="stat">
        <div class="label">Cache hits</div>
        <div class="value">{fmtInt(t.cacheHits)}</div>
        <div class="muted small">
          {looked
            ? `${fmtPct(t.cacheHits / looked)} of ${fmtInt(looked)} cacheable`
            : "no cacheable requests"}
        </div>
      </div>
      <div class="stat">
        <div class="label">Saved by the cache</div>
        <div class="value">{fmtUsd(t.savedUsd)}</div>
        <div class="muted small">{`${fmtInt(t.cacheMisses)} ${t.cacheMisses === 1 ? "miss" : "misses"}`}</div>
      </div>
    </>
  );
};

export const DashboardPage: FC<{
  csrf: string;
  flash?: Flash;
  range: Range;
  series: Bucket[];
  top: { projects: Top[]; tokens: Top[]; models: Top[] };
  activeTokens: number;
  expiring: Token[];
  upstreams: UpstreamTop[];
}> = ({ csrf, flash, range, series, top, activeTokens, expiring, upstreams }) => {
  const t = totalsOf(series);
  return (
    <Layout title="Dashboard" nav="dashboard" csrf={csrf} flash={flash}>
      <div class="spread">
        <h1>Dashboard</h1>
        <RangeTabs range={range} base="/admin" />
      </div>
      <div class="stats">
        <div class="stat">
          <div class="label">Requests</div>
          <div class="value">{fmtInt(t.requests)}</div>
        </div>
        <div class="stat">
          <div class="label">Tokens used</div>
          <div class="value">{fmtCompact(t.tokens)}</div>
        </div>
        <div class="stat">
          <div class="label">Cost</div>
          <div class="value">{fmtUsd(t.costUsd)}</div>
        </div>
        <div class="stat">
          <div class="label">Error rate</div>
          <div class="value">{t.requests ? fmtPct(t.errors / t.requests) : "—"}</div>
        </div>
        <CacheStats totals={t} />
        <div class="stat">
          <div class="label">Active tokens</div>
          <div class="value">
            <a href="/admin/tokens?status=active">{fmtInt(activeTokens)}</a>
          </div>
        </div>
      </div>
      <UsageCharts range={range} series={series} />
      <p class="muted small">Hourly rollups (UTC); the last hour shows the current and the previous hour.</p>
      <div class="grid">
        <TopTable
          title="Top projects"
          rows={top.projects}
          href={(id) => `/admin/projects/${id}`}
          empty="No requests yet."
        />
        <TopTable
          title="Top tokens"
          rows={top.tokens}
          href={(id) => `/admin/tokens/${id}`}
          empty="No requests yet."
        />
        <TopTable title="Top models" rows={top.models} empty="No requests yet." />
        <UpstreamTable rows={upstreams} />
        <div class="card">
          <h2>Expiring within 24 hours</h2>
          {expiring.length === 0 ? (
            <Empty>No active token expires within a day.</Empty>
          ) : (
            <ul class="plain">
              {expiring.map((tok) => (
                <li>
                  <a href={`/admin/tokens/${tok.id}`} class="wrap-any">
                    {tok.name ?? tok.tokenHint}
                  </a>
                  <Time ms={tok.expiresAt} relative />
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </Layout>
  );
};
