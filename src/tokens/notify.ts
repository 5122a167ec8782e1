import { DurableObject } from "cloudflare:workers";
import { ApiError } from "../lib/errors";
import { getDb } from "../storage/db";
import { flushServed, forgetTokens, tokenObject } from "./admission-cache";
import { type ConfigChange, configMaxAgeMs, type TokenLiveState } from "./durable";
import { liveTokensOfProject, touchProject } from "./repo";

// Telling token objects about a management change, at any scale. One token: a direct call. Many (a
// project's revocation, deactivation, deletion or new settings reaching 50 000 tokens): the same change is
// pushed to every object as data (no object reads D1), spread over relay objects so that no invocation
// makes more than LEAF calls — a Worker invocation has a bounded number of subrequests, and one that
// called every object itself would both hit that bound and take seconds. The management call returns once
// every object has applied the change (or says which could not be reached); each object's configuration
// age bound (CONFIG_MAX_AGE_SECONDS) is the safety net for those.

/** Objects one invocation calls itself (all at once: one round trip); bigger lists are split among relays. */
const LEAF = 200;
/** Relays one invocation starts for a bigger list (so also at most this many calls from it). */
const BRANCHES = 32;
/** Calls in flight at once from one invocation. */
const CONCURRENCY = LEAF;
/** A failed call is tried this many times in all before it counts as unreached. */
const ATTEMPTS = 3;

type Target = { tokenHash: string; configLoadedAt: number | null };

/** How far back a configuration copy must have been read to need a push (see `loadedSince`). */
const LOAD_MARGIN_MS = 30_000;

/**
 * Objects that read their configuration before this instant re-read D1 before their next decision (their
 * copy is older than CONFIG_MAX_AGE_SECONDS by then): a change need not reach them. The margin covers the
 * time between the D1 stamp and the object's own clock reading (a slow D1 read), with room to spare.
 */
export const loadedSince = (env: Env, now = Date.now()): number => now - configMaxAgeMs(env) - LOAD_MARGIN_MS;

/** Calls `call` for every hash, CONCURRENCY at a time, retrying failures; returns the hashes never reached. */
async function each(hashes: readonly string[], call: (hash: string) => Promise<unknown>): Promise<string[]> {
  let pending = [...hashes];
  for (let attempt = 0; attempt < ATTEMPTS && pending.length > 0; attempt++) {
    const failed: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < pending.length) {
        const hash = pending[next++]!;
        try {
          await call(hash);
        } catch {
          failed.push(hash);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, pending.length) }, worker));
    pending = failed;
  }
  return pending;
}

/**
 * Pushes `change` to the objects of these token hashes; returns those that could not be reached. A list
 * longer than LEAF is cut into up to BRANCHES parts, each handed to a fresh relay object (which splits it
 * again if it is still too long): a tree whose every node makes at most max(LEAF, BRANCHES) calls.
 */
export async function pushChange(
  env: Env,
  hashes: readonly string[],
  change: ConfigChange,
): Promise<string[]> {
  if (hashes.length <= LEAF) return each(hashes, (hash) => tokenObject(env, hash).apply(change));
  const size = Math.max(LEAF, Math.ceil(hashes.length / BRANCHES));
  const parts: string[][] = [];
  for (let i = 0; i < hashes.length; i += size) parts.push(hashes.slice(i, i + size));
  const unreached = await Promise.all(
    parts.map(async (part) => {
      // A relay that fails is tried again as a fresh object; a part that still fails counts as unreached.
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          return await env.TOKEN_FANOUT.get(env.TOKEN_FANOUT.newUniqueId()).push(part, change);
        } catch (err) {
          console.error("token fan-out relay failed", part.length, err);
        }
      }
      return part;
    }),
  );
  return unreached.flat();
}

/**
 * A relay of `pushChange`: stateless (it stores nothing), one fresh object per part, so parts run in
 * parallel in separate invocations, each with its own subrequest allowance.
 */
export class TokenFanout extends DurableObject<Env> {
  async push(hashes: string[], change: ConfigChange): Promise<string[]> {
    return pushChange(this.env, hashes, change);
  }
}

const unreachedError = (count: number) =>
  new ApiError(
    502,
    "token_objects_unreachable",
    `The change is saved, but ${count} token object(s) could not be told: they apply it within ` +
      "CONFIG_MAX_AGE_SECONDS at the latest. Repeat the request to tell them again.",
  );

/**
 * Tells the objects of many tokens about a change (revocation of a project's tokens, a project's new
 * version or deletion) as data, through `pushChange`. Only objects that read their configuration recently
 * (`loadedSince`) are told: the others exist only as storage (or not at all: creating one from here would
 * pin it near the admin) and read D1 before their next decision. Throws 502 `token_objects_unreachable`
 * (after trying them all) when some could not be told.
 */
export async function notifyTokens(
  env: Env,
  changed: readonly Target[],
  change: ConfigChange,
): Promise<void> {
  forgetTokens(changed.map((t) => t.tokenHash));
  const since = loadedSince(env);
  const live = changed
    .filter((t) => t.configLoadedAt !== null && t.configLoadedAt >= since)
    .map((t) => t.tokenHash);
  const unreached = await pushChange(env, live, change);
  if (unreached.length > 0) {
    console.error("token objects not told of a change", unreached.length, change.kind);
    throw unreachedError(unreached.length);
  }
}

/**
 * Tells the Durable Objects of changed tokens to re-read D1, so the change applies to their next request:
 * for changes to single tokens (their own limits, expiry, activity), where the object reads its own row.
 */
export async function reloadTokenObjects(
  env: Env,
  changed: readonly { tokenHash: string; firstUsedAt?: number | null }[],
): Promise<void> {
  forgetTokens(changed.map((t) => t.tokenHash));
  const live = changed.filter((t) => t.firstUsedAt !== null).map((t) => t.tokenHash);
  const unreached = await each(live, (hash) => tokenObject(env, hash).reload());
  if (unreached.length > 0) throw unreachedError(unreached.length);
}

export async function readTokenObject(env: Env, tokenHash: string): Promise<TokenLiveState> {
  await flushServed(env, tokenHash);
  return tokenObject(env, tokenHash).state();
}

/**
 * Every live token of the project re-reads its configuration (an upstream, key or alias change), through the
 * relay tree like any project-wide change. The project's version moves on first, so a push of the project
 * read before this change cannot overwrite what the objects read now.
 */
export async function reloadProjectTokens(env: Env, projectId: string): Promise<void> {
  const db = getDb(env);
  await touchProject(db, projectId);
  await notifyTokens(env, await liveTokensOfProject(db, projectId, loadedSince(env)), { kind: "reload" });
}
