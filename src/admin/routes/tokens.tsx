import { Hono } from "hono";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../../lib/cursor";
import { ApiError } from "../../lib/errors";
import { Uuid } from "../../lib/schemas";
import { parseWith, readParam } from "../../lib/validate";
import { requireProject } from "../../projects/service";
import { getDb } from "../../storage/db";
import { createBatch, createToken } from "../../tokens/create";
import { listTokens } from "../../tokens/repo";
import { type Token, toToken } from "../../tokens/response";
import {
  MAX_GRACE_SECONDS,
  TokenBatchCreate,
  TokenCreate,
  TokenListQuery,
  TokenPatch,
} from "../../tokens/schema";
import { liveState, patchToken, requireToken, revokeToken, rotateToken } from "../../tokens/service";
import { batchAlreadyMade } from "../batch-once";
import type { AdminEnv } from "../context";
import { recentEvents } from "../events";
import {
  audited,
  changedOnly,
  errorText,
  type Form,
  fieldErrors,
  flashFrom,
  jsonObject,
  list,
  num,
  numValue,
  rateWindows,
  rateWindowValues,
  readForm,
  saveChanges,
  setActive,
  text,
  utcInstant,
} from "../forms";
import { sealNewSecret, takeNewSecret } from "../once";
import { isRange } from "../ranges";
import { renewingInput, renewingPatch, renewingValues } from "../renewing-form";
import { projectNames, usageSeries } from "../stats";
import { ConfirmPage } from "../views/common";
import { BatchCreated } from "../views/token-batch";
import { TokenCreated, TokenEditForm, TokenForm } from "../views/token-form";
import { TokenDetail, TokenList } from "../views/tokens";

/** The create form as the management API's body, so the API's schema validates it. */
function tokenInput(f: Form) {
  return {
    project_id: text(f, "project_id") ?? "",
    name: text(f, "name"),
    duration_minutes: num(f, "duration_minutes"),
    expires_at: utcInstant(text(f, "expires_at")),
    max_requests: num(f, "max_requests"),
    rate_limit: rateWindows(f),
    max_tokens: num(f, "max_tokens"),
    max_cost_usd: num(f, "max_cost_usd"),
    allowed_models: list(f, "allowed_models"),
    metadata: jsonObject(f, "metadata"),
    ...renewingInput(f),
    can_mint: f.can_mint === "true" ? true : undefined,
    cache: f.cache === undefined ? undefined : f.cache === "true",
  };
}

/** The edit form as a PATCH body: an emptied field clears (null), an empty expiry keeps the current one. */
function tokenPatchInput(f: Form) {
  return {
    name: text(f, "name") ?? null,
    metadata: jsonObject(f, "metadata") ?? null,
    duration_minutes: num(f, "duration_minutes"),
    expires_at: utcInstant(text(f, "expires_at")),
    max_requests: num(f, "max_requests") ?? null,
    rate_limit: rateWindows(f) ?? null,
    max_tokens: num(f, "max_tokens") ?? null,
    max_cost_usd: num(f, "max_cost_usd") ?? null,
    allowed_models: list(f, "allowed_models") ?? null,
    is_active: f.is_active === undefined ? undefined : f.is_active === "true",
    ...renewingPatch(f),
    can_mint: f.can_mint === "true",
    cache: f.cache === undefined ? undefined : f.cache === "true",
  };
}

