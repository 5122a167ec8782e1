import { ApiError, notFound } from "../lib/errors";
import { purgeRegistry } from "../ownership/registry";
import { getDb } from "../storage/db";
import { type NewProject, type Project, projects, upstreamKeys, upstreams } from "../storage/schema";
import { loadProjectConfig, projectLimits, projectRenewing } from "../tokens/config-repo";
import { loadedSince, notifyTokens, readTokenObject } from "../tokens/notify";
import { liveTokensOfProject, revokedUsedTokensOfProject, usedTokenOfProject } from "../tokens/object-repo";
import { revokeTokens } from "../tokens/repo";
import { checkBaseUrl } from "../upstreams/base-url";
import { baseUrlFor, checkedSettings } from "../upstreams/provider-config";
import { newKeys } from "../upstreams/service";
import { defaultUpstreamWrites } from "./default-upstream";
import type { ProjectLiveState } from "./durable";
import * as repo from "./repo";
import type { ProjectCreate, ProjectPatch } from "./schema";

function isUniqueViolation(err: unknown): boolean {
  const text = String(err instanceof Error ? `${err.message} ${err.cause ?? ""}` : err);
  return /UNIQUE constraint failed: projects\.name/i.test(text);
}

const nameTaken = (name: string) =>
  new ApiError(409, "conflict", `A project named '${name}' already exists.`, { param: "name" });

/** Creates the project and its `default` upstream (provider, base URL, key) in one batch. */
export async function createProject(env: Env, input: ProjectCreate): Promise<repo.ProjectWithUpstream> {
  const baseUrl = baseUrlFor(input.provider, input.base_url);
  checkBaseUrl(baseUrl, env);
  const db = getDb(env);
  const settings = checkedSettings(input.provider, input.provider_settings, "provider_settings");
  if (await repo.getProjectByName(db, input.name)) throw nameTaken(input.name);
  const id = crypto.randomUUID();
  const upstreamId = crypto.randomUUID();
  const keys = await newKeys(env, upstreamId, [{ api_key: input.api_key }]);
  try {
    await db.batch([
      db.insert(projects).values({
        id,
        name: input.name,
        description: input.description ?? null,
        metadata: input.metadata ?? null,
        allowedOrigins: input.allowed_origins ?? null,
        allowedModels: input.allowed_models ?? null,
        tokenDefaults: input.token_defaults ?? null,
        maxRequests: input.max_requests ?? null,
        maxTotalTokens: input.max_tokens ?? null,
        maxCostUsd: input.max_cost_usd ?? null,
        periodBudgets: input.period_budgets ?? null,
        budgetTimeZone: input.budget_time_zone ?? null,
        tokenRateLimits: input.token_rate_limit ?? null,
        cache: input.cache ?? null,
        capabilities: input.capabilities ?? [],
        objectScope: input.object_scope ?? "token",
      }),
      db.insert(upstreams).values({
        id: upstreamId,
        projectId: id,
        name: "default",
        provider: input.provider,
        baseUrl,
        settings,
        position: 0,
      }),
      db.insert(upstreamKeys).values(keys),
    ]);
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken(input.name);
    throw err;
  }
  return requireProject(env, id);
}

export async function requireProject(env: Env, id: string): Promise<repo.ProjectWithUpstream> {
  const project = await repo.getProjectWithUpstream(getDb(env), id);
  if (!project) throw notFound("project", id);
  return project;
}

/**
 * The project-wide counters, read through one of its used tokens' objects: the project's object is
 * created by a token's object, near its tokens, never from here (that would pin it near the admin).
 */
export async function projectLiveState(env: Env, project: Project): Promise<ProjectLiveState | null> {
  if (!projectLimits(project) && !projectRenewing(project)) return null;
  const token = await usedTokenOfProject(getDb(env), project.id);
  if (!token) return null;
  return (await readTokenObject(env, token.objectKey)).project;
}

/** Fields whose change alters what a token's Durable Object decides or where it forwards. */
const ADMISSION_FIELDS = [
  "api_key",
  "provider",
  "base_url",
  "provider_settings",
  "allowed_origins",
  "allowed_models",
  "is_active",
  "max_requests",
  "max_tokens",
  "max_cost_usd",
  "period_budgets",
  "budget_time_zone",
  "token_rate_limit",
  "cache",
  "capabilities",
  "object_scope",
];

