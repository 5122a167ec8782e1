import type { Context } from "hono";
import type { AppEnv, Issuer } from "../../lib/context";
import { ApiError, notFound } from "../../lib/errors";

// What an issuing key may call is declared by each route (`issuingKey: true` in lib/documented-routes.ts:
// creating, listing, reading and revoking tokens); every other route refuses it with 403 before reading the
// request. The helpers below keep a key inside its own project on the routes it may call.

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
