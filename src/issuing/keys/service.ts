import { and, desc, eq, gt, isNotNull, isNull, lt, lte, or, type SQL } from "drizzle-orm";
import type { Issuer } from "../../lib/context";
import { ApiError, notFound } from "../../lib/errors";
import { requireProject } from "../../projects/service";
import { getDb } from "../../storage/db";
import { type IssuingKey, issuingKeys } from "../../storage/schema";
import {
  generatePrefixedSecret,
  hashToken,
  isWellFormedPrefixedSecret,
  tokenHint,
} from "../../tokens/secret";
import { checkCeilingsFitProject } from "../ceilings";
import type { IssuingKeyCreate } from "./schema";

/**
 * Issuing keys: what an app's backend holds instead of the MANAGEMENT_TOKEN. A key is bound to one project
 * and can create, list and revoke that project's tokens — within its ceilings — and nothing else (the scope
 * is declared per route, `issuingKey: true` in lib/documented-routes.ts; scope.ts keeps it in its project). Stored like tokens: SHA-256 of a random `ik_` secret with a
 * checksum, shown once.
 */

export const KEY_PREFIX = "ik_";
/** last_used_at is written at most this often per key (a busy backend must not write D1 per call). */
const LAST_USED_EVERY_MS = 60_000;

export async function createIssuingKey(
  env: Env,
  input: IssuingKeyCreate,
): Promise<{ key: IssuingKey; secret: string }> {
  const project = await requireProject(env, input.project_id);
  checkCeilingsFitProject(input.ceilings, project.allowedModels);
  const now = Date.now();
  const expiresAt = input.expires_at ? Date.parse(input.expires_at) : null;
  if (expiresAt !== null && expiresAt <= now) {
    throw new ApiError(400, "validation_error", "expires_at must be in the future.", { param: "expires_at" });
  }
  const secret = generatePrefixedSecret(KEY_PREFIX);
  const [key] = await getDb(env)
    .insert(issuingKeys)
    .values({
      id: crypto.randomUUID(),
      projectId: project.id,
      name: input.name,
      keyHash: await hashToken(secret),
      keyHint: tokenHint(secret),
      ceilings: input.ceilings,
      expiresAt,
      createdAt: now,
      updatedAt: now,
    })
    .returning();
  return { key: key!, secret };
}

export async function requireIssuingKey(env: Env, id: string): Promise<IssuingKey> {
  const key = await getDb(env).select().from(issuingKeys).where(eq(issuingKeys.id, id)).get();
  if (!key) throw notFound("issuing key", id);
  return key;
}

export type KeyFilter = {
  projectId?: string;
  status?: "active" | "revoked" | "expired";
  limit: number;
  cursor?: { createdAt: number; id: string };
};

export async function listIssuingKeys(env: Env, f: KeyFilter, now = Date.now()): Promise<IssuingKey[]> {
  const where: (SQL | undefined)[] = [];
  if (f.projectId) where.push(eq(issuingKeys.projectId, f.projectId));
  if (f.status === "revoked") where.push(isNotNull(issuingKeys.revokedAt));
  if (f.status === "expired") where.push(and(isNull(issuingKeys.revokedAt), lte(issuingKeys.expiresAt, now)));
  if (f.status === "active")
    where.push(
      and(isNull(issuingKeys.revokedAt), or(isNull(issuingKeys.expiresAt), gt(issuingKeys.expiresAt, now))),
    );
  if (f.cursor) {
    const { createdAt, id } = f.cursor;
    where.push(
      or(
        lt(issuingKeys.createdAt, createdAt),
        and(eq(issuingKeys.createdAt, createdAt), lt(issuingKeys.id, id)),
      ),
    );
  }
  return getDb(env)
    .select()
    .from(issuingKeys)
    .where(and(...where))
    .orderBy(desc(issuingKeys.createdAt), desc(issuingKeys.id))
    .limit(f.limit);
}

/** Revokes a key (idempotent): its next call is refused. Tokens it created stay valid. */
export async function revokeIssuingKey(env: Env, id: string): Promise<void> {
  await requireIssuingKey(env, id);
  const now = Date.now();
  await getDb(env)
    .update(issuingKeys)
    .set({ revokedAt: now, updatedAt: now })
    .where(and(eq(issuingKeys.id, id), isNull(issuingKeys.revokedAt)));
}

export const looksLikeIssuingKey = (credential: string) => credential.startsWith(KEY_PREFIX);

/**
 * The issuer an `ik_` credential stands for, or a 401. Checked against D1 on every management call: a
 * revoked key stops at once (the management API is not the hot path).
 */
export async function authenticateIssuingKey(
  env: Env,
  secret: string,
  ctx?: { waitUntil(p: Promise<unknown>): void },
): Promise<Issuer> {
  const refused = (message: string) =>
    new ApiError(401, "unauthorized", message, {
      headers: { "www-authenticate": 'Bearer realm="llm-proxy management"' },
      retryable: false,
    });
  if (!isWellFormedPrefixedSecret(KEY_PREFIX, secret)) throw refused("The issuing key is not valid.");
  const db = getDb(env);
  const key = await db
    .select()
    .from(issuingKeys)
    .where(eq(issuingKeys.keyHash, await hashToken(secret)))
    .get();
  const now = Date.now();
  if (!key) throw refused("The issuing key is not valid.");
  if (key.revokedAt !== null) throw refused("The issuing key has been revoked.");
  if (key.expiresAt !== null && key.expiresAt <= now) throw refused("The issuing key has expired.");
  if (key.lastUsedAt === null || now - key.lastUsedAt > LAST_USED_EVERY_MS) {
    const write = db.update(issuingKeys).set({ lastUsedAt: now }).where(eq(issuingKeys.id, key.id)).run();
    if (ctx)
      ctx.waitUntil(
        write.then(
          () => undefined,
          () => undefined,
        ),
      );
    else await write;
  }
  return {
    actor: `issuing_key:${key.id}`,
    scope: { keyId: key.id, keyName: key.name, projectId: key.projectId, ceilings: key.ceilings },
  };
}