export async function patchProject(
  env: Env,
  id: string,
  patch: ProjectPatch,
): Promise<repo.ProjectWithUpstream> {
  const db = getDb(env);
  const values: Partial<NewProject> = {};
  if (patch.name !== undefined) {
    const other = await repo.getProjectByName(db, patch.name);
    if (other && other.id !== id) throw nameTaken(patch.name);
    values.name = patch.name;
  }
  if (patch.description !== undefined) values.description = patch.description;
  if (patch.metadata !== undefined) values.metadata = patch.metadata;
  if (patch.allowed_origins !== undefined) values.allowedOrigins = patch.allowed_origins;
  if (patch.allowed_models !== undefined) values.allowedModels = patch.allowed_models;
  if (patch.token_defaults !== undefined) values.tokenDefaults = patch.token_defaults;
  if (patch.is_active !== undefined) values.isActive = patch.is_active;
  if (patch.max_requests !== undefined) values.maxRequests = patch.max_requests;
  if (patch.max_tokens !== undefined) values.maxTotalTokens = patch.max_tokens;
  if (patch.max_cost_usd !== undefined) values.maxCostUsd = patch.max_cost_usd;
  if (patch.period_budgets !== undefined) values.periodBudgets = patch.period_budgets;
  if (patch.budget_time_zone !== undefined) values.budgetTimeZone = patch.budget_time_zone;
  if (patch.token_rate_limit !== undefined) values.tokenRateLimits = patch.token_rate_limit;
  if (patch.cache !== undefined) values.cache = patch.cache;
  if (patch.capabilities !== undefined) values.capabilities = patch.capabilities;
  if (patch.object_scope !== undefined) values.objectScope = patch.object_scope;

  if (patch.base_url !== undefined) checkBaseUrl(patch.base_url, env);
  if (!(await repo.getProject(db, id))) throw notFound("project", id);
  const upstreamWrites = await defaultUpstreamWrites(env, id, patch);
  try {
    await db.batch([repo.updateProjectQuery(db, id, values), ...upstreamWrites]);
  } catch (err) {
    if (isUniqueViolation(err) && patch.name) throw nameTaken(patch.name);
    throw err;
  }
  if (ADMISSION_FIELDS.some((f) => f in patch)) await pushProject(env, id);
  return requireProject(env, id);
}

/**
 * The project's new version (its row and routing table, read now) goes to every live token's object as
 * data, through the relay tree: no object reads D1.
 */
async function pushProject(env: Env, id: string, row?: Project): Promise<void> {
  const db = getDb(env);
  const project = row ?? (await repo.getProject(db, id));
  if (!project) throw notFound("project", id);
  await notifyTokens(env, await liveTokensOfProject(db, id, loadedSince(env)), {
    kind: "project",
    project: await loadProjectConfig(db, project),
  });
}

/**
 * Purges the project's response cache: the generation in every key moves on, so no entry stored before
 * can be found again. Delivered like any project change: the new version reaches the token objects before this returns (the
 * next request of every token admits no hit of the old generation); isolates that reuse the admission of a
 * token with nothing to count follow within ADMISSION_CACHE_MS, as for a revocation. Entries are not
 * deleted: they expire with their TTL.
 */
export async function purgeProjectCache(env: Env, id: string): Promise<number> {
  const db = getDb(env);
  const updated = await repo.bumpCacheGeneration(db, id);
  if (!updated) throw notFound("project", id);
  await pushProject(env, id, updated);
  return updated.cacheGeneration;
}

/**
 * Revokes every token of the project; their objects refuse the next request. Objects of tokens revoked
 * earlier but not expired are told again, so a retry after a failed reload call still stops them.
 */
export async function revokeProjectTokens(env: Env, id: string): Promise<number> {
  await requireProject(env, id);
  const db = getDb(env);
  const revoked = await revokeTokens(db, { projectId: id });
  const known = new Set(revoked.map((t) => t.objectKey));
  const earlier = (await revokedUsedTokensOfProject(db, id, loadedSince(env))).filter(
    (t) => !known.has(t.objectKey),
  );
  await notifyTokens(env, [...revoked, ...earlier], { kind: "revoke", at: Date.now() });
  return revoked.length;
}

/**
 * Deletes the project and its tokens; tokens in use stop at once. The project is deactivated and its
 * tokens' objects told before the row goes: if telling them fails, the request fails with the project
 * still there (inactive), and a repeated DELETE tells them again instead of answering 404 with objects
 * that never heard of the deletion.
 */
export async function removeProject(env: Env, id: string): Promise<void> {
  const db = getDb(env);
  const deactivated = await repo.updateProject(db, id, { isActive: false });
  if (!deactivated) throw notFound("project", id);
  // Listed after the deactivation: an object that read the project before it is listed (its load stamps
  // `configLoadedAt` in the same transaction), one that reads it after finds it inactive. Listed before, a
  // token whose object read the project in between would never be told, and admit for up to
  // CONFIG_MAX_AGE_SECONDS after its project was deleted.
  const live = await liveTokensOfProject(db, id, loadedSince(env));
  await notifyTokens(env, live, { kind: "project", project: await loadProjectConfig(db, deactivated) });
  await repo.deleteProject(db, id);
  // Their tokens are gone too: the objects may drop their storage now (best effort; a failure only delays
  // that until the object's configuration age runs out).
  await notifyTokens(env, live, { kind: "deleted" }).catch(() => {});
  // Its record of upstream objects goes too; no token can ask for it any more, so a failure only leaves
  // unreachable rows behind.
  await purgeRegistry(env, id).catch((err) => console.error("object registry not purged", id, err));
}
