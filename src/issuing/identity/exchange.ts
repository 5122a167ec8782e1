import { ApiError, type ErrorCode } from "../../lib/errors";
import { getDb } from "../../storage/db";
import type { Token } from "../../storage/schema";
import { newTokenRow } from "../../tokens/create";
import { insertTokens } from "../../tokens/repo";
import { modelsWithin } from "../ceilings";
import type { ExchangeRequest } from "./schema";
import { activeTokensOfUser, requireProvider } from "./service";
import { ensureEndUser } from "./user-config";
import { verifyJwt } from "./verify";

const forbidden = (code: ErrorCode, message: string, param?: string) =>
  new ApiError(403, code, message, { param: param ?? null, retryable: false });

/**
 * Exchanges an end user's JWT for a withering token. The token is routed to the user's object, so
 * whatever the user holds — several tokens, browser tabs, the JWT itself — their limits (the provider's
 * `user_limits`, or the user's own) are counted once, exactly. The token itself carries only its expiry
 * (the provider's default, at most its ceiling) and optionally fewer models.
 */
export async function exchangeJwt(
  env: Env,
  jwt: string,
  input: ExchangeRequest,
  origin: string | null,
): Promise<{ token: Token; secret: string; userId: string }> {
  const verified = await verifyJwt(env, jwt, { projectId: input.project_id, fresh: false });
  const provider = await requireProvider(env, verified.credential.providerId);
  const project = await getDb(env).query.projects.findFirst({
    where: (p, { eq }) => eq(p.id, provider.projectId),
  });
  if (!project?.isActive || !provider.isActive) {
    throw forbidden("project_inactive", "The project does not accept this identity provider's users now.");
  }
  if (
    origin &&
    project.allowedOrigins &&
    !project.allowedOrigins.includes("*") &&
    !project.allowedOrigins.includes(origin)
  ) {
    throw forbidden("origin_not_allowed", `Origin '${origin}' is not allowed for this project.`);
  }
  const minutes =
    input.duration_minutes ?? Math.min(provider.tokenDurationMinutes, provider.maxTokenDurationMinutes);
  if (minutes > provider.maxTokenDurationMinutes) {
    throw forbidden(
      "ceiling_exceeded",
      `Tokens exchanged here last at most ${provider.maxTokenDurationMinutes} minutes.`,
      "duration_minutes",
    );
  }
  const userModels = provider.userLimits?.allowed_models ?? null;
  if (input.allowed_models && !modelsWithin(input.allowed_models, userModels)) {
    throw forbidden(
      "ceiling_exceeded",
      "allowed_models must be within the user's allowed models.",
      "allowed_models",
    );
  }
  const db = getDb(env);
  const userId = await ensureEndUser(db, {
    projectId: provider.projectId,
    providerId: provider.id,
    subject: verified.credential.subject,
    objectKey: verified.objectKey,
  });
  const user = await db.query.endUsers.findFirst({ where: (u, { eq }) => eq(u.id, userId) });
  if (!user?.isActive) {
    throw new ApiError(401, "token_inactive", "This user's access has been revoked.", { retryable: false });
  }
  if ((await activeTokensOfUser(env, userId)) >= provider.maxActiveTokensPerUser) {
    throw new ApiError(
      429,
      "quota_exceeded",
      `This user already holds ${provider.maxActiveTokensPerUser} live tokens: reuse one, or wait until one expires.`,
      { retryable: false },
    );
  }
  const now = Date.now();
  const { row, secret } = await newTokenRow(
    env,
    {
      projectId: provider.projectId,
      name: input.name ?? null,
      expiresAt: now + minutes * 60_000,
      allowedModels: input.allowed_models ?? null,
      endUserId: userId,
      issuedBy: `identity:${provider.id}`,
      createdAt: now,
      updatedAt: now,
    },
    verified.objectKey,
  );
  await insertTokens(db, [row]);
  return { token: row, secret, userId };
}
