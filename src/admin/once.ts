import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { EncryptJWT, jwtDecrypt } from "jose";
import type { AdminEnv } from "./context";
import type { Session } from "./session";

/*
 * A new token's secret, carried from the POST that created it to the one GET that shows it (POST →
 * redirect → GET: reloading the page shows it again or not at all, but never creates a second token).
 * The secret travels in a short-lived cookie, encrypted (AES-256-GCM, a JWE) under a key derived from
 * SESSION_SECRET and bound to the session and the token: it is never in a URL, a log line or storage, a
 * copied cookie is useless in another session, and the page that shows the secret deletes the cookie.
 */

/** Long enough to follow the redirect on a slow connection, short enough not to linger. */
const TTL_SECONDS = 300;
const encoder = new TextEncoder();
const cookieName = (tokenId: string) => `__Host-llmproxy_new_${tokenId}`;
const cookieOptions = { httpOnly: true, secure: true, sameSite: "Strict", path: "/" } as const;

/** A key of its own: nothing sealed here could pass as a session JWT, or the other way round. */
async function sealKey(sessionSecret: string): Promise<Uint8Array> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    encoder.encode(`llm-proxy new token\0${sessionSecret}`),
  );
  return new Uint8Array(digest);
}

export async function sealNewSecret(
  c: Context<AdminEnv>,
  session: Session,
  tokenId: string,
  secret: string,
): Promise<void> {
  const jwe = await new EncryptJWT({ secret })
    .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
    .setSubject(tokenId)
    .setAudience(session.id)
    .setExpirationTime(`${TTL_SECONDS}s`)
    .encrypt(await sealKey(c.env.SESSION_SECRET));
  setCookie(c, cookieName(tokenId), jwe, { ...cookieOptions, maxAge: TTL_SECONDS });
}

/** The secret of a token created in this session, once: the cookie is deleted as it is read. */
export async function takeNewSecret(
  c: Context<AdminEnv>,
  session: Session,
  tokenId: string,
): Promise<string | null> {
  const name = cookieName(tokenId);
  const jwe = getCookie(c, name);
  if (!jwe) return null;
  deleteCookie(c, name, cookieOptions);
  try {
    const { payload } = await jwtDecrypt(jwe, await sealKey(c.env.SESSION_SECRET), {
      keyManagementAlgorithms: ["dir"],
      contentEncryptionAlgorithms: ["A256GCM"],
      audience: session.id,
      subject: tokenId,
    });
    return typeof payload.secret === "string" ? payload.secret : null;
  } catch {
    return null;
  }
}
