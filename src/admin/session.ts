import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { jwtVerify, SignJWT } from "jose";
import { constantTimeEquals, sha256Hex, toBase64Url } from "../lib/crypto";
import { secretProblem } from "../lib/secrets";
import type { AdminEnv } from "./context";
import { SESSION_COOKIE } from "./cookie";
import { type AdminLoginGuard, sessionRegistry } from "./guard";

export { SESSION_COOKIE };

export const SESSION_HOURS = 12;
const AUDIENCE = "llm-proxy-admin";
const encoder = new TextEncoder();

export type Session = { id: string; csrf: string; expiresAt: number };

type SessionEnv = {
  ADMIN_PASSWORD?: string;
  SESSION_SECRET?: string;
  ADMIN_LOGIN_GUARD?: DurableObjectNamespace<AdminLoginGuard>;
};

/**
 * Why the login is unavailable, or null when both secrets are usable (fail closed otherwise: unset or too
 * short, see src/lib/secrets.ts). Existing sessions stop verifying too.
 */
export function loginUnavailable(env: SessionEnv): string | null {
  const problem =
    secretProblem("ADMIN_PASSWORD", env.ADMIN_PASSWORD) ??
    secretProblem("SESSION_SECRET", env.SESSION_SECRET);
  return problem ? `Admin login is disabled: ${problem}.` : null;
}

/** Ends a session before its expiry: its cookie, wherever a copy of it is, is refused from now on. */
export async function endSession(env: SessionEnv, session: Session): Promise<void> {
  if (env.ADMIN_LOGIN_GUARD)
    await sessionRegistry(env.ADMIN_LOGIN_GUARD).endSession(session.id, session.expiresAt);
}

/** Binds sessions to the current password: changing ADMIN_PASSWORD ends every open session. */
async function passwordTag(env: SessionEnv): Promise<string> {
  return (await sha256Hex(`${env.SESSION_SECRET}\u0000${env.ADMIN_PASSWORD}`)).slice(0, 16);
}

export async function issueSession(env: SessionEnv): Promise<{ jwt: string; session: Session }> {
  const csrf = toBase64Url(crypto.getRandomValues(new Uint8Array(24)));
  const id = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
  const expiresAt = Date.now() + SESSION_HOURS * 3_600_000;
  const jwt = await new SignJWT({ csrf, pw: await passwordTag(env) })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject("admin")
    .setJti(id)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(expiresAt / 1000))
    .sign(encoder.encode(env.SESSION_SECRET));
  return { jwt, session: { id, csrf, expiresAt } };
}

export async function verifySession(env: SessionEnv, jwt: string | undefined): Promise<Session | null> {
  if (!jwt || loginUnavailable(env)) return null;
  try {
    const { payload } = await jwtVerify(jwt, encoder.encode(env.SESSION_SECRET), {
      algorithms: ["HS256"],
      audience: AUDIENCE,
      subject: "admin",
    });
    if (typeof payload.csrf !== "string" || payload.pw !== (await passwordTag(env))) return null;
    if (typeof payload.jti !== "string") return null;
    if (env.ADMIN_LOGIN_GUARD && (await sessionRegistry(env.ADMIN_LOGIN_GUARD).isSessionEnded(payload.jti))) {
      return null;
    }
    return { id: payload.jti, csrf: payload.csrf, expiresAt: (payload.exp ?? 0) * 1000 };
  } catch {
    return null;
  }
}

export function sessionFromRequest(c: Context<AdminEnv>): Promise<Session | null> {
  return verifySession(c.env, getCookie(c, SESSION_COOKIE));
}

/**
 * The request comes from a page of this origin: `Origin` (sent by browsers on every POST) or else
 * `Referer` must name it. Neither header → refused: the admin pages are only used from a browser.
 */
export function isSameOrigin(c: Context): boolean {
  const expected = new URL(c.req.url).origin;
  const origin = c.req.header("origin");
  if (origin) return origin === expected;
  const referer = c.req.header("referer");
  if (!referer) return false;
  try {
    return new URL(referer).origin === expected;
  } catch {
    return false;
  }
}

export async function csrfMatches(session: Session, sent: unknown): Promise<boolean> {
  return typeof sent === "string" && sent.length > 0 && constantTimeEquals(sent, session.csrf);
}
