// AES-256-GCM envelope for upstream API keys: `v1:<iv b64url>:<ciphertext+tag b64url>`.
// The version prefix names the envelope format; ENCRYPTION_KEY rotates with a Keyring (below): the previous
// key keeps decrypting while the cron re-encrypts every stored value under the new one.

import { ApiError } from "./errors";

const VERSION = "v1";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function toBase64Url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replaceAll("-", "+").replaceAll("_", "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = "";
  for (const b of view) s += b.toString(16).padStart(2, "0");
  return s;
}

export async function sha256Hex(text: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** Compares two strings in time independent of where they differ (hashing first equalises lengths). */
export async function constantTimeEquals(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(ha, hb);
}

const keyCache = new Map<string, Promise<CryptoKey>>();

const keyProblem = (name = "ENCRYPTION_KEY") =>
  new ApiError(
    503,
    "encryption_key_invalid",
    `The gateway's ${name} secret is missing or is not 32 base64-encoded bytes; upstream keys cannot be encrypted or decrypted.`,
    { retryable: false },
  );

/** ENCRYPTION_KEY is 32 random bytes, base64 or base64url encoded (what `npm run dev` generates). */
function rawKey(secret: string | undefined, name?: string): Uint8Array<ArrayBuffer> {
  if (!secret) throw keyProblem(name);
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = fromBase64Url(secret.trim());
  } catch {
    throw keyProblem(name);
  }
  if (raw.length !== 32) throw keyProblem(name);
  return raw;
}

function importKey(secret: string | undefined, name?: string): Promise<CryptoKey> {
  let key = secret ? keyCache.get(secret) : undefined;
  if (!key) {
    key = crypto.subtle.importKey("raw", rawKey(secret, name), "AES-GCM", false, ["encrypt", "decrypt"]);
    keyCache.set(secret!, key);
  }
  return key;
}

/** Whether a secret is a usable ENCRYPTION_KEY (32 bytes, base64 or base64url). */
export function isValidEncryptionKey(secret: string | undefined): boolean {
  try {
    rawKey(secret);
    return true;
  } catch {
    return false;
  }
}

/**
 * The keys upstream secrets are sealed with: `current` encrypts and decrypts; `previous`, set only while
 * ENCRYPTION_KEY is being rotated (ENCRYPTION_KEY_PREVIOUS), still decrypts what it sealed, until the cron
 * has re-encrypted every stored value under `current` (src/maintenance/reencrypt.ts, docs/operations.md).
 */
export type Keyring = { current: string; previous?: string };

export const keyringOf = (env: { ENCRYPTION_KEY: string; ENCRYPTION_KEY_PREVIOUS?: string }): Keyring => ({
  current: env.ENCRYPTION_KEY,
  previous: env.ENCRYPTION_KEY_PREVIOUS || undefined,
});

export async function encryptSecret(plaintext: string, encryptionKey: string): Promise<string> {
  const key = await importKey(encryptionKey);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, encoder.encode(plaintext));
  return `${VERSION}:${toBase64Url(iv)}:${toBase64Url(new Uint8Array(sealed))}`;
}

async function openWith(envelope: string, key: CryptoKey): Promise<string> {
  const [version, iv, data] = envelope.split(":");
  if (version !== VERSION || !iv || !data)
    throw new Error(`unsupported secret envelope version '${version}'`);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64Url(iv) },
    key,
    fromBase64Url(data),
  );
  return decoder.decode(plain);
}

/**
 * Opens an envelope with the current key or, during a rotation, the previous one. AES-GCM authenticates:
 * the wrong key fails (OperationError) rather than yielding garbage, so trying one then the other is safe.
 */
export async function decryptSecret(envelope: string, keys: Keyring | string): Promise<string> {
  const { current, previous } = typeof keys === "string" ? { current: keys, previous: undefined } : keys;
  const key = await importKey(current);
  try {
    return await openWith(envelope, key);
  } catch (err) {
    if (!isWrongKey(err)) throw err;
    if (!previous || previous === current) throw sealedElsewhere();
  }
  try {
    return await openWith(envelope, await importKey(previous, "ENCRYPTION_KEY_PREVIOUS"));
  } catch (err) {
    throw isWrongKey(err) ? sealedElsewhere() : err;
  }
}

const isWrongKey = (err: unknown) => err instanceof Error && err.name === "OperationError";

/** A stored value no configured key opens: a rotation finished too early, or a key from elsewhere. */
const sealedElsewhere = () =>
  new ApiError(
    503,
    "encryption_key_invalid",
    "A stored upstream key does not open with the gateway's ENCRYPTION_KEY (nor ENCRYPTION_KEY_PREVIOUS).",
    { retryable: false },
  );

/**
 * The envelope sealed under the current key, or null when it already is (it opens with the current key).
 * Throws when neither key opens it.
 */
export async function reencryptSecret(envelope: string, keys: Keyring): Promise<string | null> {
  try {
    await openWith(envelope, await importKey(keys.current));
    return null;
  } catch (err) {
    if (!isWrongKey(err)) throw err;
  }
  return encryptSecret(await decryptSecret(envelope, keys), keys.current);
}

/** A hint that identifies a key to a person without revealing it: `sk-p…AbCd`. */
export function maskSecret(secret: string): string {
  if (secret.length <= 8) return "…".padStart(2, "*");
  return `${secret.slice(0, 4)}…${secret.slice(-4)}`;
}
