import { and, count, desc, eq, gt, gte, inArray, isNull, lt, or, type SQL } from "drizzle-orm";
import { encryptSecret } from "../../lib/crypto";
import { ApiError, notFound } from "../../lib/errors";
import { requireProject } from "../../projects/service";
import { getDb } from "../../storage/db";
import {
  type EndUser,
  endUsers,
  type IdentityProvider,
  identityProviders,
  tokens,
} from "../../storage/schema";
import { loadedSince, notifyTokens, readTokenObject, reloadTokenObjects } from "../../tokens/notify";
import { forgetProviderJwts } from "./jwt-cache";
import {
  type IdentityProviderCreate,
  type IdentityProviderPatch,
  JWKS_ALGORITHMS,
  type UserPatch,
} from "./schema";

/**
 * Identity providers a project trusts, and the end users they vouch for. Every change that affects what a
 * user's object decides (the provider's keys, limits or state; a user revoked or given other limits)
 * reloads the objects of the users concerned before the call returns, like a token change.
 */

function isUnique(err: unknown): boolean {
  const text = String(err instanceof Error ? `${err.message} ${err.cause ?? ""}` : err);
  return /UNIQUE constraint failed: identity_providers/i.test(text);
}

const taken = () =>
  new ApiError(
    409,
    "conflict",
    "A provider with this issuer and audience is already trusted (by this or another project).",
    {
      param: "audience",
    },
  );

