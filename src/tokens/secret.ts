import { sha256Hex } from "../lib/crypto";

// Withering token secrets: `wt_` + 32 random base62 characters (~190 bits) + a 6-character CRC32
// checksum, like GitHub's tokens. The prefix lets secret scanners find leaked tokens; the checksum lets the
// gateway turn away typos and garbage without a lookup.

export const TOKEN_PREFIX = "wt_";
const RANDOM_CHARS = 32;
const CHECKSUM_CHARS = 6;
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const TOKEN_LENGTH = TOKEN_PREFIX.length + RANDOM_CHARS + CHECKSUM_CHARS;
const TOKEN_PATTERN = new RegExp(`^${TOKEN_PREFIX}[0-9A-Za-z]{${RANDOM_CHARS + CHECKSUM_CHARS}}$`);

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

export function generateTokenSecret(): string {
  const body = randomBase62(RANDOM_CHARS);
  return `${TOKEN_PREFIX}${body}${base62(crc32(body), CHECKSUM_CHARS)}`;
}

/** Format and checksum only: says nothing about whether the token exists. */
export function isWellFormedToken(secret: string): boolean {
  if (secret.length !== TOKEN_LENGTH || !TOKEN_PATTERN.test(secret)) return false;
  const body = secret.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + RANDOM_CHARS);
  return secret.endsWith(base62(crc32(body), CHECKSUM_CHARS));
}

export const hashToken = sha256Hex;

/** `wt_AbCd…wxyz`: enough for a person to tell tokens apart, far too little to guess one. */
export function tokenHint(secret: string): string {
  return `${secret.slice(0, TOKEN_PREFIX.length + 4)}…${secret.slice(-4)}`;
}
