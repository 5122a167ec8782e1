import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import { BoundedMap } from "../../lib/bounded-map";
import { decryptSecret } from "../../lib/crypto";
import { ApiError } from "../../lib/errors";
import { getDb } from "../../storage/db";
import type { IdentityProvider } from "../../storage/schema";
import { forgetProviderJwts, MAX_JWT_CHARS, rememberJwt, type VerifiedJwt } from "./jwt-cache";
import { userObjectKey } from "./user-config";

/**
 * Verifies an end user's JWT against the identity provider a project trusts (jose): the provider is found
 * by the JWT's issuer and audience, the signature checked with the provider's key set (JWKS, fetched and
 * cached) or shared HS256 secret, under the provider's algorithms only — so `none`, an HS256 JWT signed with
 * an RSA public key, an unknown issuer, another audience, an expired or not-yet-valid JWT are all refused.
 * Runs once per JWT and isolate (jwt-cache.ts); the provider and its keys are cached too, so only the
 * first JWT of a provider in an isolate waits for D1 and the key set.
 */

/** A provider row is re-read this often (and at once when a user's object says it changed). */
const PROVIDER_TTL_MS = 60_000;
/** An unknown key id refetches the key set, at most this often (a rotated-in key is found at once). */
const JWKS_COOLDOWN_MS = 30_000;
const JWKS_TIMEOUT_MS = 5_000;
const MAX_SUBJECT_CHARS = 255;

type Providers = { rows: IdentityProvider[]; until: number };
const byIssuer = new BoundedMap<string, Providers>(1_000);

type KeySet = { getKey: JWTVerifyGetKey; kids: Set<string>; fetchedAt: number; until: number };
const keySets = new BoundedMap<string, KeySet>(200);
const secrets = new BoundedMap<string, Uint8Array>(200);

const invalid = (message: string) => new ApiError(401, "invalid_token", message, { retryable: false });

async function providersOf(env: Env, issuer: string, fresh: boolean): Promise<IdentityProvider[]> {
  const now = Date.now();
  const cached = byIssuer.get(issuer);
  if (cached && !fresh && now < cached.until) return cached.rows;
  const rows = await getDb(env).query.identityProviders.findMany({
    where: (p, { and, eq }) => and(eq(p.issuer, issuer), eq(p.isActive, true)),
  });
  byIssuer.delete(issuer);
  byIssuer.set(issuer, { rows, until: now + PROVIDER_TTL_MS });
  return rows;
}

async function fetchKeySet(url: string, cacheSeconds: number): Promise<KeySet> {
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(JWKS_TIMEOUT_MS),
    });
  } catch {
    throw new ApiError(
      503,
      "identity_provider_unavailable",
      "The identity provider's key set could not be fetched.",
    );
  }
  const body = res.ok ? ((await res.json().catch(() => null)) as { keys?: unknown } | null) : null;
  if (!body || !Array.isArray(body.keys)) {
    throw new ApiError(
      503,
      "identity_provider_unavailable",
      `The identity provider's key set at ${url} is not a JWKS.`,
    );
  }
  const jwks = body as { keys: { kid?: string }[] };
  const now = Date.now();
  const set: KeySet = {
    getKey: createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]),
    kids: new Set(jwks.keys.map((k) => k.kid).filter((k): k is string => typeof k === "string")),
    fetchedAt: now,
    until: now + cacheSeconds * 1000,
  };
  keySets.delete(url);
  keySets.set(url, set);
  return set;
}

/** The provider's key set: cached for its configured time, refetched when stale. */
async function keySetOf(provider: IdentityProvider): Promise<KeySet> {
  const url = provider.jwksUrl as string;
  const cached = keySets.get(url);
  if (cached && Date.now() < cached.until) return cached;
  const set = await fetchKeySet(url, provider.jwksCacheSeconds);
  if (cached) {
    // Keys the provider no longer publishes: JWTs they signed are verified again (and refused).
    const gone = new Set([...cached.kids].filter((k) => !set.kids.has(k)));
    if (gone.size > 0) forgetProviderJwts(provider.id, gone);
  }
  return set;
}

async function hsSecret(env: Env, provider: IdentityProvider): Promise<Uint8Array> {
  const ciphertext = provider.secretEncrypted as string;
  let key = secrets.get(ciphertext);
  if (!key) {
    key = new TextEncoder().encode(await decryptSecret(ciphertext, env.ENCRYPTION_KEY));
    secrets.set(ciphertext, key);
  }
  return key;
}

