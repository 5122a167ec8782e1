import { encryptSecret, maskSecret } from "../lib/crypto";
import { ApiError, notFound } from "../lib/errors";
import { purgeRegistry } from "../ownership/registry";
import {
  DEFAULT_BASE_URLS,
  type ProviderName,
  type ProviderSettings,
  parseSettings,
} from "../providers/settings";
import { getDb } from "../storage/db";
import type { NewProject, Project } from "../storage/schema";
import { loadedSince, notifyTokens, readTokenObject } from "../tokens/notify";
import {
  liveTokensOfProject,
  projectConfigOf,
  projectLimits,
  projectRenewing,
  revokedUsedTokensOfProject,
  revokeTokens,
  usedTokenOfProject,
} from "../tokens/repo";
import { checkBaseUrl, checkHostChange } from "./base-url";
import type { ProjectLiveState } from "./durable";
import * as repo from "./repo";
import type { ProjectCreate, ProjectPatch } from "./schema";

function isUniqueViolation(err: unknown): boolean {
  const text = String(err instanceof Error ? `${err.message} ${err.cause ?? ""}` : err);
  return /UNIQUE constraint failed: projects\.name/i.test(text);
}

const nameTaken = (name: string) =>
  new ApiError(409, "conflict", `A project named '${name}' already exists.`, { param: "name" });

/** The provider's settings checked and completed, or 400 `validation_error` naming the fields. */
function checkedSettings(provider: ProviderName, input: unknown): ProviderSettings {
  const result = parseSettings(provider, input);
  if (result.ok) return result.settings;
  const summary = result.issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  throw new ApiError(400, "validation_error", `Invalid body: ${summary}`, {
    param: result.issues[0]?.path ?? null,
    fields: result.issues,
  });
}

/** The base URL of a new project: the one given, else the provider's (Azure has none: its resource is yours). */
function baseUrlFor(provider: ProviderName, given: string | undefined): string {
  const url =
    given ?? DEFAULT_BASE_URLS[provider] ?? (provider === "azure" ? null : DEFAULT_BASE_URLS.openai);
  if (url) return url;
  throw new ApiError(
    400,
    "validation_error",
    "Invalid body: base_url: required for provider 'azure' (https://<resource>.openai.azure.com).",
    {
      param: "base_url",
      fields: [{ path: "base_url", message: "required for provider 'azure'" }],
    },
  );
}

export async function createProject(env: Env, input: ProjectCreate): Promise<Project> {
  const baseUrl = baseUrlFor(input.provider, input.base_url);
  checkBaseUrl(baseUrl, env);
  const db = getDb(env);
  const providerSettings = checkedSettings(input.provider, input.provider_settings);
  if (await repo.getProjectByName(db, input.name)) throw nameTaken(input.name);
  try {
    return await repo.insertProject(db, {
      id: crypto.randomUUID(),
      name: input.name,
      provider: input.provider,
      baseUrl,
      providerSettings,
      apiKeyEncrypted: await encryptSecret(input.api_key, env.ENCRYPTION_KEY),
      apiKeyHint: maskSecret(input.api_key),
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
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken(input.name);
    throw err;
  }
}

export async function requireProject(env: Env, id: string): Promise<Project> {
  const project = await repo.getProject(getDb(env), id);
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

export async function patchProject(env: Env, id: string, patch: ProjectPatch): Promise<Project> {
  const db = getDb(env);
  // A new base URL without a new key: checked against the current one, and saved only if that is still it.
  let ifBaseUrl: string | undefined;
  if (patch.base_url !== undefined) {
    checkBaseUrl(patch.base_url, env);
    if (patch.api_key === undefined) {
      const current = await repo.getProject(db, id);
      if (!current) throw notFound("project", id);
      checkHostChange(current.baseUrl, patch.base_url);
      ifBaseUrl = current.baseUrl;
    }
  }
  const values: Partial<NewProject> = {};
  if (patch.name !== undefined) {
    const other = await repo.getProjectByName(db, patch.name);
    if (other && other.id !== id) throw nameTaken(patch.name);
    values.name = patch.name;
  }
  if (patch.api_key !== undefined) {
    values.apiKeyEncrypted = await encryptSecret(patch.api_key, env.ENCRYPTION_KEY);
    values.apiKeyHint = maskSecret(patch.api_key);
  }
  if (patch.provider !== undefined) values.provider = patch.provider;
  if (patch.provider !== undefined || patch.provider_settings !== undefined) {
    // Settings belong to a provider: a new provider starts from its defaults unless the patch brings settings.
    const current = await repo.getProject(db, id);
    if (!current) throw notFound("project", id);
    const provider = patch.provider ?? (current.provider as ProviderName);
    const settings =
      patch.provider_settings !== undefined
        ? patch.provider_settings
        : provider === current.provider
          ? current.providerSettings
          : null;
    values.providerSettings = checkedSettings(provider, settings);
  }
  if (patch.base_url !== undefined) values.baseUrl = patch.base_url;
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

  let updated: Project | undefined;
  try {
    updated = await repo.updateProject(db, id, values, ifBaseUrl);
  } catch (err) {
    if (isUniqueViolation(err) && patch.name) throw nameTaken(patch.name);
    throw err;
  }
  if (!updated && ifBaseUrl !== undefined && (await repo.getProject(db, id))) {
    throw new ApiError(
      409,
      "conflict",
      "The project's base_url changed meanwhile: read it again and retry.",
      {
        param: "base_url",
      },
    );
  }
  if (!updated) throw notFound("project", id);
  if (ADMISSION_FIELDS.some((f) => f in patch)) {
    // The new version of the project goes to every live token's object as data: no object reads D1.
    const project = projectConfigOf(updated);
    await notifyTokens(env, await liveTokensOfProject(db, id, loadedSince(env)), {
      kind: "project",
      project,
    });
  }
  return updated;
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
  await notifyTokens(env, await liveTokensOfProject(db, id, loadedSince(env)), {
    kind: "project",
    project: projectConfigOf(updated),
  });
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
  const live = await liveTokensOfProject(db, id, loadedSince(env));
  const deactivated = await repo.updateProject(db, id, { isActive: false });
  if (!deactivated) throw notFound("project", id);
  await notifyTokens(env, live, { kind: "project", project: projectConfigOf(deactivated) });
  await repo.deleteProject(db, id);
  // Their tokens are gone too: the objects may drop their storage now (best effort; a failure only delays
  // that until the object's configuration age runs out).
  await notifyTokens(env, live, { kind: "deleted" }).catch(() => {});
  // Its record of upstream objects goes too; no token can ask for it any more, so a failure only leaves
  // unreachable rows behind.
  await purgeRegistry(env, id).catch((err) => console.error("object registry not purged", id, err));
}
