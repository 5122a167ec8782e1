import { type Context, Hono } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { ADMIN_CSS, ADMIN_JS } from "../../admin-ui/assets";
import { constantTimeEquals } from "../lib/crypto";
import { ApiError } from "../lib/errors";
import type { AdminEnv } from "./context";
import { audited, errorText, flashFrom, readSmallForm } from "./forms";
import { loginGuard } from "./guard";
import { dashboardRoutes } from "./routes/dashboard";
import { issuingRoutes } from "./routes/issuing";
import { logRoutes } from "./routes/logs";
import { projectRoutes } from "./routes/projects";
import { tokenRoutes } from "./routes/tokens";
import { upstreamAdminRoutes } from "./routes/upstreams";
import {
  csrfMatches,
  endSession,
  isSameOrigin,
  issueSession,
  loginUnavailable,
  SESSION_COOKIE,
  SESSION_HOURS,
  sessionFromRequest,
} from "./session";
import { LoginPage, MessagePage } from "./views/common";

/** Nothing but the worker's own stylesheet and script; no framing, no foreign form targets. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const securityHeaders = createMiddleware<AdminEnv>(async (c, next) => {
  await next();
  const h = c.res.headers;
  h.set("content-security-policy", CSP);
  h.set("x-content-type-options", "nosniff");
  h.set("x-frame-options", "DENY");
  h.set("referrer-policy", "same-origin");
  if (!h.has("cache-control")) h.set("cache-control", "no-store");
});

/** Only paths inside the admin pages may be a post-login destination (no open redirect). */
function safeNext(next: string | undefined): string {
  return next && /^\/admin(\/[^/\\]|$|\?)/.test(next) && !next.includes("//") ? next : "/admin";
}

/** A login form is a password and a return path: a few hundred bytes. */
const LOGIN_MAX_BYTES = 4096;

const tooLarge = (c: Context<AdminEnv>) =>
  c.html(<LoginPage next="/admin" error="That login form is too large." />, 413);

const clientIp = (c: { req: { header: (n: string) => string | undefined } }) =>
  c.req.header("cf-connecting-ip") ?? "local";

const requireSession = createMiddleware<AdminEnv>(async (c, next) => {
  const session = await sessionFromRequest(c);
  if (!session) {
    if (c.req.method === "GET" || c.req.method === "HEAD") {
      const url = new URL(c.req.url);
      return c.redirect(`/admin/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
    }
    return c.html(
      <MessagePage
        title="Not logged in"
        message="Your session has ended. Log in again, then repeat the action."
        back="/admin/login"
      />,
      401,
    );
  }
  c.set("session", session);
  return next();
});

/** Every change: a same-origin POST carrying the session's CSRF token. */
const requireCsrf = createMiddleware<AdminEnv>(async (c, next) => {
  if (c.req.method !== "POST") return next();
  const form = await c.req.parseBody();
  if (!isSameOrigin(c) || !(await csrfMatches(c.get("session"), form._csrf))) {
    return c.html(
      <MessagePage
        title="Request refused"
        message="This form did not come from this admin page or has expired (CSRF check failed). Reload the page and try again."
        csrf={c.get("session").csrf}
      />,
      403,
    );
  }
  return next();
});

const asset =
  (body: string, type: string) => (c: { body: (b: string, s: 200, h: Record<string, string>) => Response }) =>
    c.body(body, 200, { "content-type": type, "cache-control": "public, max-age=86400" });

export const adminApp = new Hono<AdminEnv>()
  .basePath("/admin")
  .use(securityHeaders)
  .get("/assets/admin.css", asset(ADMIN_CSS, "text/css; charset=utf-8"))
  .get("/assets/admin.js", asset(ADMIN_JS, "text/javascript; charset=utf-8"))
  .get("/login", async (c) => {
    const disabled = loginUnavailable(c.env);
    if (!disabled && (await sessionFromRequest(c))) return c.redirect(safeNext(c.req.query("next")), 303);
    return c.html(
      <LoginPage
        next={safeNext(c.req.query("next"))}
        disabled={disabled ?? undefined}
        flash={flashFrom(c)}
      />,
      disabled ? 503 : 200,
    );
  })
  // Anyone may post here: everything that needs no body (disabled, origin, size, lock-out) is checked
  // before the body is read, and the body is read only up to LOGIN_MAX_BYTES.
  .post("/login", async (c) => {
    const disabled = loginUnavailable(c.env);
    if (disabled) return c.html(<LoginPage next="/admin" disabled={disabled} />, 503);
    if (!isSameOrigin(c)) {
      return c.html(<LoginPage next="/admin" error="Log in from this site's own login page." />, 403);
    }
    if (Number(c.req.header("content-length") ?? 0) > LOGIN_MAX_BYTES) return tooLarge(c);
    const guard = loginGuard(c.env, clientIp(c));
    const attempt = await guard.attempt();
    if (!attempt.ok) {
      const seconds = Math.ceil(attempt.retryAfterMs / 1000);
      return c.html(
        <LoginPage next="/admin" error={`Too many wrong passwords. Try again in ${seconds} s.`} />,
        429,
        { "retry-after": String(seconds) },
      );
    }
    const form = await readSmallForm(c, LOGIN_MAX_BYTES);
    if (!form) return tooLarge(c);
    const next = safeNext(form.next);
    const ok = await constantTimeEquals(form.password ?? "", c.env.ADMIN_PASSWORD);
    try {
      await audited(c, "admin.login", "session", null, async () => {
        if (!ok) throw new ApiError(401, "wrong_password", "Wrong password.");
      });
    } catch {
      // The attempt was already counted as a failure (and the lock set) by guard.attempt().
      const locked = attempt.lockIfWrong;
      const more = locked > 0 ? ` Further attempts are locked for ${Math.ceil(locked / 1000)} s.` : "";
      return c.html(<LoginPage next={next} error={`Wrong password.${more}`} />, 401);
    }
    await guard.succeeded();
    const { jwt } = await issueSession(c.env);
    setCookie(c, SESSION_COOKIE, jwt, {
      httpOnly: true,
      secure: true,
      sameSite: "Strict",
      path: "/",
      maxAge: SESSION_HOURS * 3600,
    });
    return c.redirect(next, 303);
  })
  .use(requireSession)
  .use(requireCsrf)
  .post("/logout", async (c) => {
    await endSession(c.env, c.get("session"));
    deleteCookie(c, SESSION_COOKIE, { path: "/", secure: true, httpOnly: true, sameSite: "Strict" });
    return c.redirect("/admin/login?msg=logged_out", 303);
  })
  .route("/", dashboardRoutes)
  .route("/projects", projectRoutes)
  .route("/projects", issuingRoutes)
  .route("/", upstreamAdminRoutes)
  .route("/tokens", tokenRoutes)
  .route("/", logRoutes)
  .notFound((c) =>
    c.html(
      <MessagePage
        title="Not found"
        message="There is no admin page at this address."
        csrf={c.get("session")?.csrf}
      />,
      404,
    ),
  )
  .onError((err, c) => {
    const status = err instanceof ApiError ? err.status : 500;
    const session = c.get("session");
    return c.html(
      <MessagePage
        title={status === 404 ? "Not found" : "Something went wrong"}
        message={errorText(err)}
        csrf={session?.csrf}
      />,
      status,
    );
  });
