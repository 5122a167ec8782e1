import { and, asc, eq, gt, type SQL, sql } from "drizzle-orm";
import type { Db } from "../storage/db";
import { type NewProject, type Project, projects, upstreamKeys, upstreams } from "../storage/schema";

/** The project's default upstream (its first), as project responses show it. */
export type DefaultUpstream = {
  provider: string;
  baseUrl: string;
  settings: Record<string, unknown> | null;
  keyHint: string | null;
};
export type ProjectWithUpstream = Project & { upstream: DefaultUpstream | null };

const firstUpstreamId = sql`(select u2.id from ${upstreams} u2 where u2.project_id = ${projects.id} order by u2.position, u2.created_at, u2.id limit 1)`;
const firstKeyHint = sql<
  string | null
>`(select k.key_hint from ${upstreamKeys} k where k.upstream_id = ${upstreams.id} order by k.created_at, k.id limit 1)`;

function selectViews(db: Db) {
  return db
    .select({
      project: projects,
      provider: upstreams.provider,
      baseUrl: upstreams.baseUrl,
      settings: upstreams.settings,
      keyHint: firstKeyHint,
    })
    .from(projects)
    .leftJoin(upstreams, eq(upstreams.id, firstUpstreamId));
}

type ViewRow = {
  project: Project;
  provider: string | null;
  baseUrl: string | null;
  settings: Record<string, unknown> | null;
  keyHint: string | null;
};

const toView = (r: ViewRow): ProjectWithUpstream => ({
  ...r.project,
  upstream:
    r.provider !== null && r.baseUrl !== null
      ? { provider: r.provider, baseUrl: r.baseUrl, settings: r.settings, keyHint: r.keyHint }
      : null,
});

export async function insertProject(db: Db, values: NewProject): Promise<Project> {
  const [row] = await db.insert(projects).values(values).returning();
  return row!;
}

export async function getProject(db: Db, id: string): Promise<Project | undefined> {
  return db.select().from(projects).where(eq(projects.id, id)).get();
}

export async function getProjectWithUpstream(db: Db, id: string): Promise<ProjectWithUpstream | undefined> {
  const row = await selectViews(db).where(eq(projects.id, id)).get();
  return row ? toView(row) : undefined;
}

export async function getProjectByName(db: Db, name: string): Promise<Project | undefined> {
  return db.select().from(projects).where(eq(projects.name, name)).get();
}

/** Ordered by name; the cursor is the last name of the previous page. */
export async function listProjects(
  db: Db,
  opts: { limit: number; after?: string; isActive?: boolean },
): Promise<ProjectWithUpstream[]> {
  const where: SQL[] = [];
  if (opts.after !== undefined) where.push(gt(projects.name, opts.after));
  if (opts.isActive !== undefined) where.push(eq(projects.isActive, opts.isActive));
  const rows = await selectViews(db)
    .where(and(...where))
    .orderBy(asc(projects.name))
    .limit(opts.limit);
  return rows.map(toView);
}

export function updateProjectQuery(db: Db, id: string, patch: Partial<NewProject>) {
  return (
    db
      .update(projects)
      // Strictly growing, even for two changes in one millisecond: token objects order pushed copies by it.
      .set({ ...patch, updatedAt: sql`max(${Date.now()}, ${projects.updatedAt} + 1)` })
      .where(eq(projects.id, id))
      .returning()
  );
}

export async function updateProject(
  db: Db,
  id: string,
  patch: Partial<NewProject>,
): Promise<Project | undefined> {
  const [row] = await updateProjectQuery(db, id, patch);
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
