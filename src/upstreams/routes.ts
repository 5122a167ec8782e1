import { audited } from "../audit/middleware";
import { DocumentedRoutes } from "../lib/documented-routes";
import { listOf, Uuid } from "../lib/schemas";
import { createAlias, listProjectAliases, patchAlias, removeAlias, requireAlias } from "./aliases";
import { upstreamHealth } from "./health";
import { HealthQuery, UpstreamHealth } from "./health-schema";
import { addKey, patchKey, removeKey, rotateKey } from "./keys";
import {
  Alias,
  AliasCreate,
  AliasPatch,
  KeyCreate,
  KeyPatch,
  KeyRotate,
  toAlias,
  toUpstream,
  toUpstreamKey,
  Upstream,
  UpstreamCreate,
  UpstreamKey,
  UpstreamPatch,
} from "./schema";
import {
  createUpstream,
  listProjectUpstreams,
  patchUpstream,
  removeUpstream,
  upstreamWithKeys,
} from "./service";

const byId = { id: Uuid };
const byKey = { id: Uuid, key_id: Uuid };

/** Mounted at /manage/projects: a project's upstreams. */
export const projectUpstreamRoutes = new DocumentedRoutes("upstreams")
  .get(
    "/:id/upstreams",
    {
      summary: "List a project's upstreams (keys as hints), first one first",
      params: byId,
      response: { status: 200, schema: listOf(Upstream) },
    },
    async (c, { params }) => {
      const rows = await listProjectUpstreams(c.env, params.id);
      return c.json({ data: rows.map((r) => toUpstream(r.upstream, r.keys)), next_cursor: null });
    },
  )
  .post(
    "/:id/upstreams",
    {
      summary: "Add an upstream to a project",
      params: byId,
      body: UpstreamCreate,
      response: { status: 201, schema: Upstream },
      audit: audited("upstream.create", "project"),
    },
    async (c, { params, body }) => {
      const { upstream, keys } = await createUpstream(c.env, params.id, body);
      c.set("audit", { details: { upstream_id: upstream.id, name: upstream.name, keys: keys.length } });
      return c.json(toUpstream(upstream, keys), 201);
    },
  );

