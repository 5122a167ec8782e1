import { Hono } from "hono";
import { audited } from "../audit/middleware";
import type { AppEnv } from "../lib/context";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../lib/cursor";
import { Uuid } from "../lib/schemas";
import { readJson, readParam, readQuery } from "../lib/validate";
import { getDb } from "../storage/db";
import { listTokens } from "./repo";
import { RevokeByValue, TokenCreate, TokenListQuery, TokenPatch, toToken } from "./schema";
import {
  createToken,
  liveState,
  patchToken,
  requireToken,
  revokeToken,
  revokeTokenBySecret,
} from "./service";

export const tokenRoutes = new Hono<AppEnv>()
  .post("/", audited("token.create", "token"), async (c) => {
    const { token, secret } = await createToken(c.env, await readJson(c, TokenCreate));
    c.set("audit", { targetId: token.id, details: { project_id: token.projectId } });
    return c.json({ ...toToken(token), token: secret }, 201);
  })
  .get("/", async (c) => {
    const q = readQuery(c, TokenListQuery);
    const cursor = decodeCursor(q.cursor, TimeIdCursor);
    const rows = await listTokens(getDb(c.env), {
      projectId: q.project_id,
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
    c.set("audit", { targetId: await revokeTokenBySecret(c.env, token) });
    return c.body(null, 204);
  })
  .get("/:id", async (c) => {
    const token = await requireToken(c.env, readParam(c, "id", Uuid));
    return c.json(toToken(token, await liveState(c.env, token)));
  })
  .patch("/:id", audited("token.update", "token"), async (c) => {
    const id = readParam(c, "id", Uuid);
    const patch = await readJson(c, TokenPatch);
    c.set("audit", { details: { fields: Object.keys(patch) } });
    const token = await patchToken(c.env, id, patch);
    return c.json(toToken(token, await liveState(c.env, token)));
  })
  .delete("/:id", audited("token.revoke", "token"), async (c) => {
    await revokeToken(c.env, readParam(c, "id", Uuid));
    return c.body(null, 204);
  });