/** The edit form filled with the token's current values. */
function tokenValues(t: Token): Form {
  return {
    name: t.name ?? "",
    is_active: String(t.is_active),
    cache: String(t.cache),
    max_requests: numValue(t.max_requests),
    max_tokens: numValue(t.max_tokens),
    max_cost_usd: numValue(t.max_cost_usd),
    ...rateWindowValues(t.rate_limit),
    allowed_models: (t.allowed_models ?? []).join("\n"),
    metadata: t.metadata ? JSON.stringify(t.metadata, null, 2) : "",
    ...renewingValues({
      ...t,
      period_budgets: t.period_budgets as Parameters<typeof renewingValues>[0]["period_budgets"],
    }),
    can_mint: t.can_mint ? "true" : "",
  };
}

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
  .get("/:id/edit", async (c) => {
    const token = toToken(await requireToken(c.env, readParam(c, "id", Uuid)));
    const project = await requireProject(c.env, token.project_id);
    return c.html(
      <TokenEditForm
        csrf={c.get("session").csrf}
        token={token}
        projectName={project.name}
        values={tokenValues(token)}
      />,
    );
  })
  .post("/:id", async (c) => {
    const row = await requireToken(c.env, readParam(c, "id", Uuid));
    const form = await readForm(c);
    try {
      const parsed = parseWith(TokenPatch, tokenPatchInput(form), "form");
      return await saveChanges(c, "token", row.id, changedOnly(parsed, toToken(row)), (patch) =>
        patchToken(c.env, row.id, patch),
      );
    } catch (err) {
      const project = await requireProject(c.env, row.projectId);
      return c.html(
        <TokenEditForm
          csrf={c.get("session").csrf}
          token={toToken(row)}
          projectName={project.name}
          values={form}
          errors={fieldErrors(err)}
          error={errorText(err)}
        />,
        400,
      );
    }
  })
  .post("/:id/active", (c) => {
    const id = readParam(c, "id", Uuid);
    return setActive(c, "token", id, (patch) => patchToken(c.env, id, patch));
  })
  .get("/:id/rotate", async (c) => {
    const token = await requireToken(c.env, readParam(c, "id", Uuid));
    const label = token.name ? `“${token.name}” (${token.tokenHint})` : token.tokenHint;
    return c.html(
      <ConfirmPage
        title="Rotate this token's secret?"
        action={`/admin/tokens/${token.id}/rotate`}
        confirmLabel="Rotate secret"
        cancelHref={`/admin/tokens/${token.id}`}
        csrf={c.get("session").csrf}
        nav="tokens"
        fields={
          <label>
            The old secret keeps working for{" "}
            <select name="grace_seconds">
              <option value="0">no time (stops now)</option>
              <option value="900">15 minutes</option>
              <option value="3600" selected>
                1 hour
              </option>
              <option value="86400">1 day</option>
              <option value={String(MAX_GRACE_SECONDS)}>7 days</option>
            </select>
          </label>
        }
      >
        Token {label} gets a new secret, shown once. Its limits and counters stay as they are.
      </ConfirmPage>,
    );
  })
  .post("/:id/rotate", async (c) => {
    const id = readParam(c, "id", Uuid);
    const form = await readForm(c);
    const grace = Math.min(MAX_GRACE_SECONDS, Math.max(0, Number(form.grace_seconds) || 0));
    const { secret } = await audited(
      c,
      "token.rotate",
      "token",
      id,
      () => rotateToken(c.env, id, grace),
      () => ({ details: { grace_seconds: grace } }),
    );
    // POST → redirect → GET, as for a new token: a reload never rotates again.
    await sealNewSecret(c, c.get("session"), id, secret);
    return c.redirect(`/admin/tokens/${id}/created?rotated=1`, 303);
  })
  .get("/:id/revoke", async (c) => {
    const token = await requireToken(c.env, readParam(c, "id", Uuid));
    const project = await requireProject(c.env, token.projectId);
    const label = token.name ? `“${token.name}” (${token.tokenHint})` : token.tokenHint;
    return c.html(
      <ConfirmPage
        title="Revoke this token?"
        action={`/admin/tokens/${token.id}/revoke`}
        confirmLabel="Revoke token"
        cancelHref={`/admin/tokens/${token.id}`}
        csrf={c.get("session").csrf}
        nav="tokens"
      >
        Token {label} of project “{project.name}” will be refused from its next request on. A revoked token
        cannot be reactivated.
      </ConfirmPage>,
    );
  })
  .post("/:id/revoke", async (c) => {
    const id = readParam(c, "id", Uuid);
    await audited(c, "token.revoke", "token", id, () => revokeToken(c.env, id));
    return c.redirect(`/admin/tokens/${id}?msg=token_revoked`, 303);
  });
