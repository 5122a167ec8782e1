import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../lib/context";
import { ApiError } from "../lib/errors";
import { getDb } from "../storage/db";
import { recordAudit } from "./repo";

/**
 * Records a management action — who, what, on what, and how it ended — after the handler ran, failures
 * included. Routes name the action; the handler may add the target id (for creations) and details.
 */
export const audited = (action: string, targetType: string) =>
  createMiddleware<AppEnv>(async (c, next) => {
    await next();
    const note = c.get("audit") ?? {};
    // An issuing key is named by its id in `actor`; its name goes with it, for people reading the log.
    const scope = c.get("issuer")?.scope;
    const details = scope ? { ...note.details, issuing_key: scope.keyName } : (note.details ?? null);
    const error = c.error instanceof ApiError ? c.error.code : c.error ? "internal_error" : undefined;
    try {
      await recordAudit(getDb(c.env), {
        actor: c.get("actor") ?? "unknown",
        action,
        targetType,
        targetId: note.targetId ?? c.req.param("id") ?? null,
        result: error ?? (c.res.status < 400 ? "ok" : `http_${c.res.status}`),
        status: c.res.status,
        ip: c.req.header("cf-connecting-ip") ?? null,
        details,
      });
    } catch (err) {
      // The action itself happened; a lost audit row must not turn its response into an error.
      console.error("audit write failed", err);
    }
  });
