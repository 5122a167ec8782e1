import { getDb } from "../storage/db";
import { flushServed, forgetTokens, tokenObject } from "./admission-cache";
import type { TokenLiveState } from "./durable";
import { liveTokensOfProject } from "./repo";

/**
 * Tells the Durable Objects of changed tokens to re-read D1, so the change applies to their next request.
 * Only tokens that were used have an object: creating one from here would pin it near the admin.
 */
export async function reloadTokenObjects(
  env: Env,
  changed: { tokenHash: string; firstUsedAt?: number | null }[],
): Promise<void> {
  forgetTokens(changed.map((t) => t.tokenHash));
  const live = changed.filter((t) => t.firstUsedAt !== null);
  // Bounded fan-out: a project with many used tokens should not open thousands of calls at once.
  for (let i = 0; i < live.length; i += 50) {
    await Promise.all(live.slice(i, i + 50).map((t) => tokenObject(env, t.tokenHash).reload()));
  }
}

export async function readTokenObject(env: Env, tokenHash: string): Promise<TokenLiveState> {
  await flushServed(env, tokenHash);
  return tokenObject(env, tokenHash).state();
}

/** Every live token of the project re-reads its configuration (a project, upstream, key or alias change). */
export async function reloadProjectTokens(env: Env, projectId: string): Promise<void> {
  await reloadTokenObjects(env, await liveTokensOfProject(getDb(env), projectId));
}
