import { applyCeilings } from "../issuing/ceilings";
import type { Issuer } from "../lib/context";
import { ApiError } from "../lib/errors";
import { TokenDefaults } from "../projects/schema";
import { requireProject } from "../projects/service";
import { getDb } from "../storage/db";
import type { NewToken, Project, Token } from "../storage/schema";
import * as repo from "./repo";
import { MAX_DURATION_MINUTES, type TokenBatchCreate, type TokenCreate } from "./schema";
import { generateTokenSecret, hashToken, tokenHint } from "./secret";

const DEFAULT_DURATION_MINUTES = 60;
const MINUTE = 60_000;

export const OPERATOR: Issuer = { actor: "management_token" };

export function expiryFrom(
  input: { duration_minutes?: number; expires_at?: string },
  now: number,
): number | undefined {
  if (input.duration_minutes !== undefined) return now + input.duration_minutes * MINUTE;
  if (input.expires_at === undefined) return undefined;
  const at = Date.parse(input.expires_at);
  if (at <= now)
    throw new ApiError(400, "validation_error", "expires_at must be in the future.", { param: "expires_at" });
  if (at > now + MAX_DURATION_MINUTES * MINUTE) {
    throw new ApiError(
      400,
      "validation_error",
      "expires_at must be at most one year (525600 minutes) from now.",
      {
        param: "expires_at",
      },
    );
  }
  return at;
}

type LimitInput = Partial<
  Pick<
    TokenCreate,
    | "max_requests"
    | "rate_limit"
    | "max_tokens"
    | "max_cost_usd"
    | "allowed_models"
    | "period_budgets"
    | "budget_time_zone"
    | "token_rate_limit"
  >
>;

export function limitValues(input: LimitInput): Partial<NewToken> {
  const values: Partial<NewToken> = {};
  if (input.max_requests !== undefined) values.maxRequests = input.max_requests;
  if (input.rate_limit !== undefined) values.rateLimits = input.rate_limit;
  if (input.max_tokens !== undefined) values.maxTotalTokens = input.max_tokens;
  if (input.max_cost_usd !== undefined) values.maxCostUsd = input.max_cost_usd;
  if (input.allowed_models !== undefined) values.allowedModels = input.allowed_models;
  if (input.period_budgets !== undefined) values.periodBudgets = input.period_budgets;
  if (input.budget_time_zone !== undefined) values.budgetTimeZone = input.budget_time_zone;
  if (input.token_rate_limit !== undefined) values.tokenRateLimits = input.token_rate_limit;
  return values;
}

/** The project a token is created in: the issuing key's own, active. */
export async function issuingProject(
  env: Env,
  projectId: string | undefined,
  issuer: Issuer,
): Promise<Project> {
  const scope = issuer.scope;
  if (scope && projectId !== undefined && projectId !== scope.projectId) {
    throw new ApiError(403, "forbidden", "An issuing key creates tokens of its own project only.", {
      param: "project_id",
      retryable: false,
    });
  }
  const id = projectId ?? scope?.projectId;
  if (!id) throw new ApiError(400, "validation_error", "project_id is required.", { param: "project_id" });
  const project = await requireProject(env, id);
  if (!project.isActive) {
    throw new ApiError(
      409,
      "conflict",
      `Project '${project.name}' is deactivated; activate it to create tokens.`,
      {
        param: "project_id",
      },
    );
  }
  return project;
}

type Template = Omit<TokenCreate, "project_id">;

/**
 * The row values shared by every token made from one template: the project's defaults, then what the
 * request sets itself (null included: "no limit"), then the issuing key's ceilings.
 */
