import { BoundedMap } from "../lib/bounded-map";
import { type BreakerPolicy, CircuitBreaker, DEFAULT_BREAKER } from "./breaker";
import type { KeyConfig, UpstreamConfig } from "./types";

/** A 429 without `retry-after`: the key rests 1 s, doubling per consecutive 429, up to this. */
const MAX_KEY_BACKOFF_MS = 60_000;
/** No upstream-requested rest lasts longer than this (a misread header must not bench a key for a day). */
const MAX_KEY_REST_MS = 5 * 60_000;
/** A key the upstream refused (401/403) stays out this long in an isolate, then gets another chance. */
export const KEY_OUT_MS = 10 * 60_000;

type KeyState = {
  restUntil: number;
  outUntil: number;
  /** The key's ciphertext when it was refused: a rotated key (new ciphertext) is usable at once. */
  outCipher: string | null;
  consecutive429: number;
};

/**
 * What one isolate knows about the health of upstreams and keys: a circuit breaker per upstream, rest and
 * exclusion per key. Pure memory, no await: the warm path only reads it. Bounded like every per-isolate
 * cache; a forgotten entry starts healthy again.
 */
export class Health {
  private readonly breakers = new BoundedMap<string, CircuitBreaker>(10_000);
  private readonly keys = new BoundedMap<string, KeyState>(10_000);

  constructor(private readonly policy: BreakerPolicy = DEFAULT_BREAKER) {}

  breaker(upstreamId: string): CircuitBreaker {
    let b = this.breakers.get(upstreamId);
    if (!b) {
      b = new CircuitBreaker(this.policy);
      this.breakers.set(upstreamId, b);
    }
    return b;
  }

  /** The breaker if this isolate has one (a healthy upstream may have none). */
  peekBreaker(upstreamId: string): CircuitBreaker | undefined {
    return this.breakers.get(upstreamId);
  }

  private key(id: string): KeyState {
    let k = this.keys.get(id);
    if (!k) {
      k = { restUntil: 0, outUntil: 0, outCipher: null, consecutive429: 0 };
      this.keys.set(id, k);
    }
    return k;
  }

  /** The key got a 429: it rests for the upstream's `retry-after`, or a doubling backoff. */
  rest(keyId: string, now: number, retryAfterMs: number | null): void {
    const k = this.key(keyId);
    k.consecutive429++;
    const backoff = Math.min(1000 * 2 ** (k.consecutive429 - 1), MAX_KEY_BACKOFF_MS);
    k.restUntil = Math.max(k.restUntil, now + Math.min(retryAfterMs ?? backoff, MAX_KEY_REST_MS));
  }

  /** The upstream refused the key (401/403): out until rotated (a new ciphertext) or KEY_OUT_MS passed. */
  out(keyId: string, now: number, cipher: string | null = null): void {
    const k = this.key(keyId);
    k.outUntil = now + KEY_OUT_MS;
    k.outCipher = cipher;
  }

  /** The key was used and not rate-limited. */
  keyOk(keyId: string): void {
    const k = this.keys.get(keyId);
    if (k) k.consecutive429 = 0;
  }

  /** When the key may be used again (0 = now). */
  keyAvailableAt(keyId: string, cipher: string | null = null): number {
    const k = this.keys.get(keyId);
    if (!k) return 0;
    return Math.max(k.restUntil, isOut(k, cipher) ? k.outUntil : 0);
  }

  isKeyOut(keyId: string, now: number): boolean {
    const k = this.keys.get(keyId);
    return k !== undefined && now < k.outUntil;
  }

  /**
   * A key for the next attempt on an upstream: weighted among keys neither resting, out, nor already tried
   * by this request. `null`: the upstream takes no key. `undefined`: none is usable now.
   */
  chooseKey(
    upstream: UpstreamConfig,
    now: number,
    tried: ReadonlySet<string> | null,
    random: () => number = Math.random,
  ): KeyConfig | null | undefined {
    const { keys } = upstream;
    if (keys.length === 0) return null;
    if (keys.length === 1) {
      const only = keys[0]!;
      return this.usable(only, now, tried) ? only : undefined;
    }
    let total = 0;
    for (const k of keys) if (this.usable(k, now, tried)) total += k.weight;
    if (total <= 0) return undefined;
    let pick = random() * total;
    let last: KeyConfig | undefined;
    for (const k of keys) {
      if (!this.usable(k, now, tried)) continue;
      last = k;
      pick -= k.weight;
      if (pick < 0) return k;
    }
    return last;
  }

  /** When some key of the upstream may be used again (for `retry-after` when none can now). */
  nextKeyAt(upstream: UpstreamConfig): number {
    let soonest = Number.POSITIVE_INFINITY;
    for (const k of upstream.keys) soonest = Math.min(soonest, this.keyAvailableAt(k.id, k.keyEncrypted));
    return Number.isFinite(soonest) ? soonest : 0;
  }

  private usable(k: KeyConfig, now: number, tried: ReadonlySet<string> | null): boolean {
    if (k.weight <= 0 || tried?.has(k.id)) return false;
    const state = this.keys.get(k.id);
    return !state || (now >= state.restUntil && (now >= state.outUntil || !isOut(state, k.keyEncrypted)));
  }
}

/** Whether a refusal applies to this version of the key (any version when the refusal recorded none). */
const isOut = (k: KeyState, cipher: string | null) =>
  k.outCipher === null || cipher === null || k.outCipher === cipher;

/** The isolate's health registry, shared by every request it serves. */
export const isolateHealth = new Health();
