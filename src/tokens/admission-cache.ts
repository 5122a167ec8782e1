import { BoundedMap } from "../lib/bounded-map";
import { EMPTY_LEDGER } from "../limits/budget";
import type { Routing } from "../routing/types";
import { type Admission, type AdmitInput, type Admitted, admittedFrom } from "./admission";
import { cacheHitValid, decide } from "./decide";
import type { TokenConfig } from "./token-config";

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

/**
 * `admitted`: the answer for a request that claims no cache hit, built once per entry — it is a function of
 * the configuration alone, and nothing downstream changes it — so the warm path allocates none of it.
 */
type Entry = { config: TokenConfig; until: number; admitted?: Admitted };
const entries = new BoundedMap<string, Entry>(MAX_ENTRIES);
/**
 * Requests this isolate admitted from an entry that no object call has carried yet, per token hash. Kept
 * apart from the entries: forgetting an entry (a management change, eviction from the bounded map) must not
 * forget what it admitted, and a failed report puts its count back here.
 */
const uncounted = new Map<string, number>();
/** Tokens with a flush scheduled in this isolate (at most one each). */
const flushing = new Set<string>();

// The routing table of each project this isolate served, and each token's project: a counted token's
// admission tells the object which version the isolate holds, and the object sends the table only when it
// changed. Always current: the object compares versions on every call.
const routingByProject = new BoundedMap<string, Routing>(1_000);
const projectOfToken = new BoundedMap<string, string>(MAX_ENTRIES);

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
  const n = uncounted.get(objectKey) ?? 0;
  uncounted.delete(objectKey);
  return n;
}

/** Gives back a count whose report failed: the next call to the object, or the next flush, carries it. */
function putBack(objectKey: string, n: number): void {
  if (n > 0) uncounted.set(objectKey, (uncounted.get(objectKey) ?? 0) + n);
}

/** Retries of a failed flush, after these waits (ms); past them the count waits for the token's next call. */
const FLUSH_RETRIES_MS = [200, 1_000, 5_000];

/** Counts what this isolate admitted on its own once the entry lapses, if no admission call took it. */
async function flushLater(env: Env, objectKey: string, at: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
  try {
    for (const wait of [...FLUSH_RETRIES_MS, null]) {
      try {
        await flushServed(env, objectKey);
        return;
      } catch (err) {
        if (wait === null) {
          console.error("admission count not reported yet; kept for the token's next call", err);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  } finally {
    flushing.delete(objectKey);
  }
}

function remember(objectKey: string, config: TokenConfig, now: number, ms: number): void {
  if (ms <= 0) return;
  entries.delete(objectKey);
  entries.set(objectKey, { config, until: now + ms });
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
    uncounted.set(objectKey, (uncounted.get(objectKey) ?? 0) + 1);
    if (!flushing.has(objectKey)) {
      flushing.add(objectKey);
      ctx.waitUntil(flushLater(env, objectKey, entry.until));
    }
    if (input.cacheHit !== undefined)
      return admittedFrom(entry.config, undefined, cacheHitValid(entry.config, input, now));
    entry.admitted ??= admittedFrom(entry.config);
    return entry.admitted;
  }
  return admitFromObject(env, objectKey, input);
}

/**
 * Moves on every `forgetObjects`. An answer the object gave before a management change reached it can
 * arrive after this isolate forgot the token's entry: reused, it would bring the old configuration back for
 * up to ADMISSION_CACHE_MS in the very isolate that made the change. An answer to a call that began before
 * the latest forget is therefore used for its request but never remembered. (One counter for all tokens:
 * forgets are rare, and a missed reuse only costs one more object call.)
 */
let forgetEpoch = 0;

async function admitFromObject(env: Env, objectKey: string, input: AdmitInput): Promise<Admission> {
  const epoch = forgetEpoch;
  const alsoCounted = takeUncounted(objectKey);
  const projectId = projectOfToken.get(objectKey);
  const held = projectId === undefined ? undefined : routingByProject.get(projectId);
  let admission: Admission;
  try {
    admission = await tokenObject(env, objectKey).admit({
      ...input,
      alsoCounted,
      routingVersion: held?.version,
    });
  } catch (err) {
    // The object never heard of them: keep the requests this isolate served for the next call.
    putBack(objectKey, alsoCounted);
    throw err;
  }
  if (admission.ok) {
    if (admission.routing) routingByProject.set(admission.projectId, admission.routing);
    // Left out by the object only when it matched the version asked about, which is `held`'s.
    else admission.routing = held;
    projectOfToken.set(objectKey, admission.projectId);
  }
  if (admission.ok && admission.reusable && epoch === forgetEpoch)
    remember(objectKey, admission.reusable, Date.now(), cacheMs(env));
  else entries.delete(objectKey);
  return admission;
}

/**
 * The management API changed these tokens (or their project): this isolate stops reusing their admissions
 * at once. What it admitted from them stays counted: the flush already scheduled (or the token's next
 * object call) still reports it. Called before the change is pushed to the objects and again once it has
 * reached them (notify.ts): an answer an object gave in between is from the old configuration.
 */
export function forgetObjects(objectKeys: readonly string[]): void {
  forgetEpoch++;
  for (const key of objectKeys) entries.delete(key);
}

/** Reports what this isolate admitted but has not reported yet; on failure the count is kept for later. */
export async function flushServed(env: Env, objectKey: string): Promise<void> {
  const n = takeUncounted(objectKey);
  if (n === 0) return;
  try {
    await tokenObject(env, objectKey).countServed(n);
  } catch (err) {
    putBack(objectKey, n);
    throw err;
  }
}
