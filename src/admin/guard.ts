import { DurableObject } from "cloudflare:workers";

/** Wrong passwords allowed before each further one locks the client out for a growing time. */
export const FREE_ATTEMPTS = 5;
const MAX_LOCK_MS = 15 * 60_000;
/** A client that stops failing for this long starts from zero again. */
const FORGET_AFTER_MS = 60 * 60_000;
const KEY = "failures";

type Failures = { count: number; lastAt: number; lockedUntil: number };

/** May the client try a password now; if so, how long it is locked out should this one be wrong. */
export type Attempt = { ok: true; lockIfWrong: number } | { ok: false; retryAfterMs: number };

/** Lock-out after the `count`-th consecutive failure: 0 for the free ones, then 2 s, 4 s, 8 s … 15 min. */
export function lockMs(count: number): number {
  if (count < FREE_ATTEMPTS) return 0;
  return Math.min(MAX_LOCK_MS, 1000 * 2 ** (count - FREE_ATTEMPTS + 1));
}

/**
 * Counts wrong admin passwords per client (one object per client IP), across all isolates and colos,
 * so a password guesser is slowed down exponentially rather than per isolate.
 */
export class AdminLoginGuard extends DurableObject<Env> {
  private read(now: number): Failures {
    const f = this.ctx.storage.kv.get<Failures>(KEY);
    if (!f || now - f.lastAt > FORGET_AFTER_MS) return { count: 0, lastAt: 0, lockedUntil: 0 };
    return f;
  }

  /**
   * Claims one password attempt. The attempt is counted as a failure before the password is even
   * compared (`succeeded` clears it), in the same synchronous step as the lock check: concurrent guesses
   * cannot all pass the check before any of them is counted.
   */
  async attempt(): Promise<Attempt> {
    const now = Date.now();
    const f = this.read(now);
    if (f.lockedUntil > now) return { ok: false, retryAfterMs: f.lockedUntil - now };
    const count = f.count + 1;
    const lockIfWrong = lockMs(count);
    this.ctx.storage.kv.put<Failures>(KEY, { count, lastAt: now, lockedUntil: now + lockIfWrong });
    await this.ctx.storage.setAlarm(now + FORGET_AFTER_MS + lockIfWrong);
    return { ok: true, lockIfWrong };
  }

  async succeeded(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }

  // The object named by `sessionRegistry` keeps a different record: sessions ended by a logout before
  // their expiry (by JWT id), so a copy of the cookie stops working at once. It never holds failures.

  private endedTable(): SqlStorage {
    const sql = this.ctx.storage.sql;
    sql.exec("create table if not exists ended_sessions (jti text primary key, expires_at integer not null)");
    return sql;
  }

  async endSession(jti: string, expiresAt: number): Promise<void> {
    const sql = this.endedTable();
    sql.exec("delete from ended_sessions where expires_at <= ?", Date.now());
    sql.exec("insert or replace into ended_sessions (jti, expires_at) values (?, ?)", jti, expiresAt);
  }

  async isSessionEnded(jti: string): Promise<boolean> {
    return this.endedTable().exec("select 1 from ended_sessions where jti = ?", jti).toArray().length > 0;
  }

  override async alarm(): Promise<void> {
    const f = this.ctx.storage.kv.get<Failures>(KEY);
    if (!f || Date.now() - f.lastAt >= FORGET_AFTER_MS) await this.ctx.storage.deleteAll();
  }
}

/**
 * The client a failure is counted against: an IPv4 address, or an IPv6 /64 (one subscriber's usual
 * allocation: per address, rotating through it would give an unlimited number of free attempts).
 */
export function clientKey(ip: string): string {
  if (!ip.includes(":")) return `ip:${ip}`;
  const [head = "", tail, ...rest] = ip.toLowerCase().split("::");
  if (rest.length > 0) return `ip:${ip}`;
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  const prefix = groups.slice(0, 4);
  if (prefix.length < 4 || !prefix.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return `ip:${ip}`;
  return `ip6:${prefix.map((g) => Number.parseInt(g, 16).toString(16)).join(":")}::/64`;
}

export function loginGuard(env: Env, clientIp: string) {
  return env.ADMIN_LOGIN_GUARD.get(env.ADMIN_LOGIN_GUARD.idFromName(clientKey(clientIp)));
}

/** The one object that remembers sessions ended by a logout (see `endSession`). */
export function sessionRegistry(ns: DurableObjectNamespace<AdminLoginGuard>) {
  return ns.get(ns.idFromName("sessions:ended"));
}
