import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../lib/context";
import { constantTimeEquals } from "../lib/crypto";
import { ApiError } from "../lib/errors";
import { secretProblem } from "../lib/secrets";

/**
 * Bearer MANAGEMENT_TOKEN, compared in constant time. An unset or too short secret disables the API (fail
 * closed).
 * An earlier middleware (the admin session) may already have set `actor`.
 */
export const requireManagementAuth = createMiddleware<AppEnv>(async (c, next) => {
  if (c.get("actor")) return next();
  const expected = c.env.MANAGEMENT_TOKEN;
  const problem = secretProblem("MANAGEMENT_TOKEN", expected);
  if (problem) {
    throw new ApiError(503, "management_disabled", `The management API is disabled: ${problem}.`, {
      retryable: false,
    });
  }
  const header = c.req.header("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1] || !(await constantTimeEquals(match[1], expected))) {
    throw new ApiError(
      401,
      "unauthorized",
      match ? "The management token is not valid." : "Send 'Authorization: Bearer <MANAGEMENT_TOKEN>'.",
      { headers: { "www-authenticate": 'Bearer realm="llm-proxy management"' } },
    );
  }
  c.set("actor", "management_token");
  return next();
});
