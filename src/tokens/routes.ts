import { audited } from "../audit/middleware";
import { inScope, issuerOf, scopedProject } from "../issuing/keys/scope";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../lib/cursor";
import { DocumentedRoutes } from "../lib/documented-routes";
import { listOf, Uuid } from "../lib/schemas";
import { getDb } from "../storage/db";
import { createBatch, createToken } from "./create";
import { listTokens } from "./repo";
import { CreatedToken, CreatedTokens, Token, toToken } from "./response";
import {
  RevokeByValue,
  TokenBatchCreate,
  TokenCreate,
  TokenListQuery,
  TokenPatch,
  TokenRotate,
} from "./schema";
import { findTokenBySecret, liveState, patchToken, requireToken, revokeToken, rotateToken } from "./service";

const byId = { id: Uuid };

export const tokenRoutes = new DocumentedRoutes("tokens")
  .post(
    "/",
    {
      summary: "Create a withering token (the only response holding its secret)",
      body: TokenCreate,
      response: { status: 201, schema: CreatedToken },
      audit: audited("token.create", "token"),
      issuingKey: true,
    },
    async (c, { body }) => {
      const { token, secret } = await createToken(c.env, body, issuerOf(c));
      c.set("audit", { targetId: token.id, details: { project_id: token.projectId } });
      return c.json({ ...toToken(token), token: secret }, 201);
    },
  )
  .post(
    "/batch",
    {
      summary: "Create up to 1 000 tokens in one call (the only response holding their secrets)",
      body: TokenBatchCreate,
      response: { status: 201, schema: CreatedTokens },
      audit: audited("token.create_batch", "token"),
      issuingKey: true,
    },
    async (c, { body }) => {
      const created = await createBatch(c.env, body, issuerOf(c));
      const ids = created.map((t) => t.token.id);
      c.set("audit", {
        details: { project_id: created[0]?.token.projectId ?? null, count: ids.length, ids },
      });
      return c.json(
        { data: created.map(({ token, secret }) => ({ ...toToken(token), token: secret })) },
        201,
      );
    },
  )
  .get(
    "/",
    {
      summary: "List tokens",
      query: TokenListQuery,
      response: { status: 200, schema: listOf(Token) },
      issuingKey: true,
    },
    async (c, { query: q }) => {
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
    },
  )
  .delete(
    "/",
    {
      summary: "Revoke a token by its secret (current, or replaced by a rotation)",
      body: RevokeByValue,
      response: { status: 204, description: "Revoked" },
      audit: audited("token.revoke_by_value", "token"),
      issuingKey: true,
    },
    async (c, { body }) => {
      const found = inScope(c, await findTokenBySecret(c.env, body.token));
      await revokeToken(c.env, found.id);
      c.set("audit", { targetId: found.id });
      return c.body(null, 204);
    },
  )
  .get(
    "/:id",
    {
      summary: "Get a token with live counters (current periods, token windows, child escrow)",
      params: byId,
      response: { status: 200, schema: Token },
      issuingKey: true,
    },
    async (c, { params }) => {
      const token = inScope(c, await requireToken(c.env, params.id));
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
  .post(
    "/:id/rotate",
    {
      summary:
        "Give a token a new secret; the old one keeps working for grace_seconds (the only response holding it)",
      params: byId,
      body: TokenRotate,
      response: { status: 200, schema: CreatedToken },
      audit: audited("token.rotate", "token"),
    },
    async (c, { params, body }) => {
      const { token, secret } = await rotateToken(c.env, params.id, body.grace_seconds);
      c.set("audit", { details: { grace_seconds: body.grace_seconds } });
      return c.json({ ...toToken(token), token: secret }, 200);
    },
  )
  .delete(
    "/:id",
    {
      summary: "Revoke a token and every token carved from it (idempotent)",
      params: byId,
      response: { status: 204, description: "Revoked" },
      audit: audited("token.revoke", "token"),
      issuingKey: true,
    },
    async (c, { params }) => {
      const token = inScope(c, await requireToken(c.env, params.id));
      await revokeToken(c.env, token.id);
      return c.body(null, 204);
    },
  );
