import { DocumentedRoutes } from "../lib/documented-routes";
import { getDb } from "../storage/db";
import { collectMetrics } from "./collect";
import { CONTENT_TYPE, render } from "./prometheus";

export const metricsRoutes = new DocumentedRoutes("metrics").get(
  "/",
  {
    summary: "Prometheus metrics (text exposition format 0.0.4), from the D1 rollups",
    response: {
      status: 200,
      description: "text/plain; version=0.0.4 — requests, errors, latency, tokens, cost",
    },
  },
  async (c) => {
    const body = render(await collectMetrics(getDb(c.env)));
    return c.body(body, 200, { "content-type": CONTENT_TYPE, "cache-control": "no-store" });
  },
);
