import { DurableObject } from "cloudflare:workers";
import { ApiError } from "../lib/errors";
import { getDb } from "../storage/db";
import { flushServed, forgetObjects, tokenObject } from "./admission-cache";
import { type ConfigChange, configMaxAgeMs } from "./durable-config";
import type { TokenLiveState } from "./durable-counters";
import { liveTokensOfProject, touchProject } from "./object-repo";

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

/** A token's (or end user's) object: its name, and when it last read its configuration from D1. */
type Target = { objectKey: string; configLoadedAt: number | null };

/** How far back a configuration copy must have been read to need a push (see `loadedSince`). */
const LOAD_MARGIN_MS = 30_000;

/**
 * Objects that read their configuration before this instant re-read D1 before their next decision (their
 * copy is older than CONFIG_MAX_AGE_SECONDS by then): a change need not reach them. The margin covers the
 * time between the D1 stamp and the object's own clock reading (a slow D1 read), with room to spare.
 */
export const loadedSince = (env: Env, now = Date.now()): number => now - configMaxAgeMs(env) - LOAD_MARGIN_MS;

/** Calls `call` for every object key, CONCURRENCY at a time, retrying failures; returns those never reached. */
async function each(keys: readonly string[], call: (key: string) => Promise<unknown>): Promise<string[]> {
  // Several tokens of one end user share the user's object: it is told once.
  let pending = [...new Set(keys)];
  for (let attempt = 0; attempt < ATTEMPTS && pending.length > 0; attempt++) {
    const failed: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < pending.length) {
        const key = pending[next++]!;
        try {
          await call(key);
        } catch {
          failed.push(key);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, pending.length) }, worker));
    pending = failed;
  }
  return pending;
}

/**
 * Pushes `change` to the objects of these keys (token keys, or end users' keys); returns those that could
 * not be reached. A list
 * longer than LEAF is cut into up to BRANCHES parts, each handed to a fresh relay object (which splits it
 * again if it is still too long): a tree whose every node makes at most max(LEAF, BRANCHES) calls.
 */
export async function pushChange(env: Env, keys: readonly string[], change: ConfigChange): Promise<string[]> {
  if (keys.length <= LEAF) return each(keys, (key) => tokenObject(env, key).apply(change));
  const size = Math.max(LEAF, Math.ceil(keys.length / BRANCHES));
  const parts: string[][] = [];
  for (let i = 0; i < keys.length; i += size) parts.push(keys.slice(i, i + size));
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
  async push(keys: string[], change: ConfigChange): Promise<string[]> {
    return pushChange(this.env, keys, change);
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
  const keys = changed.map((t) => t.objectKey);
  forgetObjects(keys);
  const since = loadedSince(env);
  const live = [
    ...new Set(
      changed.filter((t) => t.configLoadedAt !== null && t.configLoadedAt >= since).map((t) => t.objectKey),
    ),
  ];
  const unreached = await pushChange(env, live, change);
  // Again once the objects have it: a request of this isolate that asked an object before the push reached
  // it got the old configuration, and must not be reused after the management call returned.
  forgetObjects(keys);
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
  changed: readonly { objectKey: string; firstUsedAt?: number | null }[],
): Promise<void> {
  const keys = changed.map((t) => t.objectKey);
  forgetObjects(keys);
  const live = changed.filter((t) => t.firstUsedAt !== null).map((t) => t.objectKey);
  const unreached = await each(live, (key) => tokenObject(env, key).reload());
  // Again once the objects re-read D1 (see notifyTokens).
  forgetObjects(keys);
  if (unreached.length > 0) throw unreachedError(unreached.length);
}

/**
 * Tells the objects of revoked tokens (a token and the children carved from it) at once, as data: each
 * refuses from its next request without reading D1 (an end user's object re-reads which token it was).
 */
export function revokeTokenObjects(env: Env, revoked: readonly Target[], at = Date.now()): Promise<void> {
  return notifyTokens(env, revoked, { kind: "revoke", at });
}

export async function readTokenObject(env: Env, objectKey: string): Promise<TokenLiveState> {
  await flushServed(env, objectKey);
  return tokenObject(env, objectKey).state();
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
