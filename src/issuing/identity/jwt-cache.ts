import { BoundedMap } from "../../lib/bounded-map";
import type { Credential } from "../../tokens/admission";

/**
 * JWTs this isolate has verified, by their full text, until they expire: a JWT used as an API key is
 * checked once per isolate (signature, issuer, audience, algorithm), then every further request only
 * compares its expiry — no key lookup, no network, no await. Its user's object still decides every request
 * (revoked user, deactivated project, changed provider), so the cache never outlives a revocation, and an
 * entry is never used past the JWT's `exp`.
 */

export type VerifiedJwt = {
  objectKey: string;
  credential: Extract<Credential, { kind: "jwt" }>;
  projectId: string;
  /** The key id that signed it (dropped when the provider's key set no longer has it). */
  kid: string | null;
};

/** JWTs are kept as keys: bounded in size (MAX_JWT_CHARS) and count, about 8 MiB at most. */
const verified = new BoundedMap<string, VerifiedJwt>(1_000);
export const MAX_JWT_CHARS = 8_192;

/** Three base64url segments, the first a JSON object (`eyJ` is `{"`). */
export function looksLikeJwt(credential: string): boolean {
  return credential.startsWith("eyJ") && credential.split(".").length === 3;
}

export function cachedJwt(jwt: string, now: number): VerifiedJwt | undefined {
  const hit = verified.get(jwt);
  if (!hit) return undefined;
  if (hit.credential.expiresAt <= now) {
    verified.delete(jwt);
    return undefined;
  }
  return hit;
}

export function rememberJwt(jwt: string, v: VerifiedJwt): void {
  verified.set(jwt, v);
}

export function forgetJwt(jwt: string): void {
  verified.delete(jwt);
}

/** Forgets every verified JWT of a provider (its configuration changed), or only those signed by `kids`. */
export function forgetProviderJwts(providerId: string, kids?: ReadonlySet<string>): void {
  for (const [jwt, v] of verified.entries()) {
    if (v.credential.providerId !== providerId) continue;
    if (!kids || (v.kid !== null && kids.has(v.kid))) verified.delete(jwt);
  }
}
