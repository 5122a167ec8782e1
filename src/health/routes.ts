import { Hono } from "hono";
import type { AppEnv } from "../lib/context";
import { VERSION } from "../version";

const REQUIRED_SECRETS = ["MANAGEMENT_TOKEN", "ENCRYPTION_KEY", "TOKEN_SIGNING_KEY"] as const;

export const healthRoutes = new Hono<AppEnv>()
  .get("/health", (c) => c.json({ status: "ok", version: VERSION, timestamp: new Date().toISOString() }))
  /** Readiness: D1 answers and the secrets the gateway cannot work without are set. */
  .get("/health/ready", async (c) => {
    const checks: Record<string, "ok" | string> = {};
    try {
      await c.env.DB.prepare("select 1 from projects limit 1").all();
      checks.database = "ok";
    } catch (err) {
      checks.database = `error: ${err instanceof Error ? err.message : String(err)}`;
    }
    for (const name of REQUIRED_SECRETS) checks[name] = c.env[name] ? "ok" : "missing";
    const ready = Object.values(checks).every((v) => v === "ok");
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
