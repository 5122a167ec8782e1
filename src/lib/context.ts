import type { JsonObject } from "../storage/schema";

export type AuditNote = { targetId?: string; details?: JsonObject };

/** Hono environment of the app: bindings plus per-request variables. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    /** Who is calling the management API: `management_token` or `admin`. */
    actor: string;
    audit: AuditNote;
  };
};
