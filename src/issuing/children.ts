import { z } from "zod";
import { ApiError } from "../lib/errors";
import { Metadata, ModelList, Name, Timestamp } from "../lib/schemas";
import { toNanos } from "../limits/budget";
import { renewingFields } from "../limits/schemas";
import { getDb } from "../storage/db";
import type { RateWindow, Token } from "../storage/schema";
import { tokenObject } from "../tokens/admission-cache";
import { expiryFrom, limitValues, newTokenRow } from "../tokens/create";
import * as repo from "../tokens/repo";
import { RateLimit } from "../tokens/schema";
import { hashToken, objectKeyOf, tokenFormat, verifySigned } from "../tokens/secret";
import { modelsWithin } from "./ceilings";
import type { ChildGrant } from "./mint";

/**
 * Child tokens: a token allowed to (`can_mint`) carves tokens out of its own budgets. Each child's
 * requests, tokens and dollars — for every lifetime budget the parent has — are held in escrow by the
 * parent's object when the children are minted, so the parent plus all its children never spend more than
 * the parent's budget. A child is an ordinary token with its own object (its carved allowance is its own
 * budget there): its requests cost one object call like any token's. When a child ends, its real use is
 * charged to the parent and the rest returns (TokenState.releaseEscrows). Revoking the parent revokes the
 * whole tree at once (repo.revokeTokens).
 */

export const MAX_CHILDREN_PER_CALL = 1_000;

export const ChildrenCreate = z
  .strictObject({
    count: z
      .number()
      .int()
      .min(1)
      .max(MAX_CHILDREN_PER_CALL)
      .optional()
      .describe("How many (default 1, or names.length)"),
    names: z.array(Name).min(1).max(MAX_CHILDREN_PER_CALL).optional().describe("One name per child"),
    duration_minutes: z
      .number()
      .int()
      .min(1)
      .max(525_600)
      .optional()
      .describe("Default: as long as the parent"),
    expires_at: Timestamp.optional(),
    max_requests: z
      .number()
      .int()
      .min(1)
      .max(1_000_000_000)
      .optional()
      .describe("Each child's request budget"),
    max_tokens: z.number().int().min(1).optional().describe("Each child's token budget"),
    max_cost_usd: z
      .number()
      .positive()
      .max(1_000_000)
      .optional()
      .describe("Each child's budget in US dollars"),
    allowed_models: ModelList.optional().describe("Within the parent's (default: the parent's)"),
    rate_limit: RateLimit.optional().describe(
      "Each child's rate windows (default: the parent's); at least as strict as the parent's",
    ),
    ...renewingFields,
    metadata: Metadata.optional(),
  })
  .partial({ period_budgets: true, budget_time_zone: true, token_rate_limit: true })
  .refine((c) => c.count === undefined || c.names === undefined || c.names.length === c.count, {
    message: "count must equal the number of names",
    path: ["count"],
  })
  .refine((c) => c.duration_minutes === undefined || c.expires_at === undefined, {
    message: "give either duration_minutes or expires_at, not both",
    path: ["expires_at"],
  });
export type ChildrenCreate = z.infer<typeof ChildrenCreate>;

const forbidden = (message: string, param?: string) =>
  new ApiError(403, "forbidden", message, { param: param ?? null, retryable: false });

/**
 * Whether rate windows `inner` are at least as strict as `outer` (null = none): each outer window is met by
 * an inner one at least as long that admits no more requests (then no span of the outer window's length
 * can see more than the outer limit).
 */
export function windowsWithin(
  inner: readonly RateWindow[] | null,
  outer: readonly RateWindow[] | null,
): boolean {
  if (!outer?.length) return true;
  return outer.every((o) =>
    (inner ?? []).some((i) => i.window_seconds >= o.window_seconds && i.requests <= o.requests),
  );
}

/** The token a bearer secret belongs to (current secret, or a rotated one in its grace), if it is usable. */
export async function tokenOfSecret(
  env: Env,
  secret: string,
): Promise<{ token: Token; hash: string; objectKey: string }> {
  const unknown = new ApiError(
    401,
    "invalid_token",
    "Send a withering token of this gateway as 'Authorization: Bearer'.",
  );
  // As on the proxy: a forged signed token is refused in memory, before any D1 read.
  const format = tokenFormat(secret);
  if (format === null || (format === "signed" && !(await verifySigned(secret, env)))) throw unknown;
  if (format === "legacy" && env.LEGACY_TOKENS === "refuse") {
    throw new ApiError(401, "token_not_found", "The token is not known to this gateway.", {
      retryable: false,
    });
  }
  const hash = await hashToken(secret);
  const token = await getDb(env).query.tokens.findFirst({
    where: (t, { eq, or }) => or(eq(t.tokenHash, hash), eq(t.previousHash, hash)),
  });
  if (!token)
    throw new ApiError(401, "token_not_found", "The token is not known to this gateway.", {
      retryable: false,
    });
  const now = Date.now();
  const stale = token.tokenHash !== hash && (token.previousValidUntil ?? 0) <= now;
  if (stale || token.revokedAt !== null || !token.isActive) {
    throw new ApiError(401, "token_inactive", "The token is revoked, deactivated or was rotated away.", {
      retryable: false,
    });
  }
  if (token.expiresAt <= now)
    throw new ApiError(401, "token_expired", "The token has expired.", { retryable: false });
  return { token, hash, objectKey: objectKeyOf(secret, hash) };
}

