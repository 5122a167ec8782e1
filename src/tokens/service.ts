import { tellParent } from "../issuing/children";
import { ApiError, notFound } from "../lib/errors";
import { getDb } from "../storage/db";
import type { NewToken, Token } from "../storage/schema";
import { expiryFrom, limitValues } from "./create";
import { readTokenObject, reloadTokenObjects, revokeTokenObjects } from "./notify";
import { tokenTree } from "./object-repo";
import * as repo from "./repo";
import type { TokenPatch } from "./schema";
import { generateTokenSecret, hashToken, isWellFormedToken, tokenHint } from "./secret";

export async function requireToken(env: Env, id: string): Promise<Token> {
  const token = await repo.getToken(getDb(env), id);
  if (!token) throw notFound("token", id);
  return token;
}

/** Live counters come from the token's object only if it exists; otherwise nothing was used yet. */
export async function liveState(env: Env, token: Token) {
  return token.firstUsedAt === null ? undefined : readTokenObject(env, token.objectKey);
}

export async function patchToken(env: Env, id: string, patch: TokenPatch): Promise<Token> {
  const current = await requireToken(env, id);
  if (patch.is_active === true && current.revokedAt !== null) {
    throw new ApiError(
      409,
      "conflict",
      "A revoked token cannot be reactivated; create a new token instead.",
      {
        param: "is_active",
      },
    );
  }
  const values: Partial<NewToken> = limitValues(patch);
  if (patch.name !== undefined) values.name = patch.name;
  if (patch.metadata !== undefined) values.metadata = patch.metadata;
  if (patch.is_active !== undefined) values.isActive = patch.is_active;
  if (patch.cache !== undefined) values.cacheAllowed = patch.cache;
  const expiresAt = expiryFrom(patch, Date.now());
  if (expiresAt !== undefined) values.expiresAt = expiresAt;

  const updated = await repo.updateToken(getDb(env), id, values);
  if (!updated) throw notFound("token", id);
  await reloadTokenObjects(env, [updated]);
  return updated;
}

/**
 * Revokes by id, with every token carved from it. Revoking a revoked token changes nothing in D1 but tells
 * the objects again: a retry after a revoke whose reload call failed (the client saw an error) must still
 * stop the token and its children.
 */
export async function revokeToken(env: Env, id: string): Promise<void> {
  const db = getDb(env);
  const revoked = await repo.revokeTokens(db, { id });
  if (revoked.length === 0) await requireToken(env, id);
  await revokeTokenObjects(env, revoked.length > 0 ? revoked : await tokenTree(db, id));
  await tellParent(env, id);
}

/** The token a secret belongs to (current, or replaced by a rotation); unknown secrets are a 404. */
export async function findTokenBySecret(env: Env, secret: string): Promise<Token> {
  const notKnown = new ApiError(404, "not_found", "No token matches the given value.", { param: "token" });
  if (!isWellFormedToken(secret)) throw notKnown;
  const tokenHash = await hashToken(secret);
  const match = await getDb(env).query.tokens.findFirst({
    where: (t, { eq, or }) => or(eq(t.tokenHash, tokenHash), eq(t.previousHash, tokenHash)),
  });
  if (!match) throw notKnown;
  return match;
}

/** Revokes by the secret itself (the original API); unknown secrets are a 404. Returns the token's id. */
export async function revokeTokenBySecret(env: Env, secret: string): Promise<string> {
  const match = await findTokenBySecret(env, secret);
  await revokeToken(env, match.id);
  return match.id;
}

/**
 * Gives a token a new secret. The old one keeps working for `graceSeconds` (0: stops now), so clients can
 * switch without a gap; counters, budgets and windows stay where they are (the new secret is routed to the
 * token's own object). Only one previous secret is kept: rotating again ends the earlier grace at once.
 */
export async function rotateToken(
  env: Env,
  id: string,
  graceSeconds: number,
): Promise<{ token: Token; secret: string }> {
  const current = await requireToken(env, id);
  if (current.revokedAt !== null || !current.isActive) {
    throw new ApiError(409, "conflict", "A revoked or deactivated token cannot be rotated.", { param: "id" });
  }
  const now = Date.now();
  const secret = await generateTokenSecret(env, current.objectKey);
  const updated = await repo.updateToken(getDb(env), id, {
    tokenHash: await hashToken(secret),
    tokenHint: tokenHint(secret),
    previousHash: current.tokenHash,
    previousValidUntil: now + graceSeconds * 1000,
  });
  if (!updated) throw notFound("token", id);
  await reloadTokenObjects(env, [updated]);
  return { token: updated, secret };
}
