import { and, asc, eq, gt, type SQL, sql } from "drizzle-orm";
import type { Db } from "../storage/db";
import { type NewProject, type Project, projects } from "../storage/schema";

export async function insertProject(db: Db, values: NewProject): Promise<Project> {
  const [row] = await db.insert(projects).values(values).returning();
  return row!;
}

export async function getProject(db: Db, id: string): Promise<Project | undefined> {
  return db.select().from(projects).where(eq(projects.id, id)).get();
}

export async function getProjectByName(db: Db, name: string): Promise<Project | undefined> {
  return db.select().from(projects).where(eq(projects.name, name)).get();
}

/** Ordered by name; the cursor is the last name of the previous page. */
export async function listProjects(
  db: Db,
  opts: { limit: number; after?: string; isActive?: boolean },
): Promise<Project[]> {
  const where: SQL[] = [];
  if (opts.after !== undefined) where.push(gt(projects.name, opts.after));
  if (opts.isActive !== undefined) where.push(eq(projects.isActive, opts.isActive));
  return db
    .select()
    .from(projects)
    .where(and(...where))
    .orderBy(asc(projects.name))
    .limit(opts.limit);
}

/** `ifBaseUrl`: only while the base URL is still this one (a check made on it then still holds). */
export async function updateProject(
  db: Db,
  id: string,
  patch: Partial<NewProject>,
  ifBaseUrl?: string,
): Promise<Project | undefined> {
  const [row] = await db
    .update(projects)
    // Strictly growing, even for two changes in one millisecond: token objects order pushed copies by it.
    .set({ ...patch, updatedAt: sql`max(${Date.now()}, ${projects.updatedAt} + 1)` })
    .where(and(eq(projects.id, id), ifBaseUrl === undefined ? undefined : eq(projects.baseUrl, ifBaseUrl)))
    .returning();
  return row;
}

export async function deleteProject(db: Db, id: string): Promise<boolean> {
  const rows = await db.delete(projects).where(eq(projects.id, id)).returning({ id: projects.id });
  return rows.length > 0;
}

/** Adds one to the project's cache generation in one statement (concurrent purges each count); the new value. */
export async function bumpCacheGeneration(db: Db, id: string): Promise<Project | undefined> {
  const [row] = await db
    .update(projects)
    // updated_at strictly grows, as in updateProject: token objects order pushed copies by it.
    .set({
      cacheGeneration: sql`${projects.cacheGeneration} + 1`,
      updatedAt: sql`max(${Date.now()}, ${projects.updatedAt} + 1)`,
    })
    .where(eq(projects.id, id))
    .returning();
  return row;
}
