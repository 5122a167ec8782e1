import { Hono } from "hono";
import type { AppEnv } from "../lib/context";
import { ordered } from "../lib/schemas";
import { readQuery } from "../lib/validate";
import { type Operation, registerOperations } from "../manage/openapi";
import { getDb } from "../storage/db";
import { listEvents } from "./log-reader";
import { queryRejections, queryUsage } from "./rollups";
import { EventList, EventsQuery, RejectionList, RejectionsQuery, UsageList, UsageQuery } from "./schema";

export const usageRoutes = new Hono<AppEnv>()
  .get("/", async (c) => {
    const q = readQuery(c, ordered(UsageQuery));
    return c.json({ data: await queryUsage(getDb(c.env), q) });
  })
  .get("/rejections", async (c) => {
    const q = readQuery(c, ordered(RejectionsQuery));
    return c.json({ data: await queryRejections(getDb(c.env), q) });
  });

export const eventRoutes = new Hono<AppEnv>().get("/", async (c) => {
  const q = readQuery(c, ordered(EventsQuery));
  return c.json(await listEvents(c.env, q));
});

export const usageOperations: Operation[] = [
  {
    method: "get",
    path: "/manage/usage",
    tag: "usage",
    summary: "Usage rollups (requests, errors, tokens, cost), filtered and grouped",
    query: UsageQuery,
    response: { status: 200, schema: UsageList },
  },
  {
    method: "get",
    path: "/manage/usage/rejections",
    tag: "usage",
    summary: "Requests refused before a token was identified, by hour, day or error code",
    query: RejectionsQuery,
    response: { status: 200, schema: RejectionList },
  },
  {
    method: "get",
    path: "/manage/events",
    tag: "usage",
    summary: "Recent request events from the R2 log, newest first",
    query: EventsQuery,
    response: { status: 200, schema: EventList },
  },
];

registerOperations(...usageOperations);
