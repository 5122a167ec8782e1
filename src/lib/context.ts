import type { Ceilings, JsonObject } from "../storage/schema";

export type AuditNote = { targetId?: string; details?: JsonObject };

/** Who creates tokens: the actor (audit, `issued_by`) and, for an issuing key, the bounds of its scope. */
export type Issuer = {
  actor: string;
  /** Set for an issuing key: its project and ceilings bound what it may do. */
  scope?: { keyId: string; keyName: string; projectId: string; ceilings: Ceilings };
};

/** Hono environment of the app: bindings plus per-request variables. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    /** Who is calling the management API: `management_token`, `admin` or `issuing_key:<id>`. */
    actor: string;
    /** Set for an issuing key (src/issuing/keys): the project and ceilings it is bound to. */
    issuer?: Issuer;
    audit: AuditNote;
  };
};
