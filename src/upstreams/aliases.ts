// Model aliases: names clients ask for that the gateway maps to models on the project's upstreams.
import { ApiError, notFound } from "../lib/errors";
import { getDb } from "../storage/db";
import type { ModelAlias } from "../storage/schema";
import { reloadProjectTokens } from "../tokens/notify";
import * as repo from "./repo";
import { type AliasCreate, type AliasPatch, MAX_ALIASES } from "./schema";
import { requireProjectId, uniqueViolation } from "./service";

const aliasNameTaken = (name: string) =>
  new ApiError(409, "conflict", `The project already has an alias named '${name}'.`, { param: "name" });

export async function requireAlias(env: Env, id: string): Promise<ModelAlias> {
  const alias = await repo.getAlias(getDb(env), id);
  if (!alias) throw notFound("alias", id);
  return alias;
}

export async function listProjectAliases(env: Env, projectId: string): Promise<ModelAlias[]> {
  await requireProjectId(env, projectId);
  return repo.listAliases(getDb(env), projectId);
}

/** Alias targets must name upstreams of the project (400 with the target at fault otherwise). */
async function checkTargets(env: Env, projectId: string, targets: AliasCreate["targets"]): Promise<void> {
  const names = new Set((await repo.listUpstreams(getDb(env), projectId)).map((u) => u.name));
  const fields = targets.flatMap((t, i) =>
    names.has(t.upstream)
      ? []
      : [{ path: `targets.${i}.upstream`, message: `the project has no upstream named '${t.upstream}'` }],
  );
  if (fields.length > 0) {
    const summary = fields.map((f) => `${f.path}: ${f.message}`).join("; ");
    throw new ApiError(400, "validation_error", `Invalid request body: ${summary}`, {
      param: fields[0]!.path,
      fields,
    });
  }
}

export async function createAlias(env: Env, projectId: string, input: AliasCreate): Promise<ModelAlias> {
  await requireProjectId(env, projectId);
  const db = getDb(env);
  if ((await repo.listAliases(db, projectId)).length >= MAX_ALIASES) {
    throw new ApiError(409, "conflict", `A project has at most ${MAX_ALIASES} aliases.`);
  }
  await checkTargets(env, projectId, input.targets);
  let alias: ModelAlias;
  try {
    alias = await repo.insertAlias(db, {
      id: crypto.randomUUID(),
      projectId,
      name: input.name,
      strategy: input.strategy,
      targets: input.targets,
    });
  } catch (err) {
    if (uniqueViolation(err, "model_aliases")) throw aliasNameTaken(input.name);
    throw err;
  }
  await reloadProjectTokens(env, projectId);
  return alias;
}

export async function patchAlias(env: Env, id: string, patch: AliasPatch): Promise<ModelAlias> {
  const current = await requireAlias(env, id);
  if (patch.targets) await checkTargets(env, current.projectId, patch.targets);
  try {
    await repo.updateAliasQuery(getDb(env), id, patch);
  } catch (err) {
    if (patch.name && uniqueViolation(err, "model_aliases")) throw aliasNameTaken(patch.name);
    throw err;
  }
  await reloadProjectTokens(env, current.projectId);
  return requireAlias(env, id);
}

export async function removeAlias(env: Env, id: string): Promise<void> {
  const alias = await requireAlias(env, id);
  await repo.deleteAlias(getDb(env), id);
  await reloadProjectTokens(env, alias.projectId);
}