/** Mounted at /manage/upstreams: one upstream, its keys, its health. */
export const upstreamRoutes = new DocumentedRoutes("upstreams")
  .get(
    "/:id",
    { summary: "Get an upstream", params: byId, response: { status: 200, schema: Upstream } },
    async (c, { params }) => {
      const { upstream, keys } = await upstreamWithKeys(c.env, params.id);
      return c.json(toUpstream(upstream, keys));
    },
  )
  .patch(
    "/:id",
    {
      summary: "Change an upstream (another host needs its key in the same request)",
      params: byId,
      body: UpstreamPatch,
      response: { status: 200, schema: Upstream },
      audit: audited("upstream.update", "upstream"),
    },
    async (c, { params, body: patch }) => {
      c.set("audit", { details: { fields: Object.keys(patch) } });
      const { upstream, keys } = await patchUpstream(c.env, params.id, patch);
      return c.json(toUpstream(upstream, keys));
    },
  )
  .delete(
    "/:id",
    {
      summary: "Delete an upstream and its keys (409 while an alias targets it)",
      params: byId,
      response: { status: 204, description: "Deleted" },
      audit: audited("upstream.delete", "upstream"),
    },
    async (c, { params }) => {
      await removeUpstream(c.env, params.id);
      return c.body(null, 204);
    },
  )
  .get(
    "/:id/health",
    {
      summary:
        "An upstream's and its keys' recent health: requests, errors, failed attempts, latency, breaker",
      params: byId,
      query: HealthQuery,
      response: { status: 200, schema: UpstreamHealth },
    },
    async (c, { params, query }) => c.json(await upstreamHealth(c.env, params.id, query)),
  )
  .post(
    "/:id/keys",
    {
      summary: "Add a key to an upstream",
      params: byId,
      body: KeyCreate,
      response: { status: 201, schema: UpstreamKey },
      audit: audited("upstream_key.add", "upstream"),
    },
    async (c, { params, body }) => {
      const key = await addKey(c.env, params.id, body);
      c.set("audit", { details: { key_id: key.id, hint: key.keyHint } });
      return c.json(toUpstreamKey(key), 201);
    },
  )
  .patch(
    "/:id/keys/:key_id",
    {
      summary: "Change a key's weight or state (re-enabling clears its failing mark)",
      params: byKey,
      body: KeyPatch,
      response: { status: 200, schema: UpstreamKey },
      audit: audited("upstream_key.update", "upstream"),
    },
    async (c, { params, body: patch }) => {
      c.set("audit", { details: { key_id: params.key_id, fields: Object.keys(patch) } });
      return c.json(toUpstreamKey(await patchKey(c.env, params.id, params.key_id, patch)));
    },
  )
  .post(
    "/:id/keys/:key_id/rotate",
    {
      summary: "Rotate a key: a new value under the same id (clears its failing mark)",
      params: byKey,
      body: KeyRotate,
      response: { status: 200, schema: UpstreamKey },
      audit: audited("upstream_key.rotate", "upstream"),
    },
    async (c, { params, body }) => {
      const key = await rotateKey(c.env, params.id, params.key_id, body.api_key);
      c.set("audit", { details: { key_id: params.key_id, hint: key.keyHint } });
      return c.json(toUpstreamKey(key));
    },
  )
  .delete(
    "/:id/keys/:key_id",
    {
      summary: "Remove a key",
      params: byKey,
      response: { status: 204, description: "Removed" },
      audit: audited("upstream_key.delete", "upstream"),
    },
    async (c, { params }) => {
      c.set("audit", { details: { key_id: params.key_id } });
      await removeKey(c.env, params.id, params.key_id);
      return c.body(null, 204);
    },
  );

/** Mounted at /manage/projects: a project's model aliases. */
export const projectAliasRoutes = new DocumentedRoutes("aliases")
  .get(
    "/:id/aliases",
    {
      summary: "List a project's model aliases",
      params: byId,
      response: { status: 200, schema: listOf(Alias) },
    },
    async (c, { params }) => {
      const rows = await listProjectAliases(c.env, params.id);
      return c.json({ data: rows.map(toAlias), next_cursor: null });
    },
  )
  .post(
    "/:id/aliases",
    {
      summary: "Define a model alias: a name clients send, mapped to ordered or weighted targets",
      params: byId,
      body: AliasCreate,
      response: { status: 201, schema: Alias },
      audit: audited("alias.create", "project"),
    },
    async (c, { params, body }) => {
      const alias = await createAlias(c.env, params.id, body);
      c.set("audit", { details: { alias_id: alias.id, name: alias.name } });
      return c.json(toAlias(alias), 201);
    },
  );

/** Mounted at /manage/aliases. */
export const aliasRoutes = new DocumentedRoutes("aliases")
  .get(
    "/:id",
    { summary: "Get an alias", params: byId, response: { status: 200, schema: Alias } },
    async (c, { params }) => c.json(toAlias(await requireAlias(c.env, params.id))),
  )
  .patch(
    "/:id",
    {
      summary: "Change an alias",
      params: byId,
      body: AliasPatch,
      response: { status: 200, schema: Alias },
      audit: audited("alias.update", "alias"),
    },
    async (c, { params, body: patch }) => {
      c.set("audit", { details: { fields: Object.keys(patch) } });
      return c.json(toAlias(await patchAlias(c.env, params.id, patch)));
    },
  )
  .delete(
    "/:id",
    {
      summary: "Delete an alias",
      params: byId,
      response: { status: 204, description: "Deleted" },
      audit: audited("alias.delete", "alias"),
    },
    async (c, { params }) => {
      await removeAlias(c.env, params.id);
      return c.body(null, 204);
    },
  );
