import { type CachedAnswer, decodeEntry, encodeEntry } from "./entry";

// Where entries live, looked up in this order:
// - `memory`: the isolate's own recent entries (a few MiB at most), so a hot answer costs no I/O at all;
// - `local`: the Cache API of the Cloudflare location that served the request (fast, free, per location;
//   a no-op on *.workers.dev);
// - `global`: Workers KV (CACHE_KV), read at the edge everywhere, so an answer stored in Frankfurt also
//   serves Tokyo.
// All are emulated by `wrangler dev` and the tests with the same code. CACHE_TIERS chooses (all three by
// default). docs/cache.md says why KV and not R2, and what each tier costs.

export type Tier = "memory" | "local" | "global";

/** Largest entry stored by default (bytes of the answer); CACHE_MAX_ENTRY_BYTES changes it. */
const DEFAULT_MAX_ENTRY_BYTES = 1024 * 1024;
/** KV's largest value, less room for the metadata. */
const MAX_ENTRY_BYTES = 25 * 1024 * 1024 - 64 * 1024;
/** KV refuses shorter expirations; fresher entries are still checked against the project's TTL on read. */
const KV_MIN_TTL_SECONDS = 60;
const LOCAL_CACHE = "llm-proxy-responses";
/** Keys of the local tier are URLs; this host is never fetched. */
const LOCAL_ORIGIN = "https://responses.llm-proxy.invalid/";

export function maxEntryBytes(env: Env): number {
  const n = Number(env.CACHE_MAX_ENTRY_BYTES);
  return Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), MAX_ENTRY_BYTES) : DEFAULT_MAX_ENTRY_BYTES;
}

type Tiers = { memory: boolean; local: boolean; global: KVNamespace | null };
let parsed: { from: string | undefined; kv: unknown; tiers: Tiers } | undefined;

function tiersOf(env: Env): Tiers {
  const from = env.CACHE_TIERS;
  const kv = (env as Partial<Env>).CACHE_KV;
  if (parsed && parsed.from === from && parsed.kv === kv) return parsed.tiers;
  const names = (from || "memory,local,global").split(",").map((s) => s.trim().toLowerCase());
  const tiers = {
    memory: names.includes("memory"),
    local: names.includes("local"),
    global: names.includes("global") && kv ? kv : null,
  };
  parsed = { from, kv, tiers };
  return tiers;
}

/** The isolate's tier: entries up to `perEntry` bytes, `budget` bytes in all, least recently used out first. */
class MemoryTier {
  private readonly entries = new Map<string, CachedAnswer>();
  private bytes = 0;

  constructor(
    private readonly budget: number,
    private readonly perEntry: number,
  ) {}

  get(key: string): CachedAnswer | undefined {
    const entry = this.entries.get(key);
    if (entry) {
      // Most recently used last (Map keeps insertion order).
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  set(key: string, entry: CachedAnswer): void {
    if (entry.body.byteLength > this.perEntry) return;
    this.delete(key);
    this.entries.set(key, entry);
    this.bytes += entry.body.byteLength;
    for (const [oldest, old] of this.entries) {
      if (this.bytes <= this.budget) break;
      this.entries.delete(oldest);
      this.bytes -= old.body.byteLength;
    }
  }

  delete(key: string): void {
    const old = this.entries.get(key);
    if (!old) return;
    this.entries.delete(key);
    this.bytes -= old.body.byteLength;
  }
}

/** 8 MiB of an isolate's 128 MiB, answers of at most 256 KiB (a chat answer is a few KiB). */
const memory = new MemoryTier(8 * 1024 * 1024, 256 * 1024);

let localCache: Promise<Cache> | undefined;
const openLocal = () => {
  localCache ??= caches.open(LOCAL_CACHE);
  return localCache;
};

export type Found = { entry: CachedAnswer; tier: Tier };

/**
 * Entries being written, by key: the tiers' writes take a moment, and a client that sends the same request
 * again as soon as its answer ended must find it (in this isolate) all the same. Removed once written.
 */
const writing = new Map<string, CachedAnswer>();

const fresh = (entry: CachedAnswer, ttlSeconds: number, now: number) =>
  now - entry.storedAt < ttlSeconds * 1000 && entry.storedAt <= now + 60_000;

/**
 * The entry under `key` if one is younger than `ttlSeconds`: the isolate's memory (and entries being
 * written) first, then the location's cache, then the global tier; an entry found further down is copied
 * into the tiers above for the rest of its life. A tier that fails is a miss, never an error for the client.
 */
export async function lookup(
  env: Env,
  ctx: ExecutionContext,
  key: string,
  ttlSeconds: number,
): Promise<Found | null> {
  const tiers = tiersOf(env);
  const pending = writing.get(key);
  if (pending && fresh(pending, ttlSeconds, Date.now())) return { entry: pending, tier: "memory" };
  if (tiers.memory) {
    const kept = memory.get(key);
    if (kept && fresh(kept, ttlSeconds, Date.now())) return { entry: kept, tier: "memory" };
  }
  if (tiers.local) {
    try {
      const cached = await (await openLocal()).match(LOCAL_ORIGIN + key);
      const entry = cached ? decodeEntry(await cached.arrayBuffer()) : null;
      if (entry && fresh(entry, ttlSeconds, Date.now())) {
        if (tiers.memory) memory.set(key, entry);
        return { entry, tier: "local" };
      }
    } catch (err) {
      console.error("cache: local tier read failed", err);
    }
  }
  if (tiers.global) {
    try {
      const bytes = await tiers.global.get(key, "arrayBuffer");
      const entry = bytes ? decodeEntry(bytes) : null;
      if (entry && fresh(entry, ttlSeconds, Date.now())) {
        if (tiers.memory) memory.set(key, entry);
        // A copy: the entry's body is a view of `bytes`, and a Response may take over its buffer.
        if (tiers.local) ctx.waitUntil(putLocal(key, bytes!.slice(0), entry.storedAt, ttlSeconds));
        return { entry, tier: "global" };
      }
    } catch (err) {
      console.error("cache: global tier read failed", err);
    }
  }
  return null;
}

function putLocal(key: string, bytes: Uint8Array | ArrayBuffer, storedAt: number, ttlSeconds: number) {
  const left = Math.ceil(ttlSeconds - (Date.now() - storedAt) / 1000);
  if (left <= 0) return Promise.resolve();
  const response = new Response(bytes, { headers: { "cache-control": `max-age=${left}` } });
  return openLocal()
    .then((cache) => cache.put(LOCAL_ORIGIN + key, response))
    .catch((err) => console.error("cache: local tier write failed", err));
}

/** Stores an answer in every tier, in `waitUntil` (after the client's last byte; failures are logged only). */
export function store(env: Env, ctx: ExecutionContext, key: string, entry: CachedAnswer, ttlSeconds: number) {
  const tiers = tiersOf(env);
  if (tiers.memory) memory.set(key, entry);
  const bytes = encodeEntry(entry);
  const writes: Promise<unknown>[] = [];
  if (tiers.local) writes.push(putLocal(key, bytes.slice(), entry.storedAt, ttlSeconds));
  if (tiers.global) {
    const expirationTtl = Math.max(KV_MIN_TTL_SECONDS, Math.ceil(ttlSeconds));
    writes.push(
      tiers.global
        .put(key, bytes, { expirationTtl })
        .catch((err) => console.error("cache: global tier write failed", err)),
    );
  }
  if (writes.length === 0) return;
  writing.set(key, entry);
  ctx.waitUntil(
    Promise.all(writes).then(() => {
      if (writing.get(key) === entry) writing.delete(key);
    }),
  );
}
