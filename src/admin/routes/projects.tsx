import { Hono } from "hono";
import { decodeCursor, encodeCursor, NameCursor } from "../../lib/cursor";
import { parseWith, readParam } from "../../lib/validate";
import { listProjects } from "../../projects/repo";
import { ProjectCreate, ProjectId, ProjectPatch, toProject } from "../../projects/schema";
import {
  createProject,
  patchProject,
  projectLiveState,
  purgeProjectCache,
  removeProject,
  requireProject,
  revokeProjectTokens,
} from "../../projects/service";
import { getDb } from "../../storage/db";
import type { AdminEnv } from "../context";
import { audited, changedOnly, errorText, flashFrom, readForm, saveChanges, setActive } from "../forms";
import { cacheChoices, formErrors, projectFields, projectValues } from "../project-form";
import { isRange } from "../ranges";
import { activeTokenCountOfProject, tokenCountsByProject, usageSeries } from "../stats";
import { ConfirmPage } from "../views/common";
import { ProjectForm } from "../views/project-form";
import { ProjectDetail, ProjectList } from "../views/projects";

/** Projects per page of the list, in name order (their ids go to D1 as bound parameters: at most 100). */
const PAGE = 50;

export const projectRoutes = new Hono<AdminEnv>()
  .get("/", async (c) => {
    const after = decodeCursor(c.req.query("cursor") || undefined, NameCursor)?.n;
    const db = getDb(c.env);
    const rows = await listProjects(db, { limit: PAGE, after });
    const counts = await tokenCountsByProject(
      db,
      rows.map((p) => p.id),
    );
    const last = rows.length === PAGE ? rows.at(-1) : undefined;
    return c.html(
      <ProjectList
        csrf={c.get("session").csrf}
        flash={flashFrom(c)}
        projects={rows}
        counts={counts}
        paged={after !== undefined}
        nextCursor={last ? encodeCursor({ n: last.name }) : undefined}
      />,
    );
  })
  .get("/new", (c) =>
    c.html(
      <ProjectForm
        csrf={c.get("session").csrf}
        values={{ provider: "openai" }}
        cacheChoices={cacheChoices}
      />,
    ),
  )
  .post("/", async (c) => {
    const form = await readForm(c);
    try {
      const { description, metadata, ...rest } = projectFields(form);
      const input = parseWith(
        ProjectCreate,
        {
          ...rest,
          api_key: form.api_key ?? "",
          description: description ?? undefined,
          metadata: metadata ?? undefined,
        },
        "form",
      );
      const project = await audited(
        c,
        "project.create",
        "project",
        null,
        () => createProject(c.env, input),
        (p) => ({
          targetId: p.id,
          details: { name: p.name },
        }),
      );
      return c.redirect(`/admin/projects/${project.id}?msg=project_created`, 303);
    } catch (err) {
      const values = { ...form, api_key: "" };
      return c.html(
        <ProjectForm
          csrf={c.get("session").csrf}
          values={values}
          cacheChoices={cacheChoices}
          errors={formErrors(err)}
          error={errorText(err)}
        />,
        400,
      );
    }
  })
  .get("/:id", async (c) => {
    const project = await requireProject(c.env, readParam(c, "id", ProjectId));
    const q = c.req.query("range");
    const range = isRange(q) ? q : "day";
    const db = getDb(c.env);
    const [counts, series, live] = await Promise.all([
      tokenCountsByProject(db, [project.id]),
      usageSeries(db, range, { projectId: project.id }),
      // The page still renders if a token's object cannot be reached; the caps then show without counters.
      projectLiveState(c.env, project).catch(() => null),
    ]);
    return c.html(
      <ProjectDetail
        csrf={c.get("session").csrf}
        flash={flashFrom(c)}
        project={project}
        usage={toProject(project, live).usage}
        counts={counts.get(project.id) ?? { active: 0, total: 0 }}
        range={range}
        series={series}
      />,
    );
  })
  .get("/:id/edit", async (c) => {
    const p = await requireProject(c.env, readParam(c, "id", ProjectId));
    const values = projectValues(p);
    return c.html(
      <ProjectForm csrf={c.get("session").csrf} project={p} values={values} cacheChoices={cacheChoices} />,
    );
  })
  .post("/:id", async (c) => {
    const project = await requireProject(c.env, readParam(c, "id", ProjectId));
    const form = await readForm(c);
    try {
      const parsed = parseWith(ProjectPatch, projectFields(form), "form");
      return await saveChanges(c, "project", project.id, changedOnly(parsed, toProject(project)), (patch) =>
        patchProject(c.env, project.id, patch),
      );
    } catch (err) {
      return c.html(
        <ProjectForm
          csrf={c.get("session").csrf}
          project={project}
          values={form}
          cacheChoices={cacheChoices}
          errors={formErrors(err)}
          error={errorText(err)}
        />,
        400,
      );
    }
  })
  .post("/:id/active", (c) => {
    const id = readParam(c, "id", ProjectId);
    return setActive(c, "project", id, (patch) => patchProject(c.env, id, patch));
  })
  .post("/:id/key", async (c) => {
    const project = await requireProject(c.env, readParam(c, "id", ProjectId));
    const form = await readForm(c);
    try {
      const patch = parseWith(ProjectPatch, { api_key: form.api_key ?? "" }, "form");
      await audited(c, "project.rotate_key", "project", project.id, () =>
        patchProject(c.env, project.id, patch),
      );
      return c.redirect(`/admin/projects/${project.id}?msg=key_rotated`, 303);
    } catch (err) {
      const db = getDb(c.env);
      const [counts, series] = await Promise.all([
        tokenCountsByProject(db, [project.id]),
        usageSeries(db, "day", { projectId: project.id }),
      ]);
      return c.html(
        <ProjectDetail
          csrf={c.get("session").csrf}
          flash={{ kind: "error", text: `The key was not changed: ${errorText(err)}` }}
          project={project}
          counts={counts.get(project.id) ?? { active: 0, total: 0 }}
          range="day"
          series={series}
        />,
        400,
      );
    }
  })
  .post("/:id/cache/purge", async (c) => {
    const id = readParam(c, "id", ProjectId);
    await audited(
      c,
      "project.cache_purge",
      "project",
      id,
      () => purgeProjectCache(c.env, id),
      (generation) => ({ details: { cache_generation: generation } }),
    );
    return c.redirect(`/admin/projects/${id}?msg=cache_purged`, 303);
  })
  .get("/:id/delete", async (c) => {
    const project = await requireProject(c.env, readParam(c, "id", ProjectId));
    const active = await activeTokenCountOfProject(getDb(c.env), project.id);
    return c.html(
      <ConfirmPage
        title={`Delete project ${project.name}?`}
        action={`/admin/projects/${project.id}/delete`}
        confirmLabel="Delete project"
        cancelHref={`/admin/projects/${project.id}`}
        csrf={c.get("session").csrf}
        nav="projects"
      >
        <strong>{active === 1 ? "1 active token" : `${active} active tokens`}</strong> of “{project.name}”
        will stop working at once, and the project, its encrypted upstream key and all its tokens are deleted.
        This cannot be undone.
      </ConfirmPage>,
    );
  })
  .post("/:id/delete", async (c) => {
    const id = readParam(c, "id", ProjectId);
    await audited(c, "project.delete", "project", id, () => removeProject(c.env, id));
    return c.redirect("/admin/projects?msg=project_deleted", 303);
  })
  .get("/:id/revoke-tokens", async (c) => {
    const project = await requireProject(c.env, readParam(c, "id", ProjectId));
    const active = await activeTokenCountOfProject(getDb(c.env), project.id);
    return c.html(
      <ConfirmPage
        title={`Revoke all tokens of ${project.name}?`}
        action={`/admin/projects/${project.id}/revoke-tokens`}
        confirmLabel="Revoke all tokens"
        cancelHref={`/admin/projects/${project.id}`}
        csrf={c.get("session").csrf}
        nav="projects"
      >
        <strong>{active === 1 ? "1 active token" : `${active} active tokens`}</strong> of “{project.name}”
        will be refused from their next request on. Revoked tokens cannot be reactivated; the project itself
        stays.
      </ConfirmPage>,
    );
  })
  .post("/:id/revoke-tokens", async (c) => {
    const id = readParam(c, "id", ProjectId);
    await audited(
      c,
      "project.revoke_tokens",
      "project",
      id,
      () => revokeProjectTokens(c.env, id),
      (n) => ({
        details: { revoked_count: n },
      }),
    );
    return c.redirect(`/admin/projects/${id}?msg=tokens_revoked`, 303);
  });
