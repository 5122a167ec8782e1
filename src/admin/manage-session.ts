import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../lib/context";
import { ApiError } from "../lib/errors";
import { SESSION_COOKIE } from "./cookie";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Lets an admin session use the JSON management API. Runs before the bearer check, which it skips by
 * setting `actor`. Changes need the session's CSRF token in `x-csrf-token` and a same-origin request.
 * A bearer token, when sent, wins; without the cookie this costs one header lookup and loads nothing.
 */
export const adminSessionForManage = createMiddleware<AppEnv>(async (c, next) => {
  const cookie = getCookie(c, SESSION_COOKIE);
  if (!cookie || c.req.header("authorization")) return next();
  const { verifySession, isSameOrigin, csrfMatches } = await import("./session");
  const session = await verifySession(c.env, cookie);
  if (!session) return next();
  if (!SAFE_METHODS.has(c.req.method)) {
    if (!isSameOrigin(c) || !(await csrfMatches(session, c.req.header("x-csrf-token")))) {
      throw new ApiError(
        403,
        "csrf_failed",
        "Changes made with an admin session need the session's CSRF token in 'x-csrf-token' and a same-origin request.",
        { retryable: false },
      );
    }
  }
  c.set("actor", "admin");
  return next();
});
