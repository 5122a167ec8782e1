import { audited } from "../../audit/middleware";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../../lib/cursor";
import { DocumentedRoutes } from "../../lib/documented-routes";
import { listOf, Uuid } from "../../lib/schemas";
import { CreatedIssuingKey, IssuingKey, IssuingKeyCreate, IssuingKeyListQuery, toIssuingKey } from "./schema";
import { createIssuingKey, listIssuingKeys, requireIssuingKey, revokeIssuingKey } from "./service";

const byId = { id: Uuid };

/** Operator routes for issuing keys (an issuing key itself never reaches them). */
export const issuingKeyRoutes = new DocumentedRoutes("issuing keys")
  .post(
    "/",
    {
      summary: "Create an issuing key bound to one project, with ceilings (the only response holding it)",
      body: IssuingKeyCreate,
      response: { status: 201, schema: CreatedIssuingKey },
      audit: audited("issuing_key.create", "issuing_key"),
    },
    async (c, { body }) => {
      const { key, secret } = await createIssuingKey(c.env, body);
      c.set("audit", { targetId: key.id, details: { project_id: key.projectId, name: key.name } });
      return c.json({ ...toIssuingKey(key), key: secret }, 201);
    },
  )
  .get(
    "/",
    {
      summary: "List issuing keys",
      query: IssuingKeyListQuery,
      response: { status: 200, schema: listOf(IssuingKey) },
    },
    async (c, { query: q }) => {
      const cursor = decodeCursor(q.cursor, TimeIdCursor);
      const rows = await listIssuingKeys(c.env, {
        projectId: q.project_id,
        status: q.status,
        limit: q.limit,
        cursor: cursor && { createdAt: cursor.t, id: cursor.id },
      });
      const last = rows.length === q.limit ? rows.at(-1) : undefined;
      return c.json({
        data: rows.map(toIssuingKey),
        next_cursor: last ? encodeCursor({ t: last.createdAt, id: last.id }) : null,
      });
    },
  )
  .get(
    "/:id",
    { summary: "Get an issuing key", params: byId, response: { status: 200, schema: IssuingKey } },
    async (c, { params }) => c.json(toIssuingKey(await requireIssuingKey(c.env, params.id))),
  )
  .delete(
    "/:id",
    {
      summary: "Revoke an issuing key (idempotent; tokens it created stay valid)",
      params: byId,
      response: { status: 204, description: "Revoked" },
      audit: audited("issuing_key.revoke", "issuing_key"),
    },
    async (c, { params }) => {
      await revokeIssuingKey(c.env, params.id);
      return c.body(null, 204);
    },
  );
