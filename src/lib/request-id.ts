import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./context";

/** Every response carries the gateway's own request id. */
export const requestId = createMiddleware<AppEnv>(async (c, next) => {
  const id = crypto.randomUUID();
  c.set("requestId", id);
  await next();
  c.res.headers.set("x-request-id", id);
});
