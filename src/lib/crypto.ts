// AES-256-GCM envelope for upstream API keys: `v1:<iv b64url>:<ciphertext+tag b64url>`.
// The version prefix lets ENCRYPTION_KEY rotate: a new version can decrypt old values and re-encrypt.

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

const keyProblem = () =>
  new ApiError(
    503,
    "encryption_key_invalid",
    "The gateway's ENCRYPTION_KEY secret is missing or is not 32 base64-encoded bytes; upstream keys cannot be encrypted or decrypted.",
    { retryable: false },
  );

/** ENCRYPTION_KEY is 32 random bytes, base64 or base64url encoded (what `npm run dev` generates). */
function importKey(secret: string | undefined): Promise<CryptoKey> {
  if (!secret) throw keyProblem();
  let key = keyCache.get(secret);
  if (!key) {
    let raw: Uint8Array<ArrayBuffer>;
    try {
      raw = fromBase64Url(secret.trim());
    } catch {
      throw keyProblem();
    }
    if (raw.length !== 32) throw keyProblem();
    key = crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    keyCache.set(secret, key);
  }
  return key;
}

export async function encryptSecret(plaintext: string, encryptionKey: string): Promise<string> {
  const key = await importKey(encryptionKey);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, encoder.encode(plaintext));
  return `${VERSION}:${toBase64Url(iv)}:${toBase64Url(new Uint8Array(sealed))}`;
}

export async function decryptSecret(envelope: string, encryptionKey: string): Promise<string> {
  const [version, iv, data] = envelope.split(":");
  if (version !== VERSION || !iv || !data)
    throw new Error(`unsupported secret envelope version '${version}'`);
  const key = await importKey(encryptionKey);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64Url(iv) },
    key,
    fromBase64Url(data),
  );
  return decoder.decode(plain);
}

/** A hint that identifies a key to a person without revealing it: `sk-p…AbCd`. */
export function maskSecret(secret: string): string {
  if (secret.length <= 8) return "…".padStart(2, "*");
  return `${secret.slice(0, 4)}…${secret.slice(-4)}`;
}