/** Mints children of the token holding `secret`; each secret is in the result only. */
export async function mintChildren(
  env: Env,
  secret: string,
  input: ChildrenCreate,
): Promise<{ parent: Token; children: { token: Token; secret: string }[] }> {
  const { token: parent, hash, objectKey } = await tokenOfSecret(env, secret);
  if (parent.endUserId !== null) throw forbidden("Tokens of end users cannot mint child tokens.");
  if (!parent.canMint) throw forbidden("This token is not allowed to mint child tokens (can_mint).");
  const now = Date.now();
  const expiresAt = expiryFrom(input, now) ?? parent.expiresAt;
  if (expiresAt > parent.expiresAt) {
    throw forbidden(
      `A child cannot outlive its parent (${new Date(parent.expiresAt).toISOString()}).`,
      "duration_minutes",
    );
  }
  const needs = [
    ["max_requests", parent.maxRequests, input.max_requests],
    ["max_tokens", parent.maxTotalTokens, input.max_tokens],
    ["max_cost_usd", parent.maxCostUsd, input.max_cost_usd],
  ] as const;
  for (const [field, parentLimit, childLimit] of needs) {
    if (parentLimit !== null && childLimit === undefined) {
      throw new ApiError(
        400,
        "validation_error",
        `Give ${field} per child: it comes out of the parent's ${field}.`,
        {
          param: field,
        },
      );
    }
  }
  const models = input.allowed_models ?? parent.allowedModels;
  if (!modelsWithin(models, parent.allowedModels)) {
    throw forbidden("A child's allowed_models must be within its parent's.", "allowed_models");
  }
  const rateLimit = input.rate_limit ?? parent.rateLimits;
  if (!windowsWithin(rateLimit, parent.rateLimits)) {
    throw forbidden(
      "A child's rate_limit must be at least as strict as its parent's: for each parent window, one as long or longer with no more requests.",
      "rate_limit",
    );
  }
  const names = input.names ?? Array.from({ length: input.count ?? 1 }, () => null);
  const shared = {
    projectId: parent.projectId,
    expiresAt,
    ...limitValues({ rate_limit: rateLimit ?? undefined, period_budgets: input.period_budgets }),
    ...limitValues({ budget_time_zone: input.budget_time_zone, token_rate_limit: input.token_rate_limit }),
    maxRequests: input.max_requests ?? null,
    maxTotalTokens: input.max_tokens ?? null,
    maxCostUsd: input.max_cost_usd ?? null,
    allowedModels: models,
    // A child never gets more than its parent: no cache where the parent was denied it.
    cacheAllowed: parent.cacheAllowed,
    metadata: input.metadata ?? null,
    parentId: parent.id,
    issuedBy: `token:${parent.id}`,
    createdAt: now,
    updatedAt: now,
  };
  const made = await Promise.all(names.map((name) => newTokenRow(env, { ...shared, name })));
  const grants: ChildGrant[] = made.map(({ row }) => ({
    childId: row.id,
    requests: parent.maxRequests !== null ? (row.maxRequests ?? 0) : 0,
    tokens: parent.maxTotalTokens !== null ? (row.maxTotalTokens ?? 0) : 0,
    costNanos: parent.maxCostUsd !== null ? toNanos(row.maxCostUsd ?? 0) : 0,
    expiresAt,
  }));
  const parentObject = tokenObject(env, objectKey);
  const minted = await parentObject.mint({ credential: { kind: "secret", hash }, children: grants });
  if (!minted.ok) {
    throw new ApiError(minted.status, minted.code, minted.message, { retryable: false });
  }
  try {
    await repo.insertTokens(
      getDb(env),
      made.map((m) => m.row),
    );
  } catch (err) {
    await parentObject.cancelEscrow(grants.map((g) => g.childId)).catch(() => undefined);
    throw err;
  }
  return { parent, children: made.map(({ row, secret: s }) => ({ token: row, secret: s })) };
}

/** A revoked child: its parent settles the escrow as soon as the child's last requests can have settled. */
export async function tellParent(env: Env, childId: string): Promise<void> {
  const db = getDb(env);
  const child = await repo.getToken(db, childId);
  if (!child?.parentId) return;
  const parent = await repo.getToken(db, child.parentId);
  if (!parent || parent.firstUsedAt === null) return;
  await tokenObject(env, parent.objectKey)
    .childEnded(childId)
    .catch((err) => console.error("escrow release not rescheduled", childId, err));
}
