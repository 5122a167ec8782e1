import { audited } from "../audit/middleware";
import { decodeCursor, encodeCursor, NameCursor } from "../lib/cursor";
import { DocumentedRoutes } from "../lib/documented-routes";
import { listOf } from "../lib/schemas";
import { getDb } from "../storage/db";
import { listProjects } from "./repo";
import {
  CachePurged,
  Project,
  ProjectCreate,
  ProjectId,
  ProjectListQuery,
  ProjectPatch,
  RevokedCount,
  toProject,
} from "./schema";
import {
  createProject,
  patchProject,
  projectLiveState,
  purgeProjectCache,
  removeProject,
  requireProject,
  revokeProjectTokens,
} from "./service";

const byId = { id: ProjectId };

export const projectRoutes = new DocumentedRoutes("projects")
  .post(
    "/",
    {
      summary: "Create a project",
      body: ProjectCreate,
      response: { status: 201, schema: Project },
      audit: audited("project.create", "project"),
    },
    async (c, { body }) => {
      const project = await createProject(c.env, body);
      c.set("audit", { targetId: project.id, details: { name: project.name } });
      return c.json(toProject(project), 201);
    },
  )
  .get(
    "/",
    { summary: "List projects", query: ProjectListQuery, response: { status: 200, schema: listOf(Project) } },
    async (c, { query: q }) => {
      const after = decodeCursor(q.cursor, NameCursor)?.n;
      const isActive = q.is_active === undefined ? undefined : q.is_active === "true";
      const rows = await listProjects(getDb(c.env), { limit: q.limit, after, isActive });
      const last = rows.length === q.limit ? rows.at(-1) : undefined;
      return c.json({
        data: rows.map((p) => toProject(p)),
        next_cursor: last ? encodeCursor({ n: last.name }) : null,
      });
    },
  )
  .get(
    "/:id",
    { summary: "Get a project", params: byId, response: { status: 200, schema: Project } },
    async (c, { params }) => {
      const project = await requireProject(c.env, params.id);
      return c.json(toProject(project, await projectLiveState(c.env, project)));
    },
  )
  .patch(
    "/:id",
    {
      summary: "Update a project (rotate its key, deactivate…)",
      params: byId,
      body: ProjectPatch,
      response: { status: 200, schema: Project },
      audit: audited("project.update", "project"),
    },
    async (c, { params, body: patch }) => {
      c.set("audit", { details: { fields: Object.keys(patch) } });
      const project = await patchProject(c.env, params.id, patch);
      return c.json(toProject(project, await projectLiveState(c.env, project)));
    },
  )
  .delete(
    "/:id",
    {
      summary: "Delete a project and stop all its tokens",
      params: byId,
      response: { status: 204, description: "Deleted" },
      audit: audited("project.delete", "project"),
    },
    async (c, { params }) => {
      await removeProject(c.env, params.id);
      return c.body(null, 204);
    },
  )
  .post(
    "/:id/tokens/revoke",
    {
      summary: "Revoke every token of a project",
      params: byId,
      response: { status: 200, schema: RevokedCount },
      audit: audited("project.revoke_tokens", "project"),
    },
    async (c, { params }) => {
      const revoked = await revokeProjectTokens(c.env, params.id);
      c.set("audit", { details: { revoked_count: revoked } });
      return c.json({ revoked_count: revoked });
    },
  )
  .delete(
    "/:id/cache",
    {
      summary: "Purge a project's response cache (no entry stored before is served again)",
      params: byId,
      response: { status: 200, schema: CachePurged },
      audit: audited("project.cache_purge", "project"),
    },
    async (c, { params }) => {
      const generation = await purgeProjectCache(c.env, params.id);
      c.set("audit", { details: { cache_generation: generation } });
      return c.json({ cache_generation: generation });
    },
  );
