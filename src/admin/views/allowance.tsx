import type { FC } from "hono/jsx";

import { fmtInt, fmtUsd } from "../../lib/format";
import type { Project as ProjectView } from "../../projects/schema";
import type { Project, RateWindow } from "../../storage/schema";
import type { Token } from "../../tokens/response";
import { Table } from "./common";

// Live counters and caps, as the management API returns them: a token's `allowance`, a project's `usage`.

type Budget = { used: number; reserved: number; remaining: number | null };
type Allowance = NonNullable<Token["allowance"]>;

const fmtWait = (s: number) => (s === 0 ? "now" : s < 120 ? `in ${s} s` : `in ${Math.ceil(s / 60)} min`);

/** Rows of one ledger (the token's own, or its project's): requests, tokens, cost. */
export function ledgerRows(
  requests: { used: number; remaining: number | null },
  tokens: Budget,
  cost: Budget,
  caps: { requests: number | null; tokens: number | null; cost: number | null },
) {
  // A cap the counters do not know yet (a project object not told its limits by an admission) still has
  // its remainder: the cap minus what is used and held.
  const left = (n: number | null, cap: number | null, held: number, fmt: (n: number) => string) =>
    n !== null ? fmt(n) : cap !== null ? fmt(Math.max(0, cap - held)) : "no limit";
  return [
    [
      "Requests",
      fmtInt(requests.used),
      "—",
      left(requests.remaining, caps.requests, requests.used, fmtInt),
      fmtIntOr(caps.requests),
    ],
    [
      "Tokens",
      fmtInt(tokens.used),
      fmtInt(tokens.reserved),
      left(tokens.remaining, caps.tokens, tokens.used + tokens.reserved, fmtInt),
      fmtIntOr(caps.tokens),
    ],
    [
      "Cost",
      fmtUsd(cost.used),
      fmtUsd(cost.reserved),
      left(cost.remaining, caps.cost, cost.used + cost.reserved, fmtUsd),
      caps.cost === null ? "—" : fmtUsd(caps.cost),
    ],
  ];
}

const fmtIntOr = (n: number | null) => (n === null ? "—" : fmtInt(n));

export const LedgerTable: FC<{ rows: string[][] }> = ({ rows }) => (
  <Table
    head={
      <>
        <th />
        <th class="num">Used</th>
        <th class="num">Reserved</th>
        <th class="num">Remaining</th>
        <th class="num">Limit</th>
      </>
    }
  >
    {rows.map(([k, ...cells]) => (
      <tr>
        <th scope="row">{k}</th>
        {cells.map((c) => (
          <td class="num">{c}</td>
        ))}
      </tr>
    ))}
  </Table>
);

/** The token object's live counters, as `GET /manage/tokens/{id}` returns them in `allowance`. */
export const LiveAllowance: FC<{
  token: Token;
  project?: { max_requests: number | null; max_tokens: number | null; max_cost_usd: number | null };
}> = ({ token: t, project }) => {
  const a: Allowance | null = t.allowance;
  return (
    <div class="card top-gap" data-testid="allowance">
      <h2>Live allowance</h2>
      {a === null ? (
        <p class="muted">No live counters yet: they start with the token's first request.</p>
      ) : (
        <>
          <LedgerTable
            rows={ledgerRows(a.requests, a.tokens, a.cost_usd, {
              requests: t.max_requests,
              tokens: t.max_tokens,
              cost: t.max_cost_usd,
            })}
          />
          <p class="muted small">
            Reserved: held by {fmtInt(a.open_reservations)} request{a.open_reservations === 1 ? "" : "s"}{" "}
            still running; their real usage replaces the hold when they end.
          </p>
          {a.windows.length ? (
            <>
              <h3>Rate windows</h3>
              <Table
                head={
                  <>
                    <th>Window</th>
                    <th class="num">Used</th>
                    <th class="num">Remaining</th>
                    <th>Next request</th>
                  </>
                }
              >
                {a.windows.map((w) => (
                  <tr>
                    <td>{`${fmtInt(w.requests)} per ${fmtInt(w.window_seconds)} s`}</td>
                    <td class="num">{fmtInt(w.used)}</td>
                    <td class="num">{fmtInt(w.remaining)}</td>
                    <td>{fmtWait(w.reset_seconds)}</td>
                  </tr>
                ))}
              </Table>
            </>
          ) : null}
          {a.project ? (
            <>
              <h3>Project-wide caps (all its tokens)</h3>
              <LedgerTable
                rows={ledgerRows(a.project.requests, a.project.tokens, a.project.cost_usd, {
                  requests: project?.max_requests ?? null,
                  tokens: project?.max_tokens ?? null,
                  cost: project?.max_cost_usd ?? null,
                })}
              />
            </>
          ) : null}
        </>
      )}
    </div>
  );
};

