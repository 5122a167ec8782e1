import { BoundedMap } from "../lib/bounded-map";
import { EMPTY_LEDGER } from "../limits/budget";
import { type Admission, type AdmitInput, admittedFrom, decide, type TokenConfig } from "./admission";

// Admission as the worker sees it. A token with something to count (requests, windows, budgets, project
// caps) is decided by its Durable Object on every request: exact under any concurrency. A token with
// nothing to count is decided by its configuration alone, so an isolate may reuse the object's answer for
// at most ADMISSION_CACHE_MS (≤ 1 s): the warm path then makes no Durable Object call. Revocation and
// every other change still apply at once in the isolate that made them (the management API forgets the
// entry) and within that bound everywhere else (docs/security.md: "within a second"). Requests admitted from the
// cache are counted: the next call to the object carries them, or a flush when traffic stops.

const MAX_CACHE_MS = 1_000;
const DEFAULT_CACHE_MS = 900;
const MAX_ENTRIES = 10_000;
const NOTHING_COUNTED = { ledger: EMPTY_LEDGER, windowLog: [] as readonly number[] };

type Entry = { config: TokenConfig; until: number; uncounted: number };
const entries = new BoundedMap<string, Entry>(MAX_ENTRIES);

function cacheMs(env: Env): number {
  const ms = Number(env.ADMISSION_CACHE_MS ?? DEFAULT_CACHE_MS);
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_CACHE_MS) : DEFAULT_CACHE_MS;
}

/**
 * The Durable Object that admits a token's requests, by its name: the hash of the token's first secret (its
 * own object), or its end user's object (see secret.ts, `objectKeyOf`).
 */
export const tokenObject = (env: Env, objectKey: string) =>
  env.TOKEN_DO.get(env.TOKEN_DO.idFromName(objectKey));

function takeUncounted(objectKey: string): number {
  const entry = entries.get(objectKey);
  if (!entry) return 0;
  const n = entry.uncounted;
  entry.uncounted = 0;
  return n;
}

/** Counts what this isolate admitted on its own once the entry lapses, if no admission call took it. */
async function flushLater(env: Env, objectKey: string, at: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
  await flushServed(env, objectKey);
}

function remember(objectKey: string, config: TokenConfig, now: number, ms: number): void {
  if (ms <= 0) return;
  const uncounted = entries.get(objectKey)?.uncounted ?? 0;
  entries.delete(objectKey);
  entries.set(objectKey, { config, until: now + ms, uncounted });
}

/**
 * Decides one request of a token: from the isolate's short-lived entry if it has one (synchronously: the
 * warm path takes no await), else the object.
 */
export function admitToken(
  env: Env,
  ctx: ExecutionContext,
  objectKey: string,
  input: AdmitInput,
): Admission | Promise<Admission> {
  const now = Date.now();
  const entry = entries.get(objectKey);
  if (entry && now < entry.until) {
    const refusal = decide(entry.config, NOTHING_COUNTED, input, now);
    if (refusal) return refusal;
    if (entry.uncounted++ === 0) ctx.waitUntil(flushLater(env, objectKey, entry.until));
    return admittedFrom(entry.config);
  }
  return admitFromObject(env, objectKey, input);
}

async function admitFromObject(env: Env, objectKey: string, input: AdmitInput): Promise<Admission> {
  const alsoCounted = takeUncounted(objectKey);
  let admission: Admission;
  try {
    admission = await tokenObject(env, objectKey).admit({ ...input, alsoCounted });
  } catch (err) {
    // The object never heard of them: keep the requests this isolate served for the next call.
    const entry = entries.get(objectKey);
    if (entry) entry.uncounted += alsoCounted;
    throw err;
  }
  if (admission.ok && admission.reusable) remember(objectKey, admission.reusable, Date.now(), cacheMs(env));
  else entries.delete(objectKey);
  return admission;
}

/** The management API changed these tokens (or their project): this isolate forgets them at once. */
export function forgetObjects(objectKeys: readonly string[]): void {
  for (const key of objectKeys) entries.delete(key);
}

/** Live counters include what this isolate admitted but has not reported yet. */
export async function flushServed(env: Env, objectKey: string): Promise<void> {
  const n = takeUncounted(objectKey);
  if (n > 0) await tokenObject(env, objectKey).countServed(n);
}
