import { isValidEncryptionKey } from "../lib/crypto";
import { secretProblem } from "../lib/secrets";
import { allowlistProblem } from "../proxy/allowlist";

/**
 * What `/health/ready` answers. Anyone can call it, so it says only whether each part works: no error text
 * of D1, no secret's name. The reasons go to the worker's log (Workers Logs / `wrangler tail`), where the
 * operator reads them. The one reason it does give is an invalid PROXY_ALLOWLIST: that is the operator's
 * own configuration, not a secret, and it explains why every /v1 request is refused.
 */
export type Readiness = {
  ready: boolean;
  checks: { database: "ok" | "unavailable"; secrets: "ok" | "invalid"; allowlist: string };
};

/** Problems with the secrets, for the log: a surface whose secret is unusable is refused. */
export function secretProblems(env: Env): string[] {
  const out: string[] = [];
  const management = secretProblem("MANAGEMENT_TOKEN", env.MANAGEMENT_TOKEN);
  if (management) out.push(management);
  const signing = secretProblem("TOKEN_SIGNING_KEY", env.TOKEN_SIGNING_KEY);
  if (signing) out.push(signing);
  if (!isValidEncryptionKey(env.ENCRYPTION_KEY)) out.push("ENCRYPTION_KEY is not 32 base64-encoded bytes");
  if (env.ENCRYPTION_KEY_PREVIOUS && !isValidEncryptionKey(env.ENCRYPTION_KEY_PREVIOUS)) {
    out.push("ENCRYPTION_KEY_PREVIOUS is set but not 32 base64-encoded bytes");
  }
  // The admin pages are optional: both unset is a choice; one set, or one too short, is a mistake.
  if (env.ADMIN_PASSWORD || env.SESSION_SECRET) {
    for (const name of ["ADMIN_PASSWORD", "SESSION_SECRET"] as const) {
      const problem = secretProblem(name, env[name]);
      if (problem) out.push(problem);
    }
  }
  return out;
}

async function databaseWorks(db: D1Database): Promise<boolean> {
  try {
    await db.prepare("select 1 from projects limit 1").all();
    return true;
  } catch (err) {
    console.error("readiness: D1 failed", err);
    return false;
  }
}

export async function readiness(env: Env): Promise<Readiness> {
  const secrets = secretProblems(env);
  if (secrets.length) console.error(`readiness: ${secrets.join("; ")}`);
  const allowlist = allowlistProblem(env.PROXY_ALLOWLIST);
  const checks: Readiness["checks"] = {
    database: (await databaseWorks(env.DB)) ? "ok" : "unavailable",
    secrets: secrets.length ? "invalid" : "ok",
    allowlist: allowlist ? `invalid: ${allowlist}` : "ok",
  };
  return { ready: checks.database === "ok" && !secrets.length && !allowlist, checks };
}

/** How long one isolate reuses an answer: a flood of probes costs one D1 query per isolate per interval. */
const REUSE_MS = 5_000;
const recent = new WeakMap<Env, { at: number; answer: Promise<Readiness> }>();

/** `readiness`, reused for a few seconds per isolate and configuration. */
export function cachedReadiness(env: Env, now = Date.now()): Promise<Readiness> {
  const hit = recent.get(env);
  if (hit && now - hit.at < REUSE_MS) return hit.answer;
  const answer = readiness(env);
  recent.set(env, { at: now, answer });
  return answer;
}
