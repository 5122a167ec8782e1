import { Hono } from "hono";
import type { AppEnv } from "../lib/context";
import { VERSION } from "../version";
import { cachedReadiness } from "./readiness";

export const healthRoutes = new Hono<AppEnv>()
  .get("/health", (c) => c.json({ status: "ok", version: VERSION, timestamp: new Date().toISOString() }))
  /** Readiness: D1 answers, the secrets are usable, PROXY_ALLOWLIST compiles (src/health/readiness.ts). */
  .get("/health/ready", async (c) => {
    const { ready, checks } = await cachedReadiness(c.env);
    return c.json(
      {
        status: ready ? "ready" : "not_ready",
        version: VERSION,
        timestamp: new Date().toISOString(),
        checks,
      },
      ready ? 200 : 503,
    );
  });
