import { createMiddleware } from "hono/factory";
import { authenticateIssuingKey, looksLikeIssuingKey } from "../issuing/keys/service";
import type { AppEnv } from "../lib/context";
import { constantTimeEquals } from "../lib/crypto";
import { ApiError } from "../lib/errors";
import { secretProblem } from "../lib/secrets";

/**
 * Bearer MANAGEMENT_TOKEN, compared in constant time, or an issuing key (`ik_…`, scoped to one project's
 * tokens: src/issuing/keys). An unset or too short secret disables the API (fail closed). An earlier
 * middleware (the admin session) may already have set `actor`.
 */
export const requireManagementAuth = createMiddleware<AppEnv>(async (c, next) => {
  if (c.get("actor")) return next();
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
  if (bearer && looksLikeIssuingKey(bearer)) {
    const issuer = await authenticateIssuingKey(c.env, bearer, c.executionCtx);
    c.set("actor", issuer.actor);
    c.set("issuer", issuer);
    return next();
  }
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
