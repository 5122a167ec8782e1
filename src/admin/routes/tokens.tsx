import { Hono } from "hono";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../../lib/cursor";
import { ApiError } from "../../lib/errors";
import { Uuid } from "../../lib/schemas";
import { parseWith, readParam } from "../../lib/validate";
import { requireProject } from "../../projects/service";
import { getDb } from "../../storage/db";
import { createBatch, createToken } from "../../tokens/create";
import { listTokens } from "../../tokens/repo";
import { toToken } from "../../tokens/response";
import { TokenBatchCreate, TokenCreate, TokenListQuery } from "../../tokens/schema";
import { liveState, requireToken } from "../../tokens/service";
import { batchAlreadyMade } from "../batch-once";
import type { AdminEnv } from "../context";
import { recentEvents } from "../events";
import { audited, errorText, fieldErrors, flashFrom, num, readForm, text } from "../forms";
import { sealNewSecret, takeNewSecret } from "../once";
import { isRange } from "../ranges";
import { projectNames, usageSeries } from "../stats";
import { tokenInput } from "../token-form";
import { BatchCreated } from "../views/token-batch";
import { TokenCreated, TokenForm } from "../views/token-form";
import { TokenDetail, TokenList } from "../views/tokens";
import { tokenChangeRoutes } from "./token-changes";

/** Filters of the list as typed in the filter form (empty fields dropped). */
function listQuery(q: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(q).filter(([, v]) => v.trim() !== ""));
  return parseWith(TokenListQuery, clean, "filters");
}

export const tokenRoutes = new Hono<AdminEnv>()
  .get("/", async (c) => {
    const q = listQuery(c.req.query());
    const cursor = decodeCursor(q.cursor, TimeIdCursor);
    const db = getDb(c.env);
    const [rows, projects] = await Promise.all([
      listTokens(db, {
        projectId: q.project_id,
        status: q.status,
        search: q.search,
        limit: q.limit,
        cursor: cursor && { createdAt: cursor.t, id: cursor.id },
      }),
      projectNames(db),
    ]);
    const last = rows.length === q.limit ? rows.at(-1) : undefined;
    return c.html(
      <TokenList
        csrf={c.get("session").csrf}
        flash={flashFrom(c)}
        tokens={rows.map((r) => toToken(r))}
        projects={projects}
        filters={{ project_id: q.project_id ?? "", status: q.status ?? "", search: q.search ?? "" }}
        nextCursor={last ? encodeCursor({ t: last.createdAt, id: last.id }) : undefined}
      />,
    );
  })
  .get("/new", async (c) => {
    const projects = await projectNames(getDb(c.env));
    const values = { project_id: c.req.query("project_id") ?? "", duration_minutes: "60" };
    return c.html(<TokenForm csrf={c.get("session").csrf} projects={projects} values={values} />);
  })
  .post("/", async (c) => {
    const form = await readForm(c);
    let created: Awaited<ReturnType<typeof createToken>>;
    try {
      const count = num(form, "count");
      if (count !== undefined && count !== 1) {
        const batch = parseWith(TokenBatchCreate, { ...tokenInput(form), count }, "form");
        const once = text(form, "_once") ?? null;
        if (once && (await batchAlreadyMade(c.env, once))) {
          throw new ApiError(
            409,
            "conflict",
            "These tokens were already created by this form (it was sent twice); their secrets were shown once.",
          );
        }
        const created = await audited(
          c,
          "token.create_batch",
          "token",
          null,
          () => createBatch(c.env, batch, { actor: "admin" }),
          (r) => ({
            details: {
              project_id: batch.project_id ?? null,
              count: r.length,
              ids: r.map((t) => t.token.id),
              form_once: once,
            },
          }),
        );
        const project = await requireProject(c.env, batch.project_id ?? "");
        return c.html(
          <BatchCreated
            csrf={c.get("session").csrf}
            project={project}
            created={created.map(({ token, secret }) => ({ token: toToken(token), secret }))}
          />,
          201,
        );
      }
      const input = parseWith(TokenCreate, tokenInput(form), "form");
      created = await audited(
        c,
        "token.create",
        "token",
        null,
        () => createToken(c.env, input, { actor: "admin" }),
        (r) => ({
          targetId: r.token.id,
          details: { project_id: r.token.projectId },
        }),
      );
    } catch (err) {
      const projects = await projectNames(getDb(c.env));
      return c.html(
        <TokenForm
          csrf={c.get("session").csrf}
          projects={projects}
          values={form}
          errors={fieldErrors(err)}
          error={errorText(err)}
        />,
        400,
      );
    }
    // POST → redirect → GET: reloading the page that shows the secret can never create another token.
    await sealNewSecret(c, c.get("session"), created.token.id, created.secret);
    return c.redirect(`/admin/tokens/${created.token.id}/created`, 303);
  })
  .get("/:id/created", async (c) => {
    const token = await requireToken(c.env, readParam(c, "id", Uuid));
    const [project, secret] = await Promise.all([
      requireProject(c.env, token.projectId),
      takeNewSecret(c, c.get("session"), token.id),
    ]);
    return c.html(
      <TokenCreated
        csrf={c.get("session").csrf}
        token={token}
        project={project}
        secret={secret}
        origin={new URL(c.req.url).origin}
        rotated={c.req.query("rotated") === "1"}
      />,
    );
  })
  .get("/:id", async (c) => {
    const token = await requireToken(c.env, readParam(c, "id", Uuid));
    const q = c.req.query("range");
    const range = isRange(q) ? q : "day";
    const db = getDb(c.env);
    const [live, project, series, events] = await Promise.all([
      liveState(c.env, token).catch(() => undefined),
      requireProject(c.env, token.projectId),
      usageSeries(db, range, { tokenId: token.id }),
      recentEvents(c.env, { tokenId: token.id, limit: 20 }),
    ]);
    return c.html(
      <TokenDetail
        csrf={c.get("session").csrf}
        flash={flashFrom(c)}
        token={toToken(token, live)}
        project={project}
        range={range}
        series={series}
        events={events}
      />,
    );
  })
  // Changing a token (edit, activate, rotate, revoke) comes after, in the order it always had.
  .route("/", tokenChangeRoutes);