export async function createProvider(env: Env, input: IdentityProviderCreate): Promise<IdentityProvider> {
  await requireProject(env, input.project_id);
  const now = Date.now();
  try {
    const [row] = await getDb(env)
      .insert(identityProviders)
      .values({
        id: crypto.randomUUID(),
        projectId: input.project_id,
        name: input.name,
        issuer: input.issuer,
        audience: input.audience,
        jwksUrl: input.jwks_url ?? null,
        secretEncrypted: input.hs256_secret
          ? await encryptSecret(input.hs256_secret, env.ENCRYPTION_KEY)
          : null,
        algorithms: input.algorithms ?? (input.jwks_url ? ["RS256", "ES256"] : ["HS256"]),
        allowDirect: input.allow_direct ?? false,
        userLimits: input.user_limits ?? null,
        tokenDurationMinutes: input.token_duration_minutes ?? 60,
        maxTokenDurationMinutes: input.max_token_duration_minutes ?? 1440,
        maxActiveTokensPerUser: input.max_active_tokens_per_user ?? 10,
        jwksCacheSeconds: input.jwks_cache_seconds ?? 600,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    return row!;
  } catch (err) {
    if (isUnique(err)) throw taken();
    throw err;
  }
}

export async function requireProvider(env: Env, id: string): Promise<IdentityProvider> {
  const row = await getDb(env).select().from(identityProviders).where(eq(identityProviders.id, id)).get();
  if (!row) throw notFound("identity provider", id);
  return row;
}

export async function listProviders(
  env: Env,
  f: { projectId?: string; limit: number; cursor?: { createdAt: number; id: string } },
): Promise<IdentityProvider[]> {
  const where: (SQL | undefined)[] = [];
  if (f.projectId) where.push(eq(identityProviders.projectId, f.projectId));
  if (f.cursor) {
    const { createdAt, id } = f.cursor;
    where.push(
      or(
        lt(identityProviders.createdAt, createdAt),
        and(eq(identityProviders.createdAt, createdAt), lt(identityProviders.id, id)),
      ),
    );
  }
  return getDb(env)
    .select()
    .from(identityProviders)
    .where(and(...where))
    .orderBy(desc(identityProviders.createdAt), desc(identityProviders.id))
    .limit(f.limit);
}

/**
 * Objects of a provider's (or project's) users that may still decide from a configuration they read within
 * CONFIG_MAX_AGE_SECONDS (+ margin): those must hear of a change. The others re-read D1 before their next
 * decision (notify.ts `loadedSince`), so a provider with 100 000 users wakes only the recently active ones.
 * A query (awaited, or run in a batch), not a promise.
 */
export function liveUsers(env: Env, where: { providerId: string } | { projectId: string }) {
  return getDb(env)
    .select({ objectKey: endUsers.objectKey, configLoadedAt: endUsers.configLoadedAt })
    .from(endUsers)
    .where(
      and(
        "providerId" in where
          ? eq(endUsers.providerId, where.providerId)
          : eq(endUsers.projectId, where.projectId),
        gte(endUsers.configLoadedAt, loadedSince(env)),
      ),
    );
}

export async function patchProvider(
  env: Env,
  id: string,
  patch: IdentityProviderPatch,
): Promise<IdentityProvider> {
  const current = await requireProvider(env, id);
  const values: Partial<IdentityProvider> = { updatedAt: Math.max(Date.now(), current.updatedAt + 1) };
  if (patch.name !== undefined) values.name = patch.name;
  if (patch.issuer !== undefined) values.issuer = patch.issuer;
  if (patch.audience !== undefined) values.audience = patch.audience;
  if (patch.jwks_url !== undefined) {
    values.jwksUrl = patch.jwks_url;
    values.secretEncrypted = null;
    if (!patch.algorithms && current.algorithms.some((a) => a.startsWith("HS")))
      values.algorithms = ["RS256", "ES256"];
  }
  if (patch.hs256_secret !== undefined) {
    values.secretEncrypted = await encryptSecret(patch.hs256_secret, env.ENCRYPTION_KEY);
    values.jwksUrl = null;
    if (
      !patch.algorithms &&
      current.algorithms.some((a) => (JWKS_ALGORITHMS as readonly string[]).includes(a))
    )
      values.algorithms = ["HS256"];
  }
  if (patch.algorithms !== undefined) values.algorithms = patch.algorithms;
  if (patch.allow_direct !== undefined) values.allowDirect = patch.allow_direct;
  if (patch.user_limits !== undefined) values.userLimits = patch.user_limits;
  if (patch.token_duration_minutes !== undefined) values.tokenDurationMinutes = patch.token_duration_minutes;
  if (patch.max_token_duration_minutes !== undefined)
    values.maxTokenDurationMinutes = patch.max_token_duration_minutes;
  if (patch.max_active_tokens_per_user !== undefined)
    values.maxActiveTokensPerUser = patch.max_active_tokens_per_user;
  if (patch.jwks_cache_seconds !== undefined) values.jwksCacheSeconds = patch.jwks_cache_seconds;
  if (patch.is_active !== undefined) values.isActive = patch.is_active;
  const kind = (values.jwksUrl ?? current.jwksUrl) ? "jwks" : "secret";
  const algorithms = values.algorithms ?? current.algorithms;
  if (algorithms.some((a) => a.startsWith("HS")) !== (kind === "secret")) {
    throw new ApiError(
      400,
      "validation_error",
      "The algorithms do not match the provider's keys (JWKS: asymmetric; secret: HS*).",
      {
        param: "algorithms",
      },
    );
  }
  let updated: IdentityProvider | undefined;
  try {
    [updated] = await getDb(env)
      .update(identityProviders)
      .set(values)
      .where(eq(identityProviders.id, id))
      .returning();
  } catch (err) {
    if (isUnique(err)) throw taken();
    throw err;
  }
  if (!updated) throw notFound("identity provider", id);
  forgetProviderJwts(id);
  // Every user of the provider at once: pushed through the relay tree (notify.ts), each object re-reading
  // D1 — one invocation calling them all would run out of subrequests for a large provider.
  await notifyTokens(env, await liveUsers(env, { providerId: id }), { kind: "reload" });
  return updated;
}

/** Deletes a provider: its users and their tokens stop at once. */
export async function deleteProvider(env: Env, id: string): Promise<void> {
  await requireProvider(env, id);
  const db = getDb(env);
  const ids = db.select({ id: endUsers.id }).from(endUsers).where(eq(endUsers.providerId, id));
  // The users to tell are listed in the deletion's own transaction (the deletion takes their rows with it):
  // a user's object reads its provider and stamps `configLoadedAt` in one transaction too, so it either
  // read before (and is listed) or finds the provider gone. Listed any earlier, a user whose object read
  // the provider in between would go on admitting its JWTs for up to CONFIG_MAX_AGE_SECONDS.
  const [users] = await db.batch([
    liveUsers(env, { providerId: id }),
    db
      .update(tokens)
      .set({ isActive: false, revokedAt: Date.now() })
      .where(and(inArray(tokens.endUserId, ids), isNull(tokens.revokedAt))),
    db.delete(identityProviders).where(eq(identityProviders.id, id)),
  ]);
  forgetProviderJwts(id);
  // A user's object re-reads D1 on the push and finds its provider gone: it refuses from then on.
  await notifyTokens(env, users, { kind: "reload" });
}

export async function requireUser(env: Env, id: string): Promise<EndUser> {
  const row = await getDb(env).select().from(endUsers).where(eq(endUsers.id, id)).get();
  if (!row) throw notFound("user", id);
  return row;
}

export async function listUsers(
  env: Env,
  f: {
    projectId?: string;
    providerId?: string;
    subject?: string;
    limit: number;
    cursor?: { createdAt: number; id: string };
  },
): Promise<EndUser[]> {
  const where: (SQL | undefined)[] = [];
  if (f.projectId) where.push(eq(endUsers.projectId, f.projectId));
  if (f.providerId) where.push(eq(endUsers.providerId, f.providerId));
  if (f.subject) where.push(eq(endUsers.subject, f.subject));
  if (f.cursor) {
    const { createdAt, id } = f.cursor;
    where.push(
      or(lt(endUsers.createdAt, createdAt), and(eq(endUsers.createdAt, createdAt), lt(endUsers.id, id))),
    );
  }
  return getDb(env)
    .select()
    .from(endUsers)
    .where(and(...where))
    .orderBy(desc(endUsers.createdAt), desc(endUsers.id))
    .limit(f.limit);
}

export async function userLiveState(env: Env, user: EndUser) {
  return user.firstUsedAt === null ? undefined : readTokenObject(env, user.objectKey);
}

export async function patchUser(env: Env, id: string, patch: UserPatch): Promise<EndUser> {
  await requireUser(env, id);
  const now = Date.now();
  const values: Partial<EndUser> = { updatedAt: now };
  if (patch.is_active !== undefined) {
    values.isActive = patch.is_active;
    values.revokedAt = patch.is_active ? null : now;
  }
  if (patch.limits !== undefined) values.limits = patch.limits;
  const [updated] = await getDb(env).update(endUsers).set(values).where(eq(endUsers.id, id)).returning();
  if (!updated) throw notFound("user", id);
  await reloadTokenObjects(env, [updated]);
  return updated;
}

/** Exchanged tokens of a user still alive: bounded per provider so a user cannot fill the table. */
export async function activeTokensOfUser(env: Env, userId: string): Promise<number> {
  const row = await getDb(env)
    .select({ n: count() })
    .from(tokens)
    .where(and(eq(tokens.endUserId, userId), isNull(tokens.revokedAt), gt(tokens.expiresAt, Date.now())))
    .get();
  return row?.n ?? 0;
}
