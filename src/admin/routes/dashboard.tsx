import { Hono } from "hono";
import { getDb } from "../../storage/db";
import type { AdminEnv } from "../context";
import { flashFrom } from "../forms";
import { isRange } from "../ranges";
import { activeTokenCount, expiringTokens, topBy, upstreamsBy, usageSeries } from "../stats";
import { DashboardPage } from "../views/dashboard";

export const dashboardRoutes = new Hono<AdminEnv>().get("/", async (c) => {
  const q = c.req.query("range");
  const range = isRange(q) ? q : "day";
  const db = getDb(c.env);
  const [series, topProjects, topTokens, topModels, active, expiring, upstreams] = await Promise.all([
    usageSeries(db, range),
    topBy(db, "project", range),
    topBy(db, "token", range),
    topBy(db, "model", range),
    activeTokenCount(db),
    expiringTokens(db, 24 * 3_600_000),
    upstreamsBy(db, range),
  ]);
  return c.html(
    <DashboardPage
      csrf={c.get("session").csrf}
      flash={flashFrom(c)}
      range={range}
      series={series}
      top={{ projects: topProjects, tokens: topTokens, models: topModels }}
      activeTokens={active}
      expiring={expiring}
      upstreams={upstreams}
    />,
  );
});
