import { sha256Hex } from "../lib/crypto";

// Withering token secrets: `wt_` + 32 random base62 characters (~190 bits) + a 6-character CRC32
// checksum, like GitHub's tokens. The prefix lets secret scanners find leaked tokens; the checksum lets the
// gateway turn away typos and garbage without a lookup.
//
// A token's Durable Object is named by the hash of its first secret. Secrets that must reach another
// object — a rotated secret (its token's object keeps its counters) or an end user's token (the user's
// object counts for all their tokens) — are "routed": `wt_` + 32 random + 43 characters naming the object
// (its 256-bit name in base62) + the checksum over both, 84 characters. The object still checks the whole
// secret's hash: the route says where to ask, never that the secret is valid.

export const TOKEN_PREFIX = "wt_";
const RANDOM_CHARS = 32;
const CHECKSUM_CHARS = 6;
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const TOKEN_LENGTH = TOKEN_PREFIX.length + RANDOM_CHARS + CHECKSUM_CHARS;
const ROUTE_CHARS = 43;
export const ROUTED_TOKEN_LENGTH = TOKEN_LENGTH + ROUTE_CHARS;
const TOKEN_PATTERN = new RegExp(`^${TOKEN_PREFIX}[0-9A-Za-z]{${RANDOM_CHARS + CHECKSUM_CHARS}}$`);
const ROUTED_PATTERN = new RegExp(
  `^${TOKEN_PREFIX}[0-9A-Za-z]{${RANDOM_CHARS + ROUTE_CHARS + CHECKSUM_CHARS}}$`,
);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function base62(value: number, width: number): string {
  let out = "";
  for (let i = 0; i < width; i++) {
    out = ALPHABET[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

function randomBase62(count: number): string {
  let out = "";
  while (out.length < count) {
    for (const byte of crypto.getRandomValues(new Uint8Array(count * 2))) {
      // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
      if (byte < 248 && out.length < count) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

/** A new secret; with `objectKey` (64 hex characters) a routed one that reaches that object. */
export function generateTokenSecret(objectKey?: string): string {
  const body = randomBase62(RANDOM_CHARS) + (objectKey === undefined ? "" : routeOf(objectKey));
  return `${TOKEN_PREFIX}${body}${base62(crc32(body), CHECKSUM_CHARS)}`;
}

/** Format and checksum only: says nothing about whether the token exists. */
export function isWellFormedToken(secret: string): boolean {
  const routed = secret.length === ROUTED_TOKEN_LENGTH;
  if (routed ? !ROUTED_PATTERN.test(secret) : secret.length !== TOKEN_LENGTH || !TOKEN_PATTERN.test(secret))
    return false;
  const body = secret.slice(TOKEN_PREFIX.length, secret.length - CHECKSUM_CHARS);
  if (!secret.endsWith(base62(crc32(body), CHECKSUM_CHARS))) return false;
  return !routed || objectKeyOfRoute(body.slice(RANDOM_CHARS)) !== null;
}

const BIG62 = BigInt(62);
const MAX_KEY = (BigInt(1) << BigInt(256)) - BigInt(1);

/** 64 hex characters as 43 base62 characters. */
function routeOf(objectKey: string): string {
  if (!/^[0-9a-f]{64}$/.test(objectKey)) throw new Error("an object key is 64 lowercase hex characters");
  let n = BigInt(`0x${objectKey}`);
  let out = "";
  for (let i = 0; i < ROUTE_CHARS; i++) {
    out = ALPHABET[Number(n % BIG62)] + out;
    n /= BIG62;
  }
  return out;
}

function objectKeyOfRoute(route: string): string | null {
  let n = BigInt(0);
  for (const c of route) n = n * BIG62 + BigInt(ALPHABET.indexOf(c));
  if (n > MAX_KEY) return null;
  return n.toString(16).padStart(64, "0");
}

/**
 * The name of the Durable Object that admits a well-formed secret: the hash of the secret itself, or the
 * object its route names.
 */
export function objectKeyOf(secret: string, secretHash: string): string {
  if (secret.length !== ROUTED_TOKEN_LENGTH) return secretHash;
  const route = secret.slice(TOKEN_PREFIX.length + RANDOM_CHARS, secret.length - CHECKSUM_CHARS);
  return objectKeyOfRoute(route) ?? secretHash;
}

export const hashToken = sha256Hex;

/** A secret of the same shape under another prefix (issuing keys: `ik_`). */
export function generatePrefixedSecret(prefix: string): string {
  const body = randomBase62(RANDOM_CHARS);
  return `${prefix}${body}${base62(crc32(body), CHECKSUM_CHARS)}`;
}

export function isWellFormedPrefixedSecret(prefix: string, secret: string): boolean {
  if (secret.length !== prefix.length + RANDOM_CHARS + CHECKSUM_CHARS || !secret.startsWith(prefix))
    return false;
  const body = secret.slice(prefix.length, prefix.length + RANDOM_CHARS);
  return (
    /^[0-9A-Za-z]+$/.test(secret.slice(prefix.length)) && secret.endsWith(base62(crc32(body), CHECKSUM_CHARS))
  );
}

/** `wt_AbCd…wxyz`: enough for a person to tell tokens apart, far too little to guess one. */
export function tokenHint(secret: string): string {
  return `${secret.slice(0, TOKEN_PREFIX.length + 4)}…${secret.slice(-4)}`;
}
