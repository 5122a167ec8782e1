import { DocumentedRoutes } from "../lib/documented-routes";
import { ordered } from "../lib/schemas";
import { getDb } from "../storage/db";
import { listEvents } from "./log-reader";
import { queryRejections, queryUsage } from "./rollups";
import { EventList, EventsQuery, RejectionList, RejectionsQuery, UsageList, UsageQuery } from "./schema";

export const usageRoutes = new DocumentedRoutes("usage")
  .get(
    "/",
    {
      summary: "Usage rollups (requests, errors, tokens, cost), filtered and grouped",
      query: ordered(UsageQuery),
      response: { status: 200, schema: UsageList },
    },
    async (c, { query }) => c.json({ data: await queryUsage(getDb(c.env), query) }),
  )
  .get(
    "/rejections",
    {
      summary: "Requests refused before a token was identified, by hour, day or error code",
      query: ordered(RejectionsQuery),
      response: { status: 200, schema: RejectionList },
    },
    async (c, { query }) => c.json({ data: await queryRejections(getDb(c.env), query) }),
  );

export const eventRoutes = new DocumentedRoutes("usage").get(
  "/",
  {
    summary: "Recent request events from the R2 log, newest first",
    query: ordered(EventsQuery),
    response: { status: 200, schema: EventList },
  },
  async (c, { query }) => c.json(await listEvents(c.env, query)),
);
