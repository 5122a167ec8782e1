import type { Session } from "./session";

export type AdminEnv = { Bindings: Env; Variables: { session: Session } };