export function templateValues(project: Project, input: Template, issuer: Issuer, now: number) {
  // Stored defaults were validated on the way in; a row from before that validation is ignored, not trusted.
  const parsed = TokenDefaults.safeParse(project.tokenDefaults ?? {});
  const defaults = parsed.success ? parsed.data : {};
  const defaultMinutes = defaults.duration_minutes ?? DEFAULT_DURATION_MINUTES;
  let values = {
    expiresAt: expiryFrom(input, now) ?? now + defaultMinutes * MINUTE,
    maxRequests: null,
    maxTotalTokens: null,
    maxCostUsd: null,
    allowedModels: null,
    periodBudgets: null,
    canMint: input.can_mint ?? false,
    cacheAllowed: input.cache ?? true,
    ...limitValues(defaults),
    ...limitValues(input),
  } satisfies Partial<NewToken>;
  if (issuer.scope) {
    const explicit = new Set(Object.keys(input).filter((k) => input[k as keyof Template] !== undefined));
    values = { ...values, ...applyCeilings(values, issuer.scope.ceilings, explicit, now) };
  }
  return {
    ...values,
    projectId: project.id,
    metadata: input.metadata ?? null,
    issuedBy: issuer.scope ? `issuing_key:${issuer.scope.keyId}` : issuer.actor,
    issuingKeyId: issuer.scope?.keyId ?? null,
  } satisfies Partial<NewToken>;
}

/**
 * A new token row with a fresh signed secret (a routed one when `objectKey` names another object). Every
 * token the gateway issues — by the operator, an issuing key, a parent token or a JWT exchange — is made
 * here, so all of them share one secret format.
 */
export async function newTokenRow(
  env: Env,
  shared: Omit<NewToken, "id" | "tokenHash" | "tokenHint" | "objectKey">,
  objectKey?: string,
): Promise<{ row: Token; secret: string }> {
  const secret = await generateTokenSecret(env, objectKey);
  const tokenHash = await hashToken(secret);
  const row: Token = {
    name: null,
    metadata: null,
    isActive: true,
    revokedAt: null,
    maxRequests: null,
    rateLimits: null,
    maxTotalTokens: null,
    maxCostUsd: null,
    allowedModels: null,
    periodBudgets: null,
    budgetTimeZone: null,
    tokenRateLimits: null,
    previousHash: null,
    previousValidUntil: null,
    parentId: null,
    canMint: false,
    cacheAllowed: true,
    configLoadedAt: null,
    issuedBy: null,
    issuingKeyId: null,
    endUserId: null,
    firstUsedAt: null,
    lastUsedAt: null,
    requestCount: 0,
    totalTokensUsed: 0,
    costUsedUsd: 0,
    createdAt: Date.now(),
    updatedAt: Date.now(),
    ...shared,
    id: crypto.randomUUID(),
    tokenHash,
    tokenHint: tokenHint(secret),
    objectKey: objectKey ?? tokenHash,
  };
  return { row, secret };
}

/** Creates a token; the secret is returned here and never again. No Durable Object is touched. */
export async function createToken(
  env: Env,
  input: TokenCreate,
  issuer: Issuer = OPERATOR,
): Promise<{ token: Token; secret: string }> {
  const [created] = await createTokens(env, input.project_id, [input], issuer);
  return created as { token: Token; secret: string };
}

/** Creates tokens from templates (one per token) in one D1 statement per hundred; secrets returned once. */
export async function createTokens(
  env: Env,
  projectId: string | undefined,
  templates: Template[],
  issuer: Issuer = OPERATOR,
): Promise<{ token: Token; secret: string }[]> {
  const project = await issuingProject(env, projectId, issuer);
  const now = Date.now();
  const made = await Promise.all(
    templates.map((t) =>
      newTokenRow(env, {
        ...templateValues(project, t, issuer, now),
        name: t.name ?? null,
        createdAt: now,
        updatedAt: now,
      }),
    ),
  );
  await repo.insertTokens(
    getDb(env),
    made.map((m) => m.row),
  );
  return made.map(({ row, secret }) => ({ token: row, secret }));
}

/** A batch as the API takes it: `count` tokens, named by a prefix (`<name>-1` …) or one name each. */
export function createBatch(env: Env, body: TokenBatchCreate, issuer: Issuer = OPERATOR) {
  const { project_id, count, names, name, ...template } = body;
  const n = names?.length ?? count ?? 1;
  const named = Array.from({ length: n }, (_, i) => ({
    ...template,
    name: names?.[i] ?? (name !== undefined ? `${name}-${i + 1}` : undefined),
  }));
  return createTokens(env, project_id, named, issuer);
}
