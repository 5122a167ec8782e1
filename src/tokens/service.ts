import { ApiError, notFound } from "../lib/errors";
import { TokenDefaults } from "../projects/schema";
import { requireProject } from "../projects/service";
import { getDb } from "../storage/db";
import type { NewToken, Token } from "../storage/schema";
import { readTokenObject, reloadTokenObjects } from "./notify";
import * as repo from "./repo";
import { MAX_DURATION_MINUTES, type TokenCreate, type TokenPatch } from "./schema";
import { generateTokenSecret, hashToken, isWellFormedToken, tokenHint } from "./secret";

const DEFAULT_DURATION_MINUTES = 60;
const MINUTE = 60_000;

function expiryFrom(
  input: { duration_minutes?: number; expires_at?: string },
  now: number,
): number | undefined {
  if (input.duration_minutes !== undefined) return now + input.duration_minutes * MINUTE;
  if (input.expires_at === undefined) return undefined;
  const at = Date.parse(input.expires_at);
  if (at <= now)
    throw new ApiError(400, "validation_error", "expires_at must be in the future.", { param: "expires_at" });
  if (at > now + MAX_DURATION_MINUTES * MINUTE) {
    throw new ApiError(
      400,
      "validation_error",
      `expires_at must be at most one year (${MAX_DURATION_MINUTES} minutes) from now.`,
      {
        param: "expires_at",
      },
    );
  }
  return at;
}

type LimitInput = Pick<
  TokenCreate,
  "max_requests" | "rate_limit" | "max_tokens" | "max_cost_usd" | "allowed_models"
>;

function limitValues(input: LimitInput): Partial<NewToken> {
  const values: Partial<NewToken> = {};
  if (input.max_requests !== undefined) values.maxRequests = input.max_requests;
  if (input.rate_limit !== undefined) values.rateLimits = input.rate_limit;
  if (input.max_tokens !== undefined) values.maxTotalTokens = input.max_tokens;
  if (input.max_cost_usd !== undefined) values.maxCostUsd = input.max_cost_usd;
  if (input.allowed_models !== undefined) values.allowedModels = input.allowed_models;
  return values;
}

/** Creates a token; the secret is returned here and never again. No Durable Object is touched. */
export async function createToken(env: Env, input: TokenCreate): Promise<{ token: Token; secret: string }> {
  const project = await requireProject(env, input.project_id);
  if (!project.isActive) {
    throw new ApiError(
      409,
      "conflict",
      `Project '${project.name}' is deactivated; activate it to create tokens.`,
      {
        param: "project_id",
      },
    );
  }
  const now = Date.now();
  // Stored defaults were validated on the way in; a row from before that validation is ignored, not trusted.
  const parsed = TokenDefaults.safeParse(project.tokenDefaults ?? {});
  const defaults = parsed.success ? parsed.data : {};
  const defaultMinutes = defaults.duration_minutes ?? DEFAULT_DURATION_MINUTES;
  const secret = await generateTokenSecret(env);
  const token = await repo.insertToken(getDb(env), {
    id: crypto.randomUUID(),
    tokenHash: await hashToken(secret),
    tokenHint: tokenHint(secret),
    projectId: project.id,
    name: input.name ?? null,
    metadata: input.metadata ?? null,
    cacheAllowed: input.cache ?? true,
    expiresAt: expiryFrom(input, now) ?? now + defaultMinutes * MINUTE,
    // The project's defaults first, then whatever the request sets itself (null included: "no limit").
    ...limitValues(defaults),
    ...limitValues(input),
    createdAt: now,
    updatedAt: now,
  });
  return { token, secret };
}

export async function requireToken(env: Env, id: string): Promise<Token> {
  const token = await repo.getToken(getDb(env), id);
  if (!token) throw notFound("token", id);
  return token;
}

/** Live counters come from the token's object only if it exists; otherwise nothing was used yet. */
export async function liveState(env: Env, token: Token) {
  return token.firstUsedAt === null ? undefined : readTokenObject(env, token.tokenHash);
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
 * Revokes by id. Revoking a revoked token changes nothing in D1 but tells its object again: a retry after
 * a revoke whose reload call failed (the client saw an error) must still stop the token.
 */
export async function revokeToken(env: Env, id: string): Promise<void> {
  const revoked = await repo.revokeTokens(getDb(env), { id });
  await reloadTokenObjects(env, revoked.length > 0 ? revoked : [await requireToken(env, id)]);
}

/** Revokes by the secret itself (the original API); unknown secrets are a 404. Returns the token's id. */
export async function revokeTokenBySecret(env: Env, secret: string): Promise<string> {
  const notKnown = new ApiError(404, "not_found", "No token matches the given value.", { param: "token" });
  if (!isWellFormedToken(secret)) throw notKnown;
  const tokenHash = await hashToken(secret);
  const db = getDb(env);
  let changed = await repo.revokeTokens(db, { tokenHash });
  if (changed.length === 0) {
    // Already revoked: tell its object again, as revokeToken does.
    changed = await db.query.tokens.findMany({
      where: (t, { eq }) => eq(t.tokenHash, tokenHash),
      limit: 1,
    });
    if (changed.length === 0) throw notKnown;
  }
  await reloadTokenObjects(env, changed);
  return changed[0]!.id;
}