/** `token_defaults` in words, from the stored object (validated on the way in). */
function defaultsText(d: Record<string, unknown> | null): [string, string][] {
  if (!d || Object.keys(d).length === 0) return [];
  const n = (k: string) => (typeof d[k] === "number" ? (d[k] as number) : null);
  const out: [string, string][] = [];
  if (n("duration_minutes") !== null) out.push(["Duration", `${fmtInt(n("duration_minutes"))} minutes`]);
  if (n("max_requests") !== null) out.push(["Max requests", fmtInt(n("max_requests"))]);
  if (Array.isArray(d.rate_limit)) {
    const windows = d.rate_limit as RateWindow[];
    out.push([
      "Rate windows",
      windows.map((w) => `${fmtInt(w.requests)} per ${fmtInt(w.window_seconds)} s`).join(", "),
    ]);
  }
  if (n("max_tokens") !== null) out.push(["Token budget", fmtInt(n("max_tokens"))]);
  if (n("max_cost_usd") !== null) out.push(["Cost budget", fmtUsd(n("max_cost_usd"))]);
  if (Array.isArray(d.allowed_models)) out.push(["Allowed models", d.allowed_models.join(", ")]);
  return out;
}

export const ProjectLimits: FC<{ project: Project; usage: ProjectView["usage"] }> = ({
  project: p,
  usage,
}) => {
  const capped = p.maxRequests !== null || p.maxTotalTokens !== null || p.maxCostUsd !== null;
  const defaults = defaultsText(p.tokenDefaults);
  const caps = { requests: p.maxRequests, tokens: p.maxTotalTokens, cost: p.maxCostUsd };
  return (
    <div class="grid top-gap">
      <div class="card" data-testid="project-caps">
        <h2>Project-wide caps</h2>
        {!capped ? (
          <p class="muted">None: only each token's own limits apply.</p>
        ) : usage ? (
          <>
            <LedgerTable rows={ledgerRows(usage.requests, usage.tokens, usage.cost_usd, caps)} />
            <p class="muted small">
              Live counters across all its tokens; reserved is held by {fmtInt(usage.open_reservations)}{" "}
              request{usage.open_reservations === 1 ? "" : "s"} still running.
            </p>
          </>
        ) : (
          <>
            <LedgerTable
              rows={ledgerRows(
                { used: 0, remaining: p.maxRequests },
                { used: 0, reserved: 0, remaining: p.maxTotalTokens },
                { used: 0, reserved: 0, remaining: p.maxCostUsd },
                caps,
              )}
            />
            <p class="muted small">
              No token of the project was used yet: the counters start with the first request.
            </p>
          </>
        )}
      </div>
      <div class="card">
        <h2>Defaults for new tokens</h2>
        {defaults.length === 0 ? (
          <p class="muted">None: new tokens live 60 minutes, without limits unless the request sets them.</p>
        ) : (
          <dl class="props">
            {defaults.map(([k, v]) => (
              <>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </>
            ))}
          </dl>
        )}
      </div>
    </div>
  );
};
