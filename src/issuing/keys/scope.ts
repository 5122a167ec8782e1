import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv, Issuer } from "../../lib/context";
import { ApiError, notFound } from "../../lib/errors";

/**
 * What an issuing key may call: creating, listing, reading and revoking tokens — checked on the raw path,
 * default deny, so no other route (projects, upstream keys, audit, usage, events, metrics, issuing keys,
 * identity providers, users, token changes or rotation) and no other spelling of these paths is reachable.
 * The handlers then keep the key inside its project (issuingProject, inScope).
 */
const UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
const ALLOWED: readonly (readonly [string, RegExp])[] = [
  ["POST", /^\/manage\/tokens$/],
  ["POST", /^\/manage\/tokens\/batch$/],
  ["GET", /^\/manage\/tokens$/],
  ["GET", new RegExp(`^/manage/tokens/${UUID}$`)],
  ["DELETE", new RegExp(`^/manage/tokens/${UUID}$`)],
  ["DELETE", /^\/manage\/tokens$/],
];

export const issuingKeyScope = createMiddleware<AppEnv>(async (c, next) => {
  if (!c.get("issuer")?.scope) return next();
  const path = new URL(c.req.url).pathname;
  if (!ALLOWED.some(([method, pattern]) => method === c.req.method && pattern.test(path))) {
    throw new ApiError(
      403,
      "forbidden",
      "An issuing key can only create, list and revoke tokens of its own project.",
      { retryable: false },
    );
  }
  return next();
});

/** The issuer of a management call: an issuing key's scope, or the operator. */
export const issuerOf = (c: Context<AppEnv>): Issuer =>
  c.get("issuer") ?? { actor: c.get("actor") ?? "unknown" };

/** A token outside the key's project does not exist, as far as the key can tell. */
export function inScope<T extends { id: string; projectId: string }>(c: Context<AppEnv>, token: T): T {
  const scope = c.get("issuer")?.scope;
  if (scope && token.projectId !== scope.projectId) throw notFound("token", token.id);
  return token;
}

/** The project filter of a list: an issuing key sees its own project only. */
export function scopedProject(c: Context<AppEnv>, asked: string | undefined): string | undefined {
  const scope = c.get("issuer")?.scope;
  if (!scope) return asked;
  if (asked !== undefined && asked !== scope.projectId) {
    throw new ApiError(403, "forbidden", "An issuing key lists tokens of its own project only.", {
      param: "project_id",
      retryable: false,
    });
  }
  return scope.projectId;
}
