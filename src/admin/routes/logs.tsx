import { Hono } from "hono";
import { z } from "zod";
import { listAudit } from "../../audit/repo";
import { Uuid } from "../../lib/schemas";
import { parseWith } from "../../lib/validate";
import { type Db, getDb } from "../../storage/db";
import { listTokens } from "../../tokens/repo";
import type { AdminEnv } from "../context";
import { recentEvents } from "../events";
import { projectNames, tokenLabels } from "../stats";
import { AuditPage, EventsPage } from "../views/logs";

const EventsQuery = z.object({
  request_id: z.string().max(200).optional(),
  project_id: Uuid.optional(),
  /** A token's id, or part of its name or hint. */
  token: z.string().max(200).optional(),
  // Links from a token's page name it by id.
  token_id: Uuid.optional(),
  outcome: z.enum(["ok", "error"]).optional(),
  model: z.string().max(200).optional(),
});

/** The tokens a search means: an id as typed, else those whose name or hint contains it (newest first). */
async function tokenIdsFor(db: Db, search: string): Promise<string[]> {
  if (Uuid.safeParse(search).success) return [search];
  return (await listTokens(db, { search, limit: TOKEN_MATCHES })).map((t) => t.id);
}

/** At most this many tokens matched by a name search are looked for in the log. */
const TOKEN_MATCHES = 50;

const AuditFilters = z.object({
  action: z.string().max(100).optional(),
  actor: z.string().max(100).optional(),
  target_id: z.string().max(100).optional(),
  cursor: z.string().regex(/^\d+$/, "must be a cursor from this page").optional(),
});

const nonEmpty = (q: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(q)
      .filter(([, v]) => v.trim() !== "")
      .map(([k, v]) => [k, v.trim()]),
  );

const PAGE = 50;

export const logRoutes = new Hono<AdminEnv>()
  .get("/events", async (c) => {
    const q = parseWith(EventsQuery, nonEmpty(c.req.query()), "filters");
    const db = getDb(c.env);
    const token = q.token ?? q.token_id;
    const tokenIds = token ? await tokenIdsFor(db, token) : undefined;
    const [events, projects] = await Promise.all([
      tokenIds?.length === 0
        ? []
        : recentEvents(c.env, {
            requestId: q.request_id,
            projectId: q.project_id,
            tokenIds,
            outcome: q.outcome,
            model: q.model,
            limit: 100,
          }),
      projectNames(db),
    ]);
    const tokens = await tokenLabels(
      db,
      events.flatMap((e) => (e.token_id ? [e.token_id] : [])),
    );
    return c.html(
      <EventsPage
        csrf={c.get("session").csrf}
        events={events}
        projects={projects}
        tokens={tokens}
        filters={{
          request_id: q.request_id ?? "",
          project_id: q.project_id ?? "",
          token: token ?? "",
          outcome: q.outcome ?? "",
          model: q.model ?? "",
        }}
        noTokenMatch={tokenIds?.length === 0}
      />,
    );
  })
  .get("/audit", async (c) => {
    const q = parseWith(AuditFilters, nonEmpty(c.req.query()), "filters");
    const rows = await listAudit(getDb(c.env), {
      action: q.action,
      actor: q.actor,
      targetId: q.target_id,
      before: q.cursor ? Number(q.cursor) : undefined,
      limit: PAGE,
    });
    const last = rows.length === PAGE ? rows.at(-1) : undefined;
    return c.html(
      <AuditPage
        csrf={c.get("session").csrf}
        entries={rows}
        filters={{ action: q.action ?? "", actor: q.actor ?? "", target_id: q.target_id ?? "" }}
        nextCursor={last ? String(last.id) : undefined}
      />,
    );
  });
