// The hosts the bench measures, all on loopback: the mock upstream (its own thread, so it never shares
// an event loop with the load generator), and two Miniflare instances built the same lean way from the
// project's wrangler.toml — llm-proxy's deployable bundle and a do-nothing passthrough worker — each
// reached through a direct socket to the worker (no `wrangler dev`, no Miniflare entry worker in between).
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import { convertV4MiniflareOptions, Miniflare, type V4WorkerOptions as WorkerOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_splitSqlQuery } from "wrangler";

const run = promisify(execFile);

export const ROOT = new URL("..", import.meta.url).pathname;
// wrangler's own entry run by this Node (22), whatever `node` is first on PATH.
const WRANGLER = join(ROOT, "node_modules/wrangler/bin/wrangler.js");
const wrangler = (args: string[]) =>
  run(process.execPath, [WRANGLER, ...args], {
    cwd: ROOT,
    env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" },
    maxBuffer: 16 * 1024 * 1024,
  });

// Secrets as plain bindings, fresh per run (the bench's Miniflare storage is in memory).
export const SECRETS = {
  MANAGEMENT_TOKEN: `bench-mgmt-${crypto.randomUUID()}`,
  ENCRYPTION_KEY: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"),
  ADMIN_PASSWORD: `bench-${crypto.randomUUID()}`,
  SESSION_SECRET: `bench-session-${crypto.randomUUID()}`,
  TOKEN_SIGNING_KEY: `bench-signing-${crypto.randomUUID()}`,
};

// What a worker that only forwards costs: same runtime, same compatibility date, one fetch.
const PASSTHROUGH_SCRIPT = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.UPSTREAM_ORIGIN + url.pathname + url.search, request);
  },
};
`;

export type MockHandle = { url: string; close(): Promise<void> };

/** Starts test/support/mock-upstream.ts in a worker thread (recording nothing). */
export async function startMockThread(): Promise<MockHandle> {
  const worker = new Worker(new URL("./mock-thread.ts", import.meta.url));
  const url = await new Promise<string>((resolve, reject) => {
    worker.once("message", (m: { url: string }) => resolve(m.url));
    worker.once("error", reject);
  });
  return {
    url,
    close: async () => {
      worker.postMessage("close");
      await new Promise((resolve) => worker.once("exit", resolve));
    },
  };
}

export type BundleInfo = { dir: string; totalKiB: number; gzipKiB: number };

/** `wrangler deploy --dry-run --outdir`: the exact bundle a deploy uploads, and its reported size. */
export async function buildBundle(outdir: string): Promise<BundleInfo> {
  const { stdout, stderr } = await wrangler(["deploy", "--dry-run", "--outdir", outdir]);
  const m = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(stdout + stderr);
  if (!m) throw new Error(`could not read the bundle size from wrangler's output:\n${stdout}\n${stderr}`);
  return { dir: outdir, totalKiB: Number(m[1]), gzipKiB: Number(m[2]) };
}

export type StartupProfile = { activeMs: number; profileWindowMs: number } | null;

/**
 * `wrangler check startup` (it builds the worker as a deploy would, then profiles it in workerd): the
 * CPU time spent evaluating the worker's global scope, which Cloudflare limits.
 */
export async function profileStartup(outfile: string): Promise<StartupProfile> {
  try {
    const { stdout, stderr } = await wrangler(["check", "startup", "--outfile", outfile]);
    const out = stdout + stderr;
    const active = /Active:\s*([\d.]+)\s*ms/.exec(out);
    const window = /Profile window:\s*([\d.]+)\s*ms/.exec(out);
    if (!active) return null;
    return { activeMs: Number(active[1]), profileWindowMs: Number(window?.[1] ?? 0) };
  } catch {
    return null;
  }
}

export type Host = {
  name: string;
  mf: Miniflare;
  url: string;
  readyMs: number;
  /** CPU time (ms) the host's workerd process has used so far, where /proc can tell (Linux). */
  cpuMs: () => number | null;
  /** The host's workerd process, where /proc can tell (for perf, bench/native-profile.ts). */
  pid?: number;
  /** llm-proxy with its consumer in: the usage queue's max_batch_timeout, seconds. */
  batchTimeoutS?: number;
};

/** Our child processes named workerd (each Miniflare instance runs one). */
async function workerdChildren(): Promise<Set<number>> {
  const out = new Set<number>();
  try {
    for (const entry of await readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      if (comm === "workerd" && ppid === process.pid) out.add(Number(entry));
    }
  } catch {
    // No /proc: CPU figures are left out.
  }
  return out;
}