function explain(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof errors.JWTExpired) {
    return new ApiError(401, "token_expired", "The JWT has expired.", { retryable: false });
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    return invalid(`The JWT's '${err.claim}' claim is not accepted: ${err.message}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return invalid("The JWT is signed with an algorithm this identity provider does not use.");
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return invalid("The JWT is signed with a key the identity provider does not publish.");
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return invalid("The JWT's signature is not valid.");
  return invalid("The credential is not a valid JWT.");
}

export type VerifyOptions = {
  /** Re-read the provider from D1 (a user's object said its configuration changed). */
  fresh?: boolean;
  /** Only this project's providers (the exchange endpoint may name one). */
  projectId?: string;
};

/** Verifies a JWT and names the end user's object; throws 401 (`invalid_token`, `token_expired`). */
export async function verifyJwt(env: Env, jwt: string, options: VerifyOptions = {}): Promise<VerifiedJwt> {
  if (jwt.length > MAX_JWT_CHARS) throw invalid(`The JWT is longer than ${MAX_JWT_CHARS} characters.`);
  let issuer: unknown;
  let audience: unknown;
  let kid: string | null = null;
  try {
    const header = decodeProtectedHeader(jwt);
    if (typeof header.alg !== "string" || header.alg.toLowerCase() === "none") {
      throw invalid("Unsigned JWTs are not accepted.");
    }
    kid = typeof header.kid === "string" ? header.kid : null;
    const claims = decodeJwt(jwt);
    issuer = claims.iss;
    audience = claims.aud;
  } catch (err) {
    throw explain(err);
  }
  if (typeof issuer !== "string" || issuer === "") throw invalid("The JWT names no issuer ('iss').");
  const audiences = typeof audience === "string" ? [audience] : Array.isArray(audience) ? audience : [];
  const candidates = (await providersOf(env, issuer, options.fresh ?? false)).filter(
    (p) => audiences.includes(p.audience) && (!options.projectId || p.projectId === options.projectId),
  );
  if (candidates.length === 0)
    throw invalid(`No project trusts JWTs of issuer '${issuer}' for this audience.`);
  if (candidates.length > 1) {
    throw invalid("The JWT's audiences match several projects: exchange it naming the project (project_id).");
  }
  const provider = candidates[0] as IdentityProvider;
  const verifyOptions = {
    issuer,
    audience: provider.audience,
    algorithms: provider.algorithms,
    requiredClaims: ["exp", "sub"],
  };
  let payload: Awaited<ReturnType<typeof jwtVerify>>["payload"];
  try {
    if (provider.jwksUrl) {
      let set = await keySetOf(provider);
      try {
        payload = (await jwtVerify(jwt, set.getKey, verifyOptions)).payload;
      } catch (err) {
        // A key id the cached set lacks: the provider may have rotated a key in. Refetch (rate-limited).
        if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - set.fetchedAt < JWKS_COOLDOWN_MS)
          throw err;
        set = await fetchKeySet(provider.jwksUrl, provider.jwksCacheSeconds);
        payload = (await jwtVerify(jwt, set.getKey, verifyOptions)).payload;
      }
    } else {
      payload = (await jwtVerify(jwt, await hsSecret(env, provider), verifyOptions)).payload;
    }
  } catch (err) {
    throw explain(err);
  }
  const subject = payload.sub;
  if (typeof subject !== "string" || subject === "" || subject.length > MAX_SUBJECT_CHARS) {
    throw invalid(`The JWT's subject ('sub') must be a string of 1 … ${MAX_SUBJECT_CHARS} characters.`);
  }
  const verified: VerifiedJwt = {
    objectKey: await userObjectKey(provider.projectId, issuer, subject),
    credential: {
      kind: "jwt",
      providerId: provider.id,
      providerVersion: provider.updatedAt,
      subject,
      expiresAt: (payload.exp as number) * 1000,
    },
    projectId: provider.projectId,
    kid,
  };
  if (verified.credential.expiresAt > Date.now()) rememberJwt(jwt, verified);
  return verified;
}

/** The management API changed a provider: this isolate forgets it and the JWTs it verified under it. */
export function forgetProvider(provider: Pick<IdentityProvider, "id" | "issuer">): void {
  byIssuer.delete(provider.issuer);
  forgetProviderJwts(provider.id);
}
