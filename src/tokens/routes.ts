import { Hono } from "hono";
import { audited } from "../audit/middleware";
import { inScope, issuerOf, scopedProject } from "../issuing/keys/scope";
import type { AppEnv } from "../lib/context";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../lib/cursor";
import { Uuid } from "../lib/schemas";
import { readJson, readParam, readQuery } from "../lib/validate";
import { getDb } from "../storage/db";
import { createToken, createTokens } from "./create";
import { listTokens } from "./repo";
import {
  RevokeByValue,
  TokenBatchCreate,
  TokenCreate,
  TokenListQuery,
  TokenPatch,
  TokenRotate,
  toToken,
} from "./schema";
import { findTokenBySecret, liveState, patchToken, requireToken, revokeToken, rotateToken } from "./service";

export const tokenRoutes = new Hono<AppEnv>()
  .post("/", audited("token.create", "token"), async (c) => {
    const input = await readJson(c, TokenCreate);
    const { token, secret } = await createToken(c.env, input, issuerOf(c));
    c.set("audit", { targetId: token.id, details: { project_id: token.projectId } });
    return c.json({ ...toToken(token), token: secret }, 201);
  })
  .post("/batch", audited("token.create_batch", "token"), async (c) => {
    const { project_id, count, names, name, ...template } = await readJson(c, TokenBatchCreate);
    const n = names?.length ?? count ?? 1;
    const named = Array.from({ length: n }, (_, i) => ({
      ...template,
      name: names?.[i] ?? (name !== undefined ? `${name}-${i + 1}` : undefined),
    }));
    const created = await createTokens(c.env, project_id, named, issuerOf(c));
    const projectId = created[0]?.token.projectId;
    c.set("audit", {
      details: { project_id: projectId ?? null, count: created.length, ids: created.map((t) => t.token.id) },
    });
    return c.json({ data: created.map(({ token, secret }) => ({ ...toToken(token), token: secret })) }, 201);
  })
  .get("/", async (c) => {
    const q = readQuery(c, TokenListQuery);
    const cursor = decodeCursor(q.cursor, TimeIdCursor);
    const rows = await listTokens(getDb(c.env), {
      projectId: scopedProject(c, q.project_id),
      status: q.status,
      search: q.search,
      limit: q.limit,
      cursor: cursor && { createdAt: cursor.t, id: cursor.id },
    });
    const last = rows.length === q.limit ? rows.at(-1) : undefined;
    return c.json({
      data: rows.map((t) => toToken(t)),
      next_cursor: last ? encodeCursor({ t: last.createdAt, id: last.id }) : null,
    });
  })
  .delete("/", audited("token.revoke_by_value", "token"), async (c) => {
    const { token } = await readJson(c, RevokeByValue);
    const found = inScope(c, await findTokenBySecret(c.env, token));
    await revokeToken(c.env, found.id);
    c.set("audit", { targetId: found.id });
    return c.body(null, 204);
  })
  .get("/:id", async (c) => {
    const token = inScope(c, await requireToken(c.env, readParam(c, "id", Uuid)));
    return c.json(toToken(token, await liveState(c.env, token)));
  })
  .patch("/:id", audited("token.update", "token"), async (c) => {
    const id = readParam(c, "id", Uuid);
    const patch = await readJson(c, TokenPatch);
    c.set("audit", { details: { fields: Object.keys(patch) } });
    const token = await patchToken(c.env, id, patch);
    return c.json(toToken(token, await liveState(c.env, token)));
  })
  .post("/:id/rotate", audited("token.rotate", "token"), async (c) => {
    const id = readParam(c, "id", Uuid);
    const hasBody = (c.req.header("content-length") ?? "0") !== "0" || c.req.header("transfer-encoding");
    const { grace_seconds } = hasBody ? await readJson(c, TokenRotate) : TokenRotate.parse({});
    const { token, secret } = await rotateToken(c.env, id, grace_seconds);
    c.set("audit", { details: { grace_seconds } });
    return c.json({ ...toToken(token), token: secret }, 200);
  })
  .delete("/:id", audited("token.revoke", "token"), async (c) => {
    const token = inScope(c, await requireToken(c.env, readParam(c, "id", Uuid)));
    await revokeToken(c.env, token.id);
    return c.body(null, 204);
  });
