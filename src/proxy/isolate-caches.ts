import { BoundedMap } from "../lib/bounded-map";
import { decryptSecret } from "../lib/crypto";
import type { Credential } from "../tokens/admission";

// Per-isolate caches of the hot path that cannot go stale: the hash of a well-formed token secret (a pure
// function of the secret), a token hash the Durable Object did not know
// (secrets are random: an unknown hash never becomes a token), and the plaintext of an encrypted upstream
// key (a rotated key has a new ciphertext). Admission has its own bounded reuse, in src/tokens/admission-cache.ts.

const unknownTokens = new BoundedMap<string, true>(10_000);

export function isKnownUnknown(tokenHash: string): boolean {
  return unknownTokens.has(tokenHash);
}

export function rememberUnknown(tokenHash: string): void {
  unknownTokens.set(tokenHash, true);
}

/** A well-formed secret's hash and the name of the object that admits it (both pure functions of it). */
export type SecretRef = { hash: string | null; objectKey: string; credential: Credential };

const hashes = new BoundedMap<string, SecretRef>(10_000);

export function cachedTokenHash(secret: string): SecretRef | undefined {
  return hashes.get(secret);
}

export function rememberTokenHash(secret: string, ref: SecretRef): SecretRef {
  hashes.set(secret, ref);
  return ref;
}

const MAX_KEYS = 1_000;
/** Decrypted upstream keys by encryption key, then by ciphertext. */
const keys = new Map<string, BoundedMap<string, string>>();

/**
 * An upstream key in plain text: from this isolate's copy, synchronously (no await on the warm path), after
 * the first request of a project; decrypted once before that — with ENCRYPTION_KEY_PREVIOUS during a
 * rotation, for keys the cron has not re-encrypted yet.
 */
export function upstreamKey(env: Env, ciphertext: string): string | Promise<string> {
  return keys.get(env.ENCRYPTION_KEY)?.get(ciphertext) ?? decryptUpstreamKey(env, ciphertext);
}

async function decryptUpstreamKey(env: Env, ciphertext: string): Promise<string> {
  const plain = await decryptSecret(ciphertext, {
    current: env.ENCRYPTION_KEY,
    previous: env.ENCRYPTION_KEY_PREVIOUS,
  });
  let byKey = keys.get(env.ENCRYPTION_KEY);
  if (!byKey) {
    byKey = new BoundedMap(MAX_KEYS);
    keys.set(env.ENCRYPTION_KEY, byKey);
  }
  byKey.set(ciphertext, plain);
  return plain;
}
