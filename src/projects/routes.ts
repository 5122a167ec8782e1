import { Hono } from "hono";
import { audited } from "../audit/middleware";
import type { AppEnv } from "../lib/context";
import { decodeCursor, encodeCursor, NameCursor } from "../lib/cursor";
import { readJson, readParam, readQuery } from "../lib/validate";
import { getDb } from "../storage/db";
import { listProjects } from "./repo";
import { ProjectCreate, ProjectId, ProjectListQuery, ProjectPatch, toProject } from "./schema";
import {
  createProject,
  patchProject,
  projectLiveState,
  removeProject,
  requireProject,
  revokeProjectTokens,
} from "./service";

export const projectRoutes = new Hono<AppEnv>()
  .post("/", audited("project.create", "project"), async (c) => {
    const project = await createProject(c.env, await readJson(c, ProjectCreate));
    c.set("audit", { targetId: project.id, details: { name: project.name } });
    return c.json(toProject(project), 201);
  })
  .get("/", async (c) => {
    const q = readQuery(c, ProjectListQuery);
    const after = decodeCursor(q.cursor, NameCursor)?.n;
    const isActive = q.is_active === undefined ? undefined : q.is_active === "true";
    const rows = await listProjects(getDb(c.env), { limit: q.limit, after, isActive });
    const last = rows.length === q.limit ? rows.at(-1) : undefined;
    return c.json({
      data: rows.map((p) => toProject(p)),
      next_cursor: last ? encodeCursor({ n: last.name }) : null,
    });
  })
  .get("/:id", async (c) => {
    const project = await requireProject(c.env, readParam(c, "id", ProjectId));
    return c.json(toProject(project, await projectLiveState(c.env, project)));
  })
  .patch("/:id", audited("project.update", "project"), async (c) => {
    const id = readParam(c, "id", ProjectId);
    const patch = await readJson(c, ProjectPatch);
    c.set("audit", { details: { fields: Object.keys(patch) } });
    const project = await patchProject(c.env, id, patch);
    return c.json(toProject(project, await projectLiveState(c.env, project)));
  })
  .delete("/:id", audited("project.delete", "project"), async (c) => {
    await removeProject(c.env, readParam(c, "id", ProjectId));
    return c.body(null, 204);
  })
  .post("/:id/tokens/revoke", audited("project.revoke_tokens", "project"), async (c) => {
    const revoked = await revokeProjectTokens(c.env, readParam(c, "id", ProjectId));
    c.set("audit", { details: { revoked_count: revoked } });
    return c.json({ revoked_count: revoked });
  });
