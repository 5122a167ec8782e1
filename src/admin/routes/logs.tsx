import { Hono } from "hono";
import { z } from "zod";
import { listAudit } from "../../audit/repo";
import { Uuid } from "../../lib/schemas";
import { parseWith } from "../../lib/validate";
import { getDb } from "../../storage/db";
import type { AdminEnv } from "../context";
import { recentEvents } from "../events";
import { projectNames } from "../stats";
import { AuditPage, EventsPage } from "../views/logs";

const EventsQuery = z.object({
  project_id: Uuid.optional(),
  token_id: Uuid.optional(),
  outcome: z.enum(["ok", "error"]).optional(),
  model: z.string().max(200).optional(),
});

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
    const [events, projects] = await Promise.all([
      recentEvents(c.env.EVENTS_BUCKET, {
        projectId: q.project_id,
        tokenId: q.token_id,
        outcome: q.outcome,
        model: q.model,
        limit: 100,
      }),
      projectNames(getDb(c.env)),
    ]);
    return c.html(
      <EventsPage
        csrf={c.get("session").csrf}
        events={events}
        projects={projects}
        filters={{
          project_id: q.project_id ?? "",
          token_id: q.token_id ?? "",
          outcome: q.outcome ?? "",
          model: q.model ?? "",
        }}
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
