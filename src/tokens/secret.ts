import { sha256Hex } from "../lib/crypto";
import { ApiError } from "../lib/errors";
import { secretProblem } from "../lib/secrets";

// Withering token secrets. The prefix lets secret scanners find leaked tokens.
//
// - Signed (issued since issue 10): `wt_` + 32 random base62 characters (~190 bits) + 16 base62 characters
//   of HMAC-SHA256 over the random part under the TOKEN_SIGNING_KEY secret (~95 bits). Only the gateway can
//   mint one: a forged token is refused in memory, before any lookup, Durable Object or D1 query.
// - Legacy (issued before): `wt_` + 32 random base62 + a 6-character CRC32 checksum, which anyone can
//   compute. Still accepted (LEGACY_TOKENS, default "accept"), after an existence check in D1 (proxy/auth.ts).
//
// A token's Durable Object is named by the hash of its first secret. Secrets that must reach another
// object — a rotated secret (its token's object keeps its counters) or an end user's token (the user's
// object counts for all their tokens) — are "routed": `wt_` + 32 random + 43 characters naming the object
// (its 256-bit name in base62) + the MAC over both, 94 characters. Routed secrets are always signed: a
// forged route is refused before any object is asked, and the object still checks the whole secret's hash.

export const TOKEN_PREFIX = "wt_";
const RANDOM_CHARS = 32;
const CHECKSUM_CHARS = 6;
const MAC_CHARS = 16;
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** Length of a signed token. */
export const TOKEN_LENGTH = TOKEN_PREFIX.length + RANDOM_CHARS + MAC_CHARS;
/** Length of a legacy (CRC32) token. */
export const LEGACY_TOKEN_LENGTH = TOKEN_PREFIX.length + RANDOM_CHARS + CHECKSUM_CHARS;
const SHAPE = /^wt_[0-9A-Za-z]+$/;

export type TokenFormat = "signed" | "legacy";
const ROUTE_CHARS = 43;
/** Length of a signed routed token. */
export const ROUTED_TOKEN_LENGTH = TOKEN_LENGTH + ROUTE_CHARS;

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

function base62(value: number | bigint, width: number): string {
  let v = BigInt(value);
  let out = "";
  for (let i = 0; i < width; i++) {
    out = ALPHABET[Number(v % 62n)] + out;
    v /= 62n;
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

/** The signed part of a secret: the random characters, and the route of a routed one. */
const bodyOf = (secret: string) => secret.slice(TOKEN_PREFIX.length, secret.length - MAC_CHARS);

/** The signing keys in force: the current one signs and verifies, a previous one (during a rotation) only verifies. */
export type SigningKeys = Pick<Env, "TOKEN_SIGNING_KEY"> & { TOKEN_SIGNING_KEY_PREVIOUS?: string };

const encoder = new TextEncoder();
const hmacKeys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    hmacKeys.set(secret, key);
  }
  return key;
}

/** The MAC characters of a token body under one key: the first 96 bits of HMAC-SHA256, in base62. */
async function mac(body: string, secret: string): Promise<string> {
  const sig = new Uint8Array(
    await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(`wt1:${body}`)),
  );
  let value = 0n;
  for (let i = 0; i < 12; i++) value = (value << 8n) | BigInt(sig[i]!);
  return base62(value, MAC_CHARS);
}

/** Token creation without a signing key is refused: the operator must set the secret first. */
const noSigningKey = () =>
  new ApiError(
    503,
    "token_signing_disabled",
    "The gateway's TOKEN_SIGNING_KEY secret is not set or shorter than 32 characters: tokens cannot be issued (see docs/configuration.md).",
  );

/** A new signed token secret; with `objectKey` (64 hex characters) a routed one that reaches that object. */
export async function generateTokenSecret(keys: SigningKeys, objectKey?: string): Promise<string> {
  if (secretProblem("TOKEN_SIGNING_KEY", keys.TOKEN_SIGNING_KEY)) throw noSigningKey();
  const body = randomBase62(RANDOM_CHARS) + (objectKey === undefined ? "" : routeOf(objectKey));
  return `${TOKEN_PREFIX}${body}${await mac(body, keys.TOKEN_SIGNING_KEY)}`;
}

/** A token in the pre-issue-10 CRC32 format: still accepted, no longer issued (tests use it). */
export function generateLegacyTokenSecret(): string {
  const body = randomBase62(RANDOM_CHARS);
  return `${TOKEN_PREFIX}${body}${base62(crc32(body), CHECKSUM_CHARS)}`;
}

/**
 * The format of a presented secret from its shape alone (and the checksum of a legacy token); null when it
 * is neither. Says nothing about whether a signed token's MAC is right (see `verifySigned`).
 */
export function tokenFormat(secret: string): TokenFormat | null {
  if (!SHAPE.test(secret)) return null;
  if (secret.length === TOKEN_LENGTH) return "signed";
  if (secret.length === ROUTED_TOKEN_LENGTH) return routeIn(secret) !== null ? "signed" : null;
  if (secret.length !== LEGACY_TOKEN_LENGTH) return null;
  const body = secret.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + RANDOM_CHARS);
  return secret.endsWith(base62(crc32(body), CHECKSUM_CHARS)) ? "legacy" : null;
}

/** Format and checksum only: says nothing about a MAC or whether the token exists. */
export const isWellFormedToken = (secret: string): boolean => tokenFormat(secret) !== null;

/**
 * Whether a signed token's MAC is right under the current or the previous signing key (compared in constant
 * time, so response timing tells nothing about how much of a guess was right). A routed token's MAC covers
 * its route too: a route cannot be changed to reach another object.
 */
export async function verifySigned(secret: string, keys: SigningKeys): Promise<boolean> {
  const given = encoder.encode(secret.slice(secret.length - MAC_CHARS));
  const body = bodyOf(secret);
  for (const key of [keys.TOKEN_SIGNING_KEY, keys.TOKEN_SIGNING_KEY_PREVIOUS]) {
    if (!key) continue;
    const expected = encoder.encode(await mac(body, key));
    if (expected.byteLength === given.byteLength && crypto.subtle.timingSafeEqual(expected, given))
      return true;
  }
  return false;
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

/** The object key a routed secret names; null when the route is out of range. */
function routeIn(secret: string): string | null {
  const route = secret.slice(
    TOKEN_PREFIX.length + RANDOM_CHARS,
    TOKEN_PREFIX.length + RANDOM_CHARS + ROUTE_CHARS,
  );
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
  return routeIn(secret) ?? secretHash;
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
