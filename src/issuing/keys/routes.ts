import { Hono } from "hono";
import { audited } from "../../audit/middleware";
import type { AppEnv } from "../../lib/context";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../../lib/cursor";
import { Uuid } from "../../lib/schemas";
import { readJson, readParam, readQuery } from "../../lib/validate";
import { IssuingKeyCreate, IssuingKeyListQuery, toIssuingKey } from "./schema";
import { createIssuingKey, listIssuingKeys, requireIssuingKey, revokeIssuingKey } from "./service";

/** Operator routes for issuing keys (an issuing key itself never reaches them: scope.ts). */
export const issuingKeyRoutes = new Hono<AppEnv>()
  .post("/", audited("issuing_key.create", "issuing_key"), async (c) => {
    const { key, secret } = await createIssuingKey(c.env, await readJson(c, IssuingKeyCreate));
    c.set("audit", { targetId: key.id, details: { project_id: key.projectId, name: key.name } });
    return c.json({ ...toIssuingKey(key), key: secret }, 201);
  })
  .get("/", async (c) => {
    const q = readQuery(c, IssuingKeyListQuery);
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
  })
  .get("/:id", async (c) => c.json(toIssuingKey(await requireIssuingKey(c.env, readParam(c, "id", Uuid)))))
  .delete("/:id", audited("issuing_key.revoke", "issuing_key"), async (c) => {
    await revokeIssuingKey(c.env, readParam(c, "id", Uuid));
    return c.body(null, 204);
  });
