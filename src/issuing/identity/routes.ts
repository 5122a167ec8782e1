import { audited } from "../../audit/middleware";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../../lib/cursor";
import { DocumentedRoutes } from "../../lib/documented-routes";
import { listOf, Uuid } from "../../lib/schemas";
import { allowanceOf } from "../../tokens/response";
import {
  EndUser,
  IdentityProvider,
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

const byId = { id: Uuid };

const page = <T extends { createdAt: number; id: string }>(rows: T[], limit: number) => {
  const last = rows.length === limit ? rows.at(-1) : undefined;
  return last ? encodeCursor({ t: last.createdAt, id: last.id }) : null;
};

/** Operator routes: identity providers a project trusts. */
export const identityRoutes = new DocumentedRoutes("identity providers")
  .post(
    "/",
    {
      summary: "Trust an identity provider (JWKS URL or HS256 secret, issuer, audience) for a project",
      body: IdentityProviderCreate,
      response: { status: 201, schema: IdentityProvider },
      audit: audited("identity_provider.create", "identity_provider"),
    },
    async (c, { body }) => {
      const provider = await createProvider(c.env, body);
      c.set("audit", {
        targetId: provider.id,
        details: { project_id: provider.projectId, issuer: provider.issuer },
      });
      return c.json(toIdentityProvider(provider), 201);
    },
  )
  .get(
    "/",
    {
      summary: "List identity providers",
      query: IdentityProviderListQuery,
      response: { status: 200, schema: listOf(IdentityProvider) },
    },
    async (c, { query: q }) => {
      const cursor = decodeCursor(q.cursor, TimeIdCursor);
      const rows = await listProviders(c.env, {
        projectId: q.project_id,
        limit: q.limit,
        cursor: cursor && { createdAt: cursor.t, id: cursor.id },
      });
      return c.json({ data: rows.map(toIdentityProvider), next_cursor: page(rows, q.limit) });
    },
  )
  .get(
    "/:id",
    {
      summary: "Get an identity provider",
      params: byId,
      response: { status: 200, schema: IdentityProvider },
    },
    async (c, { params }) => c.json(toIdentityProvider(await requireProvider(c.env, params.id))),
  )
  .patch(
    "/:id",
    {
      summary:
        "Change an identity provider (keys, limits per user, direct use…); its users' objects hear at once",
      params: byId,
      body: IdentityProviderPatch,
      response: { status: 200, schema: IdentityProvider },
      audit: audited("identity_provider.update", "identity_provider"),
    },
    async (c, { params, body }) => {
      c.set("audit", { details: { fields: Object.keys(body) } });
      return c.json(toIdentityProvider(await patchProvider(c.env, params.id, body)));
    },
  )
  .delete(
    "/:id",
    {
      summary: "Stop trusting an identity provider: its users, their tokens and JWTs stop at once",
      params: byId,
      response: { status: 204, description: "Deleted" },
      audit: audited("identity_provider.delete", "identity_provider"),
    },
    async (c, { params }) => {
      await deleteProvider(c.env, params.id);
      return c.body(null, 204);
    },
  );

/** Operator routes: the end users identity providers vouched for, with their live allowance. */
export const userRoutes = new DocumentedRoutes("users")
  .get(
    "/",
    { summary: "List end users", query: UserListQuery, response: { status: 200, schema: listOf(EndUser) } },
    async (c, { query: q }) => {
      const cursor = decodeCursor(q.cursor, TimeIdCursor);
      const rows = await listUsers(c.env, {
        projectId: q.project_id,
        providerId: q.provider_id,
        subject: q.subject,
        limit: q.limit,
        cursor: cursor && { createdAt: cursor.t, id: cursor.id },
      });
      return c.json({ data: rows.map((u) => toEndUser(u)), next_cursor: page(rows, q.limit) });
    },
  )
  .get(
    "/:id",
    {
      summary: "Get an end user with live counters (across all their tokens and JWTs)",
      params: byId,
      response: { status: 200, schema: EndUser },
    },
    async (c, { params }) => {
      const user = await requireUser(c.env, params.id);
      const live = await userLiveState(c.env, user);
      return c.json(toEndUser(user, live ? allowanceOf(live) : null));
    },
  )
  .patch(
    "/:id",
    {
      summary: "Revoke or restore an end user, or give them their own limits",
      params: byId,
      body: UserPatch,
      response: { status: 200, schema: EndUser },
      audit: audited("user.update", "user"),
    },
    async (c, { params, body }) => {
      c.set("audit", { details: { fields: Object.keys(body) } });
      const user = await patchUser(c.env, params.id, body);
      const live = await userLiveState(c.env, user);
      return c.json(toEndUser(user, live ? allowanceOf(live) : null));
    },
  );
