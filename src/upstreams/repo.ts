import { and, asc, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "../storage/db";
import {
  type ModelAlias,
  modelAliases,
  type NewModelAlias,
  type NewUpstream,
  type NewUpstreamKey,
  type Upstream,
  type UpstreamKey,
  upstreamKeys,
  upstreams,
} from "../storage/schema";

const byPosition = [asc(upstreams.position), asc(upstreams.createdAt), asc(upstreams.id)] as const;

export async function listUpstreams(db: Db, projectId: string): Promise<Upstream[]> {
  return db
    .select()
    .from(upstreams)
    .where(eq(upstreams.projectId, projectId))
    .orderBy(...byPosition);
}

/** Every key of the project's upstreams, oldest first. */
export async function keysOfProject(db: Db, projectId: string): Promise<UpstreamKey[]> {
  const rows = await db
    .select({ key: upstreamKeys })
    .from(upstreamKeys)
    .innerJoin(upstreams, eq(upstreams.id, upstreamKeys.upstreamId))
    .where(eq(upstreams.projectId, projectId))
    .orderBy(asc(upstreamKeys.createdAt), asc(upstreamKeys.id));
  return rows.map((r) => r.key);
}

export async function keysOfUpstream(db: Db, upstreamId: string): Promise<UpstreamKey[]> {
  return db
    .select()
    .from(upstreamKeys)
    .where(eq(upstreamKeys.upstreamId, upstreamId))
    .orderBy(asc(upstreamKeys.createdAt), asc(upstreamKeys.id));
}

export async function getUpstream(db: Db, id: string): Promise<Upstream | undefined> {
  return db.select().from(upstreams).where(eq(upstreams.id, id)).get();
}

/** The project's first upstream (lowest position): the one the old project fields act on. */
export async function defaultUpstream(db: Db, projectId: string): Promise<Upstream | undefined> {
  return db
    .select()
    .from(upstreams)
    .where(eq(upstreams.projectId, projectId))
    .orderBy(...byPosition)
    .limit(1)
    .get();
}

export async function nextPosition(db: Db, projectId: string): Promise<number> {
  const row = await db
    .select({ max: sql<number | null>`max(${upstreams.position})` })
    .from(upstreams)
    .where(eq(upstreams.projectId, projectId))
    .get();
  return row?.max === null || row?.max === undefined ? 0 : row.max + 1;
}

export async function countUpstreams(db: Db, projectId: string): Promise<number> {
  const row = await db
    .select({ n: sql<number>`count(*)` })
    .from(upstreams)
    .where(eq(upstreams.projectId, projectId))
    .get();
  return row?.n ?? 0;
}

/** Inserts an upstream and its keys in one batch. */
export async function insertUpstream(db: Db, upstream: NewUpstream, keys: NewUpstreamKey[]): Promise<void> {
  const insertKeys = keys.length > 0 ? [db.insert(upstreamKeys).values(keys)] : [];
  await db.batch([db.insert(upstreams).values(upstream), ...insertKeys]);
}

/** `ifBaseUrl`: only while the upstream still has that base URL (a compare-and-set; see patchUpstream). */
export function updateUpstreamQuery(db: Db, id: string, patch: Partial<NewUpstream>, ifBaseUrl?: string) {
  return db
    .update(upstreams)
    .set({ ...patch, updatedAt: Date.now() })
    .where(and(eq(upstreams.id, id), ifBaseUrl === undefined ? undefined : eq(upstreams.baseUrl, ifBaseUrl)))
    .returning({ id: upstreams.id });
}

export async function deleteUpstream(db: Db, id: string): Promise<void> {
  await db.delete(upstreams).where(eq(upstreams.id, id));
}

export function insertKeysQuery(db: Db, keys: NewUpstreamKey[]) {
  return db.insert(upstreamKeys).values(keys);
}

export function deleteKeysOfUpstreamQuery(db: Db, upstreamId: string) {
  return db.delete(upstreamKeys).where(eq(upstreamKeys.upstreamId, upstreamId));
}

export async function getKey(db: Db, upstreamId: string, keyId: string): Promise<UpstreamKey | undefined> {
  return db
    .select()
    .from(upstreamKeys)
    .where(and(eq(upstreamKeys.id, keyId), eq(upstreamKeys.upstreamId, upstreamId)))
    .get();
}

export async function updateKey(
  db: Db,
  keyId: string,
  patch: Partial<NewUpstreamKey>,
): Promise<UpstreamKey | undefined> {
  const [row] = await db
    .update(upstreamKeys)
    .set({ ...patch, updatedAt: Date.now() })
    .where(eq(upstreamKeys.id, keyId))
    .returning();
  return row;
}

export async function deleteKey(db: Db, keyId: string): Promise<void> {
  await db.delete(upstreamKeys).where(eq(upstreamKeys.id, keyId));
}

/**
 * Marks a key the upstream refused (401/403) as failing, once: the proxy calls it off the hot path, and
 * only the first report of each failure writes. Returns whether this call marked it.
 */
export async function markKeyFailing(db: Db, keyId: string, reason: string, at: number): Promise<boolean> {
  const rows = await db
    .update(upstreamKeys)
    .set({ failingAt: at, failingReason: reason.slice(0, 200) })
    .where(and(eq(upstreamKeys.id, keyId), isNull(upstreamKeys.failingAt)))
    .returning({ id: upstreamKeys.id });
  return rows.length > 0;
}

export async function listAliases(db: Db, projectId: string): Promise<ModelAlias[]> {
  return db
    .select()
    .from(modelAliases)
    .where(eq(modelAliases.projectId, projectId))
    .orderBy(asc(modelAliases.name));
}

export async function getAlias(db: Db, id: string): Promise<ModelAlias | undefined> {
  return db.select().from(modelAliases).where(eq(modelAliases.id, id)).get();
}

export async function insertAlias(db: Db, alias: NewModelAlias): Promise<ModelAlias> {
  const [row] = await db.insert(modelAliases).values(alias).returning();
  return row!;
}

export function updateAliasQuery(db: Db, id: string, patch: Partial<NewModelAlias>) {
  return db
    .update(modelAliases)
    .set({ ...patch, updatedAt: Date.now() })
    .where(eq(modelAliases.id, id));
}

export async function deleteAlias(db: Db, id: string): Promise<void> {
  await db.delete(modelAliases).where(eq(modelAliases.id, id));
}

/** The project a key belongs to (through its upstream), if the key still exists. */
export async function projectOfKey(db: Db, keyId: string): Promise<string | undefined> {
  const row = await db
    .select({ projectId: upstreams.projectId })
    .from(upstreamKeys)
    .innerJoin(upstreams, eq(upstreams.id, upstreamKeys.upstreamId))
    .where(eq(upstreamKeys.id, keyId))
    .get();
  return row?.projectId;
}
