import { ApiError } from "../lib/errors";

/**
 * Which paths below /v1 the gateway forwards at all, and with which methods. One rule per string:
 * `"METHOD[,METHOD…] pattern"`, where the pattern's segments are literals, `*` (exactly one segment) or a
 * final `**` (one or more segments). Operators replace the whole list with the PROXY_ALLOWLIST var (a JSON
 * array of such strings).
 *
 * This is the gateway's outer bound. Within it a token reaches inference only, unless its project enabled
 * an account-wide capability (files, batches, vector stores, …: src/ownership/endpoints.ts decides which
 * path needs which, whatever list is in force), and then only the objects its project's tokens created.
 */
export const DEFAULT_ALLOWLIST: readonly string[] = [
  "GET,POST chat/completions",
  "GET,POST,DELETE chat/completions/*",
  "GET chat/completions/*/messages",
  "POST completions",
  "POST responses",
  "GET,POST,DELETE responses/**",
  "POST conversations",
  "GET,POST,DELETE conversations/**",
  "POST embeddings",
  "GET models",
  "GET,DELETE models/*",
  "POST moderations",
  // Anthropic's Messages API (served when the project's upstream is Anthropic).
  "POST messages",
  "POST messages/count_tokens",
  "POST audio/**",
  "POST images/**",
  "GET,POST files",
  "GET,DELETE files/*",
  "GET files/*/content",
  "POST uploads",
  "POST uploads/*/parts",
  "POST uploads/*/complete",
  "POST uploads/*/cancel",
  "GET,POST batches",
  "GET batches/*",
  "POST batches/*/cancel",
  "GET,POST vector_stores",
  "GET,POST,DELETE vector_stores/**",
  "GET,POST fine_tuning/jobs",
  "GET fine_tuning/jobs/*",
  "POST fine_tuning/jobs/*/cancel",
  "POST fine_tuning/jobs/*/pause",
  "POST fine_tuning/jobs/*/resume",
  "GET fine_tuning/jobs/*/events",
  "GET fine_tuning/jobs/*/checkpoints",
  "POST fine_tuning/alpha/graders/*",
];

type Rule = { methods: Set<string>; pattern: string[] };

export type Allowlist = Rule[];

export function compileAllowlist(rules: readonly string[]): Allowlist {
  return rules.map((rule) => {
    const [methods, pattern, extra] = rule.trim().split(/\s+/);
    if (!methods || !pattern || extra !== undefined)
      throw new Error(`allowlist rule '${rule}' is not 'METHODS path'`);
    const segments = pattern.replace(/^\/+/, "").split("/");
    if (segments.slice(0, -1).includes("**"))
      throw new Error(`allowlist rule '${rule}': '**' only at the end`);
    return { methods: new Set(methods.toUpperCase().split(",")), pattern: segments };
  });
}

function matches(pattern: string[], segments: string[]): boolean {
  const last = pattern.length - 1;
  if (pattern[last] === "**") {
    if (segments.length < pattern.length) return false;
  } else if (segments.length !== pattern.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === "**") return true;
    if (p !== "*" && p !== segments[i]) return false;
  }
  return true;
}

/** Throws 404 `endpoint_not_found` or 405 `method_not_allowed` (with `Allow`) unless the request is listed. */
export function checkAllowed(list: Allowlist, method: string, segments: string[]): void {
  // Made only on the way to a refusal: an allowed request (every request of the warm path) allocates nothing.
  let allowed: Set<string> | undefined;
  for (const rule of list) {
    if (!matches(rule.pattern, segments)) continue;
    if (rule.methods.has(method)) return;
    allowed ??= new Set<string>();
    for (const m of rule.methods) allowed.add(m);
  }
  const path = `/v1/${segments.join("/")}`;
  if (!allowed) throw new ApiError(404, "endpoint_not_found", `The gateway does not forward ${path}.`);
  const allow = [...allowed, "OPTIONS"].join(", ");
  throw new ApiError(405, "method_not_allowed", `${method} is not allowed on ${path}; allowed: ${allow}.`, {
    headers: { allow },
  });
}

type Compiled = { source: string | undefined } & ({ list: Allowlist } | { problem: string });

function compile(source: string | undefined): Compiled {
  if (!source?.trim()) return { source, list: compileAllowlist(DEFAULT_ALLOWLIST) };
  let rules: unknown;
  try {
    rules = JSON.parse(source);
  } catch {
    return { source, problem: "PROXY_ALLOWLIST is not valid JSON" };
  }
  if (!Array.isArray(rules) || !rules.every((r) => typeof r === "string")) {
    return { source, problem: 'PROXY_ALLOWLIST must be a JSON array of rules like "POST chat/completions"' };
  }
  try {
    return { source, list: compileAllowlist(rules) };
  } catch (err) {
    return { source, problem: `PROXY_ALLOWLIST: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** The last source compiled in this isolate, with its result: a bad one is not parsed again per request. */
let cached: Compiled | undefined;

function compiled(source: string | undefined): Compiled {
  if (cached?.source !== source || !cached) cached = compile(source);
  return cached;
}

/** Why PROXY_ALLOWLIST cannot be used (shown by /health/ready), or null when it can. */
export function allowlistProblem(source: string | undefined): string | null {
  const c = compiled(source);
  return "problem" in c ? c.problem : null;
}

const MISCONFIGURED = new ApiError(
  503,
  "gateway_misconfigured",
  "The gateway's configuration is invalid, so it forwards nothing until its operator fixes it (see its /health/ready).",
  { retryable: false },
);

/**
 * The allowlist in force: PROXY_ALLOWLIST when set, else the default; compiled once per isolate. An invalid
 * PROXY_ALLOWLIST fails closed — 503 for every /v1 request, never a wider list — and /health/ready says why.
 */
export function allowlistFor(source: string | undefined): Allowlist {
  const c = compiled(source);
  if ("problem" in c) throw MISCONFIGURED;
  return c.list;
}
