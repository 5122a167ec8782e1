import { DurableObject } from "cloudflare:workers";

/** Wrong passwords allowed before each further one locks the client out for a growing time. */
export const FREE_ATTEMPTS = 5;
const MAX_LOCK_MS = 15 * 60_000;
/** A client that stops failing for this long starts from zero again. */
const FORGET_AFTER_MS = 60 * 60_000;
const KEY = "failures";

type Failures = { count: number; lastAt: number; lockedUntil: number };

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

  /** Milliseconds the client must still wait before it may try a password (0 = now). */
  async retryAfter(): Promise<number> {
    const now = Date.now();
    return Math.max(0, this.read(now).lockedUntil - now);
  }

  /** Counts a wrong password; returns how long the client is now locked out. */
  async failed(): Promise<number> {
    const now = Date.now();
    const f = this.read(now);
    const count = f.count + 1;
    const wait = lockMs(count);
    this.ctx.storage.kv.put<Failures>(KEY, { count, lastAt: now, lockedUntil: now + wait });
    await this.ctx.storage.setAlarm(now + FORGET_AFTER_MS + wait);
    return wait;
  }

  async succeeded(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }

  override async alarm(): Promise<void> {
    const f = this.ctx.storage.kv.get<Failures>(KEY);
    if (!f || Date.now() - f.lastAt >= FORGET_AFTER_MS) await this.ctx.storage.deleteAll();
  }
}

export function loginGuard(env: Env, clientIp: string) {
  return env.ADMIN_LOGIN_GUARD.get(env.ADMIN_LOGIN_GUARD.idFromName(`ip:${clientIp}`));
}
