// A project's upstreams: where its requests go. Their keys are managed in keys.ts, the aliases that pick
// among them in aliases.ts; both look upstreams and projects up through this file.
import { encryptSecret, maskSecret } from "../lib/crypto";
import { ApiError, notFound } from "../lib/errors";
import { getProject } from "../projects/repo";
import type { ProviderName } from "../providers/settings";
import { getDb } from "../storage/db";
import type { NewUpstreamKey, Upstream, UpstreamKey } from "../storage/schema";
import { reloadProjectTokens } from "../tokens/notify";
import { checkBaseUrl, checkHostChange } from "./base-url";
import { baseUrlFor, checkedSettings } from "./provider-config";
import * as repo from "./repo";
import { MAX_UPSTREAMS, type UpstreamCreate, type UpstreamPatch } from "./schema";

export type UpstreamWithKeys = { upstream: Upstream; keys: UpstreamKey[] };

/** Whether a write failed on a unique index of `table` (D1 names it in the message or its cause). */
export const uniqueViolation = (err: unknown, table: string): boolean => {
  const text = String(err instanceof Error ? `${err.message} ${err.cause ?? ""}` : err);
  return new RegExp(`UNIQUE constraint failed: ${table}\\.`, "i").test(text);
};

const upstreamNameTaken = (name: string) =>
  new ApiError(409, "conflict", `The project already has an upstream named '${name}'.`, { param: "name" });

export async function requireProjectId(env: Env, projectId: string): Promise<void> {
  if (!(await getProject(getDb(env), projectId))) throw notFound("project", projectId);
}

export async function requireUpstream(env: Env, id: string): Promise<Upstream> {
  const upstream = await repo.getUpstream(getDb(env), id);
  if (!upstream) throw notFound("upstream", id);
  return upstream;
}

/** New key rows, encrypted; the plaintext goes nowhere else. */
export async function newKeys(
  env: Env,
  upstreamId: string,
  keys: { api_key: string; weight?: number; is_active?: boolean }[],
): Promise<NewUpstreamKey[]> {
  return Promise.all(
    keys.map(async (k) => ({
      id: crypto.randomUUID(),
      upstreamId,
      keyEncrypted: await encryptSecret(k.api_key, env.ENCRYPTION_KEY),
      keyHint: maskSecret(k.api_key),
      weight: k.weight ?? 1,
      isActive: k.is_active ?? true,
    })),
  );
}

export async function listProjectUpstreams(env: Env, projectId: string): Promise<UpstreamWithKeys[]> {
  await requireProjectId(env, projectId);
  const db = getDb(env);
  const [rows, keys] = await Promise.all([
    repo.listUpstreams(db, projectId),
    repo.keysOfProject(db, projectId),
  ]);
  return rows.map((upstream) => ({ upstream, keys: keys.filter((k) => k.upstreamId === upstream.id) }));
}

export async function upstreamWithKeys(env: Env, id: string): Promise<UpstreamWithKeys> {
  const upstream = await requireUpstream(env, id);
  return { upstream, keys: await repo.keysOfUpstream(getDb(env), id) };
}

export async function createUpstream(
  env: Env,
  projectId: string,
  input: UpstreamCreate,
): Promise<UpstreamWithKeys> {
  const baseUrl = baseUrlFor(input.provider, input.base_url);
  checkBaseUrl(baseUrl, env);
  const settings = checkedSettings(input.provider, input.settings);
  await requireProjectId(env, projectId);
  const db = getDb(env);
  if ((await repo.countUpstreams(db, projectId)) >= MAX_UPSTREAMS) {
    throw new ApiError(409, "conflict", `A project has at most ${MAX_UPSTREAMS} upstreams.`);
  }
  const id = crypto.randomUUID();
  const keys = await newKeys(env, id, input.keys ?? (input.api_key ? [{ api_key: input.api_key }] : []));
  try {
    await repo.insertUpstream(
      db,
      {
        id,
        projectId,
        name: input.name,
        provider: input.provider,
        baseUrl,
        models: input.models ?? null,
        settings,
        firstByteTimeoutMs: input.first_byte_timeout_ms ?? null,
        retryOn: input.retry_on ?? null,
        position: input.position ?? (await repo.nextPosition(db, projectId)),
        isActive: input.is_active ?? true,
      },
      keys,
    );
  } catch (err) {
    if (uniqueViolation(err, "upstreams")) throw upstreamNameTaken(input.name);
    throw err;
  }
  await reloadProjectTokens(env, projectId);
  return upstreamWithKeys(env, id);
}