/** Sum of the process's threads' on-CPU time (ns in /proc/<pid>/task/<tid>/schedstat), in ms. */
function processCpuMs(pid: number): number | null {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8");
      ns += Number(stat.split(" ")[0]);
    }
    return ns / 1e6;
  } catch {
    return null;
  }
}

async function start(
  name: string,
  worker: WorkerOptions,
  storageDir?: string,
  inspectorPort?: number,
): Promise<Host> {
  const before = await workerdChildren();
  const t0 = performance.now();
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      workers: [{ ...worker, name, unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] }],
      ...(storageDir ? { resourcePersistencePath: storageDir } : {}),
      ...(inspectorPort !== undefined ? { inspectorPort } : {}),
    }),
  );
  await mf.ready;
  const readyMs = performance.now() - t0;
  const url = (await mf.unsafeGetDirectURL(name)).origin;
  const pid = [...(await workerdChildren())].find((p) => !before.has(p));
  return { name, mf, url, readyMs, pid, cpuMs: () => (pid === undefined ? null : processCpuMs(pid)) };
}

/** The options wrangler itself derives from wrangler.toml (bindings, compatibility date and flags). */
function projectOptions(): WorkerOptions {
  // wrangler reads required secrets from process.env; setting them here also keeps it from warning.
  Object.assign(process.env, SECRETS);
  return unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.toml")).workerOptions as WorkerOptions;
}

export type ProxyOptions = {
  /** Storage directory (e.g. on tmpfs); default: Miniflare's temporary directory on disk. */
  storageDir?: string;
  /** Open an inspector (0: any free port), for the CPU profile. */
  inspectorPort?: number;
  /**
   * The usage queue's consumer: "in" runs it in this workerd process (what a single host running the
   * gateway pays for, and what the headline figures count); "out" leaves it out, so the process does only
   * what the proxy does per request (events are still produced and sent, then dropped by the queue).
   */
  consumer: "in" | "out";
  /**
   * Override of the consumers' max_batch_timeout in seconds (default: wrangler.toml's, 5). It bounds how
   * long the last, partial batch waits, which the bench waits out at the end of each phase; it also sets
   * how many events a batch holds when messages come slowly, so the default is the deployed value.
   */
  batchTimeoutS?: number;
  /** The host's name (default "llm-proxy") and variables to override (e.g. CACHE_TIERS). */
  name?: string;
  vars?: Record<string, string>;
};

/**
 * llm-proxy from its built bundle, with wrangler.toml's D1, Durable Object, Queue and R2. Their storage is
 * Miniflare's ephemeral temporary directory (on disk, like `wrangler dev`), or `storageDir` (e.g. a tmpfs
 * directory, to take the disk's fsync latency out of the figures).
 */
export async function startProxy(bundleDir: string, opts: ProxyOptions): Promise<Host> {
  // The bundle is one ES module: wrangler's module rules (for unbundled sources) do not apply.
  const { modulesRules: _rules, queueConsumers, ...base } = projectOptions();
  let batchTimeoutS: number | undefined;
  if (opts.consumer === "in") {
    const consumers = structuredClone(queueConsumers ?? {}) as Record<string, { maxBatchTimeout?: number }>;
    if (opts.batchTimeoutS !== undefined)
      for (const c of Object.values(consumers)) c.maxBatchTimeout = opts.batchTimeoutS;
    Object.assign(base, { queueConsumers: consumers });
    // The usage queue's (Miniflare's default, when wrangler.toml names none, is 1 s).
    const producers = (base as { queueProducers?: Record<string, { queueName: string }> }).queueProducers;
    const usage = producers?.USAGE_QUEUE?.queueName ?? "llm-proxy-usage";
    batchTimeoutS = consumers[usage]?.maxBatchTimeout ?? 1;
  }
  const host = await start(
    opts.name ?? "llm-proxy",
    {
      ...base,
      rootPath: bundleDir,
      modules: true,
      scriptPath: join(bundleDir, "index.js"),
      bindings: { ...(base.bindings ?? {}), ...SECRETS, ...opts.vars },
    } as WorkerOptions,
    opts.storageDir,
    opts.inspectorPort,
  );
  return { ...host, batchTimeoutS };
}

/** The do-nothing passthrough: same compatibility date and flags as llm-proxy, no other bindings. */
export function startPassthrough(upstreamOrigin: string): Promise<Host> {
  const base = projectOptions();
  return start("passthrough", {
    compatibilityDate: base.compatibilityDate,
    compatibilityFlags: base.compatibilityFlags,
    modules: true,
    script: PASSTHROUGH_SCRIPT,
    bindings: { UPSTREAM_ORIGIN: upstreamOrigin },
  } as WorkerOptions);
}

