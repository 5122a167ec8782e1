import { decryptSecret } from "../lib/crypto";

// Per-isolate caches of the hot path that cannot go stale: the hash of a well-formed token secret (a pure
// function of the secret), a token hash the Durable Object did not know
// (secrets are random: an unknown hash never becomes a token), and the plaintext of an encrypted upstream
// key (a rotated key has a new ciphertext). Admission has its own bounded reuse, in src/tokens/gate.ts.

const MAX_UNKNOWN = 10_000;
const unknownTokens = new Set<string>();

export function isKnownUnknown(tokenHash: string): boolean {
  return unknownTokens.has(tokenHash);
}

export function rememberUnknown(tokenHash: string): void {
  if (unknownTokens.size >= MAX_UNKNOWN) {
    const oldest = unknownTokens.values().next().value;
    if (oldest !== undefined) unknownTokens.delete(oldest);
  }
  unknownTokens.add(tokenHash);
}

const MAX_HASHES = 10_000;
const hashes = new Map<string, string>();

export function cachedTokenHash(secret: string): string | undefined {
  return hashes.get(secret);
}

export function rememberTokenHash(secret: string, hash: string): string {
  if (hashes.size >= MAX_HASHES) hashes.delete(hashes.keys().next().value!);
  hashes.set(secret, hash);
  return hash;
}

const MAX_KEYS = 1_000;
/** Decrypted upstream keys by encryption key, then by ciphertext. */
const keys = new Map<string, Map<string, string>>();

/** The upstream key in plain text: synchronous after the first request of a project in this isolate. */
export function cachedUpstreamKey(ciphertext: string, encryptionKey: string): string | undefined {
  return keys.get(encryptionKey)?.get(ciphertext);
}

export async function upstreamKey(ciphertext: string, encryptionKey: string): Promise<string> {
  const plain = await decryptSecret(ciphertext, encryptionKey);
  let byKey = keys.get(encryptionKey);
  if (!byKey) {
    byKey = new Map();
    keys.set(encryptionKey, byKey);
  }
  if (byKey.size >= MAX_KEYS) byKey.delete(byKey.keys().next().value!);
  byKey.set(ciphertext, plain);
  return plain;
}
