import { Hono } from "hono";
import { audited } from "../audit/middleware";
import type { AppEnv } from "../lib/context";
import { Uuid } from "../lib/schemas";
import { readJson, readParam, readQuery } from "../lib/validate";
import { upstreamHealth } from "./health";
import {
  AliasCreate,
  AliasPatch,
  HealthQuery,
  KeyCreate,
  KeyPatch,
  KeyRotate,
  toAlias,
  toUpstream,
  toUpstreamKey,
  UpstreamCreate,
  UpstreamPatch,
} from "./schema";
import {
  addKey,
  createAlias,
  createUpstream,
  listProjectAliases,
  listProjectUpstreams,
  patchAlias,
  patchKey,
  patchUpstream,
  removeAlias,
  removeKey,
  removeUpstream,
  requireAlias,
  rotateKey,
  upstreamWithKeys,
} from "./service";

/** `/manage/projects/:id/upstreams` and `/manage/projects/:id/aliases`. */
export const projectRoutingRoutes = new Hono<AppEnv>()
  .get("/:id/upstreams", async (c) => {
    const rows = await listProjectUpstreams(c.env, readParam(c, "id", Uuid));
    return c.json({ data: rows.map((r) => toUpstream(r.upstream, r.keys)), next_cursor: null });
  })
  .post("/:id/upstreams", audited("upstream.create", "project"), async (c) => {
    const projectId = readParam(c, "id", Uuid);
    const input = await readJson(c, UpstreamCreate);
    const { upstream, keys } = await createUpstream(c.env, projectId, input);
    c.set("audit", { details: { upstream_id: upstream.id, name: upstream.name, keys: keys.length } });
    return c.json(toUpstream(upstream, keys), 201);
  })
  .get("/:id/aliases", async (c) => {
    const rows = await listProjectAliases(c.env, readParam(c, "id", Uuid));
    return c.json({ data: rows.map(toAlias), next_cursor: null });
  })
  .post("/:id/aliases", audited("alias.create", "project"), async (c) => {
    const projectId = readParam(c, "id", Uuid);
    const alias = await createAlias(c.env, projectId, await readJson(c, AliasCreate));
    c.set("audit", { details: { alias_id: alias.id, name: alias.name } });
    return c.json(toAlias(alias), 201);
  });

/** `/manage/upstreams/...`: one upstream, its keys and its health. */
export const upstreamRoutes = new Hono<AppEnv>()
  .get("/:id", async (c) => {
    const { upstream, keys } = await upstreamWithKeys(c.env, readParam(c, "id", Uuid));
    return c.json(toUpstream(upstream, keys));
  })
  .patch("/:id", audited("upstream.update", "upstream"), async (c) => {
    const id = readParam(c, "id", Uuid);
    const patch = await readJson(c, UpstreamPatch);
    c.set("audit", { details: { fields: Object.keys(patch) } });
    const { upstream, keys } = await patchUpstream(c.env, id, patch);
    return c.json(toUpstream(upstream, keys));
  })
  .delete("/:id", audited("upstream.delete", "upstream"), async (c) => {
    await removeUpstream(c.env, readParam(c, "id", Uuid));
    return c.body(null, 204);
  })
  .get("/:id/health", async (c) => {
    const id = readParam(c, "id", Uuid);
    return c.json(await upstreamHealth(c.env, id, readQuery(c, HealthQuery)));
  })
  .post("/:id/keys", audited("upstream_key.add", "upstream"), async (c) => {
    const id = readParam(c, "id", Uuid);
    const key = await addKey(c.env, id, await readJson(c, KeyCreate));
    c.set("audit", { details: { key_id: key.id, hint: key.keyHint } });
    return c.json(toUpstreamKey(key), 201);
  })
  .patch("/:id/keys/:key_id", audited("upstream_key.update", "upstream"), async (c) => {
    const id = readParam(c, "id", Uuid);
    const keyId = readParam(c, "key_id", Uuid);
    const patch = await readJson(c, KeyPatch);
    c.set("audit", { details: { key_id: keyId, fields: Object.keys(patch) } });
    return c.json(toUpstreamKey(await patchKey(c.env, id, keyId, patch)));
  })
  .post("/:id/keys/:key_id/rotate", audited("upstream_key.rotate", "upstream"), async (c) => {
    const id = readParam(c, "id", Uuid);
    const keyId = readParam(c, "key_id", Uuid);
    const { api_key } = await readJson(c, KeyRotate);
    const key = await rotateKey(c.env, id, keyId, api_key);
    c.set("audit", { details: { key_id: keyId, hint: key.keyHint } });
    return c.json(toUpstreamKey(key));
  })
  .delete("/:id/keys/:key_id", audited("upstream_key.delete", "upstream"), async (c) => {
    const id = readParam(c, "id", Uuid);
    const keyId = readParam(c, "key_id", Uuid);
    c.set("audit", { details: { key_id: keyId } });
    await removeKey(c.env, id, keyId);
    return c.body(null, 204);
  });

/** `/manage/aliases/...`. */
export const aliasRoutes = new Hono<AppEnv>()
  .get("/:id", async (c) => c.json(toAlias(await requireAlias(c.env, readParam(c, "id", Uuid)))))
  .patch("/:id", audited("alias.update", "alias"), async (c) => {
    const id = readParam(c, "id", Uuid);
    const patch = await readJson(c, AliasPatch);
    c.set("audit", { details: { fields: Object.keys(patch) } });
    return c.json(toAlias(await patchAlias(c.env, id, patch)));
  })
  .delete("/:id", audited("alias.delete", "alias"), async (c) => {
    await removeAlias(c.env, readParam(c, "id", Uuid));
    return c.body(null, 204);
  });
