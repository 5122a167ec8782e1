import { and, eq, or, sql } from "drizzle-orm";
import { sha256Hex } from "../../lib/crypto";
import { toUsd } from "../../limits/budget";
import type { Db } from "../../storage/db";
import { endUsers, identityProviders, projects, tokens, type UserLimits } from "../../storage/schema";
import { acceptedSecrets, loadProjectConfig } from "../../tokens/config-repo";
import type { AcceptedSecret, TokenConfig } from "../../tokens/token-config";

/**
 * What an end user's Durable Object knows: the user, the identity provider that vouches for them, and
 * their limits as a token-shaped configuration (`subject`), so the same decision and counting code serves
 * tokens and users. Every token exchanged for the user's JWTs, and the JWTs used directly, are admitted
 * here: one object per (project, issuer, subject) counts all of them, exactly.
 */
export type UserConfig = {
  userId: string;
  providerId: string;
  /** The provider row's `updated_at`: a JWT verified under an older configuration is re-verified. */
  providerVersion: number;
  providerActive: boolean;
  allowDirect: boolean;
  subject: TokenConfig;
};

/** A token of the user, as the user's object checks it per request (its counting is the user's). */
export type UserToken = {
  tokenId: string;
  expiresAt: number;
  isActive: boolean;
  revokedAt: number | null;
  allowedModels: string[] | null;
  secrets: AcceptedSecret[];
};

/** The name of an end user's object: stable for a (project, issuer, subject), unguessable without them. */
export const userObjectKey = (projectId: string, issuer: string, subject: string): Promise<string> =>
  sha256Hex(`end-user\n${projectId}\n${issuer}\n${subject}`);

export function userSubjectConfig(
  user: { id: string; projectId: string; isActive: boolean; revokedAt: number | null },
  limits: UserLimits | null,
  project: TokenConfig["project"],
): TokenConfig {
  const l = limits ?? {};
  return {
    tokenId: "",
    projectId: user.projectId,
    expiresAt: Number.MAX_SAFE_INTEGER,
    isActive: user.isActive,
    revokedAt: user.revokedAt,
    maxRequests: l.max_requests ?? null,
    rateLimits: l.rate_limit?.length ? l.rate_limit : null,
    maxTotalTokens: l.max_tokens ?? null,
    maxCostUsd: l.max_cost_usd ?? null,
    allowedModels: l.allowed_models ?? null,
    renewing: {
      periodBudgets: l.period_budgets?.length ? l.period_budgets : null,
      timeZone: l.budget_time_zone ?? null,
      tokenWindows: l.token_rate_limit?.length ? l.token_rate_limit : null,
    },
    secrets: [],
    canMint: false,
    project,
  };
}

/** Loads an end user's object configuration, marking the user's object as existing; null if unknown. */
export async function loadUserConfig(db: Db, objectKey: string): Promise<UserConfig | null> {
  const now = Date.now();
  // Three plain selects, no join: a joined select inside a D1 batch mixes up columns of the same name.
  const owner = (column: typeof endUsers.providerId | typeof endUsers.projectId) =>
    sql`(select ${column} from ${endUsers} where ${endUsers.objectKey} = ${objectKey})`;
  const [userRows, providerRows, projectRows] = await db.batch([
    db
      .update(endUsers)
      .set({ firstUsedAt: sql`coalesce(${endUsers.firstUsedAt}, ${now})`, configLoadedAt: now })
      .where(eq(endUsers.objectKey, objectKey))
      .returning(),
    db
      .select()
      .from(identityProviders)
      .where(eq(identityProviders.id, owner(endUsers.providerId))),
    db
      .select()
      .from(projects)
      .where(eq(projects.id, owner(endUsers.projectId))),
  ]);
  const user = userRows[0];
  const provider = providerRows[0];
  const project = projectRows[0];
  if (!user || !provider || !project) return null;
  return {
    userId: user.id,
    providerId: provider.id,
    providerVersion: provider.updatedAt,
    providerActive: provider.isActive,
    allowDirect: provider.allowDirect,
    // The project's routing table: a second read, on the user object's load only (never per request).
    subject: userSubjectConfig(
      user,
      user.limits ?? provider.userLimits,
      await loadProjectConfig(db, project),
    ),
  };
}

/**
 * Records an end user the first time they are seen (a JWT exchanged, or used directly): idempotent, so
 * concurrent first requests in several isolates all end with the same row.
 */
export async function ensureEndUser(
  db: Db,
  user: { projectId: string; providerId: string; subject: string; objectKey: string },
): Promise<string> {
  const now = Date.now();
  await db
    .insert(endUsers)
    .values({ id: crypto.randomUUID(), ...user, createdAt: now, updatedAt: now })
    .onConflictDoNothing();
  const row = await db
    .select({ id: endUsers.id })
    .from(endUsers)
    .where(and(eq(endUsers.providerId, user.providerId), eq(endUsers.subject, user.subject)))
    .get();
  return row!.id;
}

/**
 * Records the user a verified JWT names, the first time its user's object sees it, if its provider still
 * exists; whether a row now exists.
 */
export async function ensureEndUserFor(
  db: Db,
  objectKey: string,
  providerId: string,
  subject: string,
): Promise<boolean> {
  const provider = await db.query.identityProviders.findFirst({ where: (p, { eq }) => eq(p.id, providerId) });
  if (!provider) return false;
  // The name must be the one this user's JWTs lead to: a caller cannot bind a user to another object.
  if ((await userObjectKey(provider.projectId, provider.issuer, subject)) !== objectKey) return false;
  await ensureEndUser(db, { projectId: provider.projectId, providerId, subject, objectKey });
  return true;
}

/** One token of the user by the hash of a secret it accepts (current or rotated away), or null. */
export async function loadUserToken(db: Db, objectKey: string, hash: string): Promise<UserToken | null> {
  const now = Date.now();
  // Stamped like a token's own load: a revocation of this token must reach the user's object (notify.ts).
  const [row] = await db
    .update(tokens)
    .set({ firstUsedAt: sql`coalesce(${tokens.firstUsedAt}, ${now})`, configLoadedAt: now })
    .where(
      and(eq(tokens.objectKey, objectKey), or(eq(tokens.tokenHash, hash), eq(tokens.previousHash, hash))),
    )
    .returning();
  if (!row) return null;
  return {
    tokenId: row.id,
    expiresAt: row.expiresAt,
    isActive: row.isActive,
    revokedAt: row.revokedAt,
    allowedModels: row.allowedModels,
    secrets: acceptedSecrets(row),
  };
}

export async function mirrorUserCounters(
  db: Db,
  userId: string,
  c: { requests: number; tokensUsed: number; costUsedNanos: number; lastUsedAt: number | null },
): Promise<void> {
  await db
    .update(endUsers)
    .set({
      requestCount: c.requests,
      lastUsedAt: c.lastUsedAt,
      totalTokensUsed: c.tokensUsed,
      costUsedUsd: toUsd(c.costUsedNanos),
    })
    .where(eq(endUsers.id, userId));
}