/** Applies migrations/*.sql, in order, to the proxy's D1 (what `wrangler d1 migrations apply` does). */
export async function applyMigrations(host: Host): Promise<number> {
  const db = await host.mf.getD1Database("DB", host.name);
  const dir = join(ROOT, "migrations");
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  for (const file of files) {
    const sql = (await readFile(join(dir, file), "utf8")).replaceAll("--> statement-breakpoint", "");
    const statements = unstable_splitSqlQuery(sql).filter((s) => s.trim());
    await db.batch(statements.map((s) => db.prepare(s)));
  }
  return files.length;
}

export type BenchTokens = {
  projectId: string;
  unlimited: string;
  limited: string;
  /** An unlimited token of a second project with routes: aliases `smart` and `fallback` (below). */
  routed: string;
};

async function manage(host: Host, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${host.url}/manage${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${SECRETS.MANAGEMENT_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`POST /manage${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/**
 * Through the management API, like an operator: a project whose base_url is the mock, an unlimited
 * token, and a limited one (request cap and a rate window, both above what the bench sends) so the
 * limit checks run on every request.
 */
export async function createTokens(host: Host, upstreamUrl: string): Promise<BenchTokens> {
  const project = await manage(host, "/projects", {
    name: `bench-${Date.now()}`,
    api_key: "sk-bench-upstream-key-000000000000",
    base_url: `${upstreamUrl}/v1`,
  });
  const projectId = String(project.id);
  const unlimited = await manage(host, "/tokens", {
    project_id: projectId,
    name: "bench-unlimited",
    duration_minutes: 120,
  });
  const limited = await manage(host, "/tokens", {
    project_id: projectId,
    name: "bench-limited",
    duration_minutes: 120,
    max_requests: 1_000_000_000,
    // The largest window the API accepts; a full run sends ~10 000 requests with this token.
    rate_limit: { requests: 100_000, window_seconds: 60 },
  });
  return {
    projectId,
    unlimited: String(unlimited.token),
    limited: String(limited.token),
    routed: await createRoutedToken(host, upstreamUrl),
  };
}

/**
 * A project with three upstreams on the mock and two aliases: `smart` → [default, b] (the first healthy:
 * the routed path a request takes every time), `fallback` → [limited, b] where `limited`'s key is always
 * answered 429 with `retry-after: 0` (so it rests for no time and every request falls back once: the cost
 * of one fallback, with no breaker in the way — a 429 is the key's, not the upstream's).
 */
async function createRoutedToken(host: Host, upstreamUrl: string): Promise<string> {
  const project = await manage(host, "/projects", {
    name: `bench-routed-${Date.now()}`,
    api_key: "sk-bench-upstream-key-000000000000",
    base_url: `${upstreamUrl}/v1`,
  });
  const id = String(project.id);
  const upstream = (name: string, spec: string, key: string) =>
    manage(host, `/projects/${id}/upstreams`, {
      name,
      provider: "openai-compatible",
      base_url: `${upstreamUrl}/up/${encodeURIComponent(spec)}/v1`,
      api_key: key,
    });
  await upstream("b", "name=b", "sk-bench-upstream-key-b");
  await upstream("limited", "name=limited", "sk-bench-limited;status=429;retry-after=0");
  const alias = (name: string, first: string) =>
    manage(host, `/projects/${id}/aliases`, {
      name,
      targets: [
        { upstream: first, model: "gpt-4o-mini" },
        { upstream: "b", model: "gpt-4o-mini" },
      ],
    });
  await alias("smart", "default");
  await alias("fallback", "limited");
  const token = await manage(host, "/tokens", {
    project_id: id,
    name: "bench-routed",
    duration_minutes: 120,
  });
  return String(token.token);
}

const databases = new WeakMap<Host, Awaited<ReturnType<Miniflare["getD1Database"]>>>();

/**
 * Requests counted in the usage rollups so far (every event of a request with a project lands there
 * once the queue consumer has handled it): how the bench knows the consumer has caught up. One look
 * costs the host a D1 query, several ms of CPU in Miniflare's D1 (drain.ts keeps them out of the
 * measured CPU time).
 */
export async function usageTotal(host: Host): Promise<number> {
  let db = databases.get(host);
  if (!db) {
    db = await host.mf.getD1Database("DB", host.name);
    databases.set(host, db);
  }
  const row = await db
    .prepare("select coalesce(sum(requests), 0) as n from usage_hourly")
    .first<{ n: number }>();
  return row?.n ?? 0;
}
