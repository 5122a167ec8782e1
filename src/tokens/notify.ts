import { flushServed, forgetObjects, tokenObject } from "./admission-cache";
import type { TokenLiveState } from "./durable";

/**
 * Tells the Durable Objects of changed tokens (or end users) to re-read D1, so the change applies to their
 * next request. Only objects that were used exist: creating one from here would pin it near the admin.
 */
export async function reloadTokenObjects(
  env: Env,
  changed: { objectKey: string; firstUsedAt?: number | null }[],
): Promise<void> {
  forgetObjects(changed.map((t) => t.objectKey));
  const live = [...new Set(changed.filter((t) => t.firstUsedAt !== null).map((t) => t.objectKey))];
  // Bounded fan-out: a project with many used tokens should not open thousands of calls at once.
  for (let i = 0; i < live.length; i += 50) {
    await Promise.all(live.slice(i, i + 50).map((key) => tokenObject(env, key).reload()));
  }
}

/** Tells the objects of revoked tokens at once, without a D1 read each (TokenState.revoked). */
export async function revokeTokenObjects(
  env: Env,
  revoked: { objectKey: string; firstUsedAt?: number | null }[],
  at = Date.now(),
): Promise<void> {
  forgetObjects(revoked.map((t) => t.objectKey));
  const live = [...new Set(revoked.filter((t) => t.firstUsedAt !== null).map((t) => t.objectKey))];
  for (let i = 0; i < live.length; i += 50) {
    await Promise.all(live.slice(i, i + 50).map((key) => tokenObject(env, key).revoked(at)));
  }
}

export async function readTokenObject(env: Env, objectKey: string): Promise<TokenLiveState> {
  await flushServed(env, objectKey);
  return tokenObject(env, objectKey).state();
}