/**
 * Changes an upstream. Moving its base URL to another host needs the key for that host in the same
 * request (`api_key`, which replaces all its keys): the stored keys are never sent to a new host. A rename
 * renames the upstream in the project's alias targets too.
 */
export async function patchUpstream(env: Env, id: string, patch: UpstreamPatch): Promise<UpstreamWithKeys> {
  const db = getDb(env);
  const current = await requireUpstream(env, id);
  const currentKeys = await repo.keysOfUpstream(db, id);
  if (patch.base_url !== undefined) {
    checkBaseUrl(patch.base_url, env);
    if (patch.api_key === undefined && currentKeys.length > 0)
      checkHostChange(current.baseUrl, patch.base_url);
  }
  const values: Parameters<typeof repo.updateUpstreamQuery>[2] = {};
  if (patch.name !== undefined) values.name = patch.name;
  if (patch.provider !== undefined) values.provider = patch.provider;
  if (patch.provider !== undefined || patch.settings !== undefined) {
    // Settings belong to a provider: a new provider starts from its defaults unless the patch brings settings.
    const provider = patch.provider ?? (current.provider as ProviderName);
    const settings =
      patch.settings !== undefined ? patch.settings : provider === current.provider ? current.settings : null;
    values.settings = checkedSettings(provider, settings);
  }
  if (patch.base_url !== undefined) values.baseUrl = patch.base_url;
  if (patch.models !== undefined) values.models = patch.models;
  if (patch.first_byte_timeout_ms !== undefined) values.firstByteTimeoutMs = patch.first_byte_timeout_ms;
  if (patch.retry_on !== undefined) values.retryOn = patch.retry_on;
  if (patch.position !== undefined) values.position = patch.position;
  if (patch.is_active !== undefined) values.isActive = patch.is_active;

  type Write = Parameters<typeof db.batch>[0][number];
  const writes: Write[] = [];
  try {
    if (patch.base_url !== undefined && patch.api_key === undefined) {
      // The host check above held for the base URL it read: save only if that is still the upstream's, so a
      // concurrent move (with its own key) cannot be undone into sending that key back here.
      const saved = await repo.updateUpstreamQuery(db, id, values, current.baseUrl);
      if (saved.length === 0) {
        throw new ApiError(
          409,
          "conflict",
          "The upstream's base_url changed meanwhile: read it again and retry.",
          {
            param: "base_url",
          },
        );
      }
    } else {
      writes.push(repo.updateUpstreamQuery(db, id, values));
    }
  } catch (err) {
    if (patch.name && uniqueViolation(err, "upstreams")) throw upstreamNameTaken(patch.name);
    throw err;
  }
  if (patch.api_key !== undefined) {
    writes.push(repo.deleteKeysOfUpstreamQuery(db, id));
    writes.push(repo.insertKeysQuery(db, await newKeys(env, id, [{ api_key: patch.api_key }])));
  }
  if (patch.name !== undefined && patch.name !== current.name) {
    for (const alias of await repo.listAliases(db, current.projectId)) {
      if (!alias.targets.some((t) => t.upstream === current.name)) continue;
      const targets = alias.targets.map((t) =>
        t.upstream === current.name ? { ...t, upstream: patch.name! } : t,
      );
      writes.push(repo.updateAliasQuery(db, alias.id, { targets }));
    }
  }
  try {
    if (writes.length > 0) await db.batch(writes as [Write, ...Write[]]);
  } catch (err) {
    if (patch.name && uniqueViolation(err, "upstreams")) throw upstreamNameTaken(patch.name);
    throw err;
  }
  await reloadProjectTokens(env, current.projectId);
  return upstreamWithKeys(env, id);
}

/** Deletes an upstream (and its keys). One that an alias still targets cannot go: 409 names the aliases. */
export async function removeUpstream(env: Env, id: string): Promise<void> {
  const db = getDb(env);
  const upstream = await requireUpstream(env, id);
  const using = (await repo.listAliases(db, upstream.projectId)).filter((a) =>
    a.targets.some((t) => t.upstream === upstream.name),
  );
  if (using.length > 0) {
    throw new ApiError(
      409,
      "conflict",
      `Upstream '${upstream.name}' is a target of alias${using.length > 1 ? "es" : ""} ${using.map((a) => `'${a.name}'`).join(", ")}: change ${using.length > 1 ? "them" : "it"} first.`,
    );
  }
  await repo.deleteUpstream(db, id);
  await reloadProjectTokens(env, upstream.projectId);
}
