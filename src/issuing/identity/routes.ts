import { Hono } from "hono";
import { audited } from "../../audit/middleware";
import type { AppEnv } from "../../lib/context";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../../lib/cursor";
import { Uuid } from "../../lib/schemas";
import { readJson, readParam, readQuery } from "../../lib/validate";
import { allowanceOf } from "../../tokens/schema";
import {
  IdentityProviderCreate,
  IdentityProviderListQuery,
  IdentityProviderPatch,
  toEndUser,
  toIdentityProvider,
  UserListQuery,
  UserPatch,
} from "./schema";
import {
  createProvider,
  deleteProvider,
  listProviders,
  listUsers,
  patchProvider,
  patchUser,
  requireProvider,
  requireUser,
  userLiveState,
} from "./service";

const page = <T extends { createdAt: number; id: string }>(rows: T[], limit: number) => {
  const last = rows.length === limit ? rows.at(-1) : undefined;
  return last ? encodeCursor({ t: last.createdAt, id: last.id }) : null;
};

/** Operator routes: identity providers a project trusts. */
export const identityRoutes = new Hono<AppEnv>()
  .post("/", audited("identity_provider.create", "identity_provider"), async (c) => {
    const provider = await createProvider(c.env, await readJson(c, IdentityProviderCreate));
    c.set("audit", {
      targetId: provider.id,
      details: { project_id: provider.projectId, issuer: provider.issuer },
    });
    return c.json(toIdentityProvider(provider), 201);
  })
  .get("/", async (c) => {
    const q = readQuery(c, IdentityProviderListQuery);
    const cursor = decodeCursor(q.cursor, TimeIdCursor);
    const rows = await listProviders(c.env, {
      projectId: q.project_id,
      limit: q.limit,
      cursor: cursor && { createdAt: cursor.t, id: cursor.id },
    });
    return c.json({ data: rows.map(toIdentityProvider), next_cursor: page(rows, q.limit) });
  })
  .get("/:id", async (c) =>
    c.json(toIdentityProvider(await requireProvider(c.env, readParam(c, "id", Uuid)))),
  )
  .patch("/:id", audited("identity_provider.update", "identity_provider"), async (c) => {
    const id = readParam(c, "id", Uuid);
    const patch = await readJson(c, IdentityProviderPatch);
    c.set("audit", { details: { fields: Object.keys(patch) } });
    return c.json(toIdentityProvider(await patchProvider(c.env, id, patch)));
  })
  .delete("/:id", audited("identity_provider.delete", "identity_provider"), async (c) => {
    await deleteProvider(c.env, readParam(c, "id", Uuid));
    return c.body(null, 204);
  });

/** Operator routes: the end users identity providers vouched for, with their live allowance. */
export const userRoutes = new Hono<AppEnv>()
  .get("/", async (c) => {
    const q = readQuery(c, UserListQuery);
    const cursor = decodeCursor(q.cursor, TimeIdCursor);
    const rows = await listUsers(c.env, {
      projectId: q.project_id,
      providerId: q.provider_id,
      subject: q.subject,
      limit: q.limit,
      cursor: cursor && { createdAt: cursor.t, id: cursor.id },
    });
    return c.json({ data: rows.map((u) => toEndUser(u)), next_cursor: page(rows, q.limit) });
  })
  .get("/:id", async (c) => {
    const user = await requireUser(c.env, readParam(c, "id", Uuid));
    const live = await userLiveState(c.env, user);
    return c.json(toEndUser(user, live ? allowanceOf(live) : null));
  })
  .patch("/:id", audited("user.update", "user"), async (c) => {
    const id = readParam(c, "id", Uuid);
    const patch = await readJson(c, UserPatch);
    c.set("audit", { details: { fields: Object.keys(patch) } });
    const user = await patchUser(c.env, id, patch);
    const live = await userLiveState(c.env, user);
    return c.json(toEndUser(user, live ? allowanceOf(live) : null));
  });
