import { audited } from "../audit/middleware";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../lib/cursor";
import { DocumentedRoutes } from "../lib/documented-routes";
import { listOf, Uuid } from "../lib/schemas";
import { getDb } from "../storage/db";
import { listTokens } from "./repo";
import {
  CreatedToken,
  RevokeByValue,
  Token,
  TokenCreate,
  TokenListQuery,
  TokenPatch,
  toToken,
} from "./schema";
import {
  createToken,
  liveState,
  patchToken,
  requireToken,
  revokeToken,
  revokeTokenBySecret,
} from "./service";

const byId = { id: Uuid };

export const tokenRoutes = new DocumentedRoutes("tokens")
  .post(
    "/",
    {
      summary: "Create a withering token (the only response holding its secret)",
      body: TokenCreate,
      response: { status: 201, schema: CreatedToken },
      audit: audited("token.create", "token"),
    },
    async (c, { body }) => {
      const { token, secret } = await createToken(c.env, body);
      c.set("audit", { targetId: token.id, details: { project_id: token.projectId } });
      return c.json({ ...toToken(token), token: secret }, 201);
    },
  )
  .get(
    "/",
    { summary: "List tokens", query: TokenListQuery, response: { status: 200, schema: listOf(Token) } },
    async (c, { query: q }) => {
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
    },
  )
  .delete(
    "/",
    {
      summary: "Revoke a token by its secret",
      body: RevokeByValue,
      response: { status: 204, description: "Revoked" },
      audit: audited("token.revoke_by_value", "token"),
    },
    async (c, { body }) => {
      c.set("audit", { targetId: await revokeTokenBySecret(c.env, body.token) });
      return c.body(null, 204);
    },
  )
  .get(
    "/:id",
    { summary: "Get a token with live counters", params: byId, response: { status: 200, schema: Token } },
    async (c, { params }) => {
      const token = await requireToken(c.env, params.id);
      return c.json(toToken(token, await liveState(c.env, token)));
    },
  )
  .patch(
    "/:id",
    {
      summary: "Change a token's limits, expiry or state",
      params: byId,
      body: TokenPatch,
      response: { status: 200, schema: Token },
      audit: audited("token.update", "token"),
    },
    async (c, { params, body: patch }) => {
      c.set("audit", { details: { fields: Object.keys(patch) } });
      const token = await patchToken(c.env, params.id, patch);
      return c.json(toToken(token, await liveState(c.env, token)));
    },
  )
  .delete(
    "/:id",
    {
      summary: "Revoke a token (idempotent)",
      params: byId,
      response: { status: 204, description: "Revoked" },
      audit: audited("token.revoke", "token"),
    },
    async (c, { params }) => {
      await revokeToken(c.env, params.id);
      return c.body(null, 204);
    },
  );
