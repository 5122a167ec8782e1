// `npm run bench [-- --quick] [--out FILE] [--no-startup] [--storage tmpfs|disk] [--consumer both|in|out]
//   [--profile[-only]] [--guard] [--record]`: llm-proxy against a direct call to the mock upstream and a
// do-nothing passthrough worker in the same runtime. See bench/README.md.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cacheSpec, cacheTable, cacheTargets, createCacheTokens } from "./cache.ts";
import { pairedP50, type Results } from "./checks.ts";
import { QueueDrain } from "./drain.ts";
import { appendHistory, guard, historyEntry, readHistory } from "./history.ts";
import {
  applyMigrations,
  type BenchTokens,
  buildBundle,
  createTokens,
  type Host,
  type MockHandle,
  profileStartup,
  ROOT,
  SECRETS,
  type StartupProfile,
  startMockThread,
  startPassthrough,
  startProxy,
  usageTotal,
} from "./hosts.ts";
import { toCsv, writeJson } from "./lib/index.ts";
import { profileScenarios } from "./profile.ts";
import { profileMarkdown, renderProfile } from "./profile-report.ts";
import { renderConsole, renderMarkdownReport, tables, toJson } from "./report.ts";
import { chatSpec, measureLoad, measureSpacing, probe, streamSpec, type Target } from "./scenarios.ts";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    out: { type: "string", default: join(ROOT, "bench/results/latest.json") },
    "no-startup": { type: "boolean", default: false },
    // tmpfs (default where /dev/shm exists): llm-proxy's D1/DO/Queue/R2 files in memory; disk: Miniflare's
    // own temporary directory, as under `wrangler dev` (each Durable Object write then waits for an fsync).
    storage: { type: "string", default: existsSync("/dev/shm") ? "tmpfs" : "disk" },
    // The usage queue's consumer. both (default): llm-proxy with its consumer in the measured process (the
    // headline figures: the consumer's CPU is cost), and a second llm-proxy without it ("consumer out", as
    // on Cloudflare where the consumer runs in its own invocations) for the unlimited token beside it.
    // in / out: only one of the two (`same` / `off` are the old names).
    consumer: { type: "string", default: "both" },
    // Override of the consumer's max_batch_timeout, seconds (default: wrangler.toml's; hosts.ts ProxyOptions).
    "batch-timeout": { type: "string", default: "" },
    // CPU profiles of llm-proxy under load at c=32 (unlimited, limited, streamed), after the measured
    // phases (or instead of them), with the costs by part of the request (profile.ts).
    profile: { type: "boolean", default: false },
    "profile-only": { type: "boolean", default: false },
    "profile-requests": { type: "string", default: "4000" },
    // Results history (committed): --record appends this run, --guard fails the run (exit 1) on a gross
    // regression of CPU per request against the floor compared with the last recorded run of the same mode.
    history: { type: "string", default: join(ROOT, "bench/results/history.jsonl") },
    record: { type: "boolean", default: false },
    guard: { type: "boolean", default: false },
  },
});

const FULL = {
  // Each target's round stops after roundMaxMs even if its share is not done: a slow target (or a busy
  // machine) cannot stretch the run. The tables show how many requests were measured.
  // Warm-ups long enough to reach the steady state a deployed isolate serves in: `bench:native` found a
  // process still tiering up (V8 compiles) and growing its heap after 1000 requests — the next load cost
  // up to 1.7× the one after it, more for llm-proxy (more JavaScript) than for the floor; after 8000 the
  // loads agreed within 1 %. The c=1 phase runs first, so its warm-up is most of each process's total.
  c1: { requests: 2000, rounds: 8, warmup: 3000, concurrency: 1, roundMaxMs: 1500 },
  c32: { requests: 5000, rounds: 8, warmup: 4000, concurrency: 32, roundMaxMs: 1500 },
  ttfb: { requests: 600, rounds: 6, warmup: 100, concurrency: 1, roundMaxMs: 1000 },
  spacing: { chunks: 20, intervalMs: 50, runs: 7, toleranceMs: 2 },
  startupProfile: true,
};
// Fixed request counts (the round cap only guards against a stuck target): the guard compares ratios
// between machines, and a phase's CPU per request includes its consumer's batches, whose number depends
// on how many requests the phase sent, not on how fast the machine sent them.
const QUICK = {
  c1: { requests: 300, rounds: 3, warmup: 100, concurrency: 1, roundMaxMs: 10_000 },
  c32: { requests: 960, rounds: 3, warmup: 320, concurrency: 32, roundMaxMs: 10_000 },
  ttfb: { requests: 60, rounds: 2, warmup: 10, concurrency: 1, roundMaxMs: 10_000 },
  spacing: { chunks: 5, intervalMs: 20, runs: 1, toleranceMs: 2 },
  startupProfile: false,
};
const plan = args.quick ? QUICK : FULL;
const profiling = args.profile || args["profile-only"];
const log = (msg: string) => process.stderr.write(`${msg}\n`);
const consumerMode = ({ same: "in", off: "out" } as Record<string, string>)[args.consumer] ?? args.consumer;
if (!["both", "in", "out"].includes(consumerMode))
  throw new Error(`--consumer ${args.consumer}: both, in or out`);
const batchTimeoutS = args["batch-timeout"] ? Number(args["batch-timeout"]) : undefined;

function version(cmd: string, argv: string[]): string {
  try {
    return execFileSync(cmd, argv, { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

/** CPU time (ms) the host's process spends on one poll of its rollups (subtracted from the rounds). */
async function pollCost(host: Host): Promise<number> {
  for (let i = 0; i < 5; i++) await usageTotal(host);
  const n = 40;
  const before = host.cpuMs();
  for (let i = 0; i < n; i++) await usageTotal(host);
  const after = host.cpuMs();
  return before === null || after === null ? 0 : (after - before) / n;
}

const work = await mkdtemp(join(tmpdir(), "llm-proxy-bench-"));
let mock: MockHandle | undefined;
const hosts: Host[] = [];
const cleanup: string[] = [];
const started = Date.now();
const loadAtStart = loadavg();
try {
  const load = loadAtStart.map((l) => l.toFixed(2)).join(" ");
  log(`bench: ${args.quick ? "quick" : "full"} run, load average ${load}`);
  if ((loadAtStart[0] ?? 0) > cpus().length)
    log("  ! the machine is busy (load average above the core count): latency figures will be noisy");
  log("· building the bundle (wrangler deploy --dry-run)");
  const bundle = await buildBundle(join(work, "bundle"));
  let startupProfile: StartupProfile = null;
  if (plan.startupProfile && !args["no-startup"]) {
    log("· profiling start-up (wrangler check startup)");
    startupProfile = await profileStartup(join(work, "startup.cpuprofile"));
  }

  log("· starting the mock upstream, the passthrough worker and llm-proxy");
  mock = await startMockThread();
  const passthrough = await startPassthrough(mock.url);
  hosts.push(passthrough);
  const storage = async () => {
    if (args.storage !== "tmpfs") return undefined;
    const dir = await mkdtemp(join("/dev/shm", "llm-proxy-bench-"));
    cleanup.push(dir);
    return dir;
  };
  const startOne = async (consumer: "in" | "out", inspect: boolean) => {
    const host = await startProxy(bundle.dir, {
      storageDir: await storage(),
      inspectorPort: inspect ? 0 : undefined,
      consumer,
      batchTimeoutS,
    });
    hosts.push(host);
    await applyMigrations(host);
    return { host, tokens: await createTokens(host, mock!.url) };
  };
  // One process per measured llm-proxy target, so each process's CPU is its target's: the unlimited and
  // the limited token (consumer in, unless only "out" was asked for), and the unlimited token with the
  // consumer out. The unlimited one is also the one profiled.
  const consumerIn = consumerMode !== "out";
  const main = await startOne(consumerIn ? "in" : "out", profiling);
  const limited = await startOne(consumerIn ? "in" : "out", false);
  const outside = consumerMode === "both" ? await startOne("out", false) : undefined;
  // The routed path (an alias of two targets, the first healthy) and one fallback, each in its own process
  // like the others, against the unlimited token's single upstream (docs/routing.md).
  const routed = await startOne(consumerIn ? "in" : "out", false);
  const fallback = await startOne(consumerIn ? "in" : "out", false);
  const drainOf = async (host: Host) => {
    if (!consumerIn) return {};
    const drain = new QueueDrain(() => usageTotal(host), host.cpuMs, {
      batchTimeoutMs: (host.batchTimeoutS ?? 1) * 1000,
    });
    return { drain, pollCpuMs: await pollCost(host) };
  };
  const mainDrain = await drainOf(main.host);
  const limitedDrain = await drainOf(limited.host);
  const routedDrain = await drainOf(routed.host);
  const fallbackDrain = await drainOf(fallback.host);

  const proxyTarget = (
    id: string,
    label: string,
    h: { host: Host; tokens: BenchTokens },
    token: string,
    drain: { drain?: QueueDrain; pollCpuMs?: number },
  ): Target => ({
    id,
    label,
    origin: h.host.url,
    headers: { authorization: `Bearer ${token}` },
    cpuMs: h.host.cpuMs,
    ...drain,
  });
  const inLabel = consumerIn ? "" : ", consumer out";
  const targets: Target[] = [
    { id: "direct", label: "direct (mock)", origin: mock.url, headers: {} },
    {
      id: "passthrough",
      label: "passthrough worker",
      origin: passthrough.url,
      headers: {},
      cpuMs: passthrough.cpuMs,
    },
    proxyTarget("proxy", `llm-proxy${inLabel}`, main, main.tokens.unlimited, mainDrain),
    proxyTarget(
      "proxy-limited",
      `llm-proxy, limited token${inLabel}`,
      limited,
      limited.tokens.limited,
      limitedDrain,
    ),
  ];
  if (outside)
    targets.push(proxyTarget("proxy-out", "llm-proxy, consumer out", outside, outside.tokens.unlimited, {}));
  targets.push(
    {
      ...proxyTarget(
        "proxy-routed",
        `llm-proxy, alias of 2 targets${inLabel}`,
        routed,
        routed.tokens.routed,
        routedDrain,
      ),
      model: "smart",
    },
    {
      ...proxyTarget(
        "proxy-fallback",
        `llm-proxy, alias, 1st target 429${inLabel}`,
        fallback,
        fallback.tokens.routed,
        fallbackDrain,
      ),
      model: "fallback",
    },
  );
  // The fallback answers in two upstream round trips by design: measured at c=1 only.
  const loadTargets = targets.filter((t) => t.id !== "proxy-fallback");
  await probe(targets);
  for (const t of targets.filter((t) => t.unavailable)) log(`  ! ${t.label} not measured: ${t.unavailable}`);

  if (!args["profile-only"]) {
    log("· latency at concurrency 1");
    const c1 = await measureLoad(targets, plan.c1, chatSpec, log);
    log("· latency and throughput at concurrency 32");
    const c32 = await measureLoad(loadTargets, plan.c32, chatSpec, log);
    log("· time to first byte of a stream");
    const ttfb = await measureLoad(loadTargets, plan.ttfb, (t) => streamSpec(t, 3, 0), log);
    log(`· stream spacing (${plan.spacing.chunks} chunks, ${plan.spacing.intervalMs} ms apart)`);
    // Spacing is a property of the tap, the same with the consumer in or out: the out instance is left out.
    const spacing = await measureSpacing(
      targets.filter((t) => t.id !== "proxy-out" && t.id !== "proxy-routed" && t.id !== "proxy-fallback"),
      plan.spacing,
    );

    // The response cache (bench/cache.ts): one host per target, all with the consumer out (their CPU is the
    // proxy's own); compared with today's path on the consumer-out host when there is one.
    log("· response cache: a hit against a miss, today's path and the upstream (c=1)");
    const cacheHost = async (name: string, tiers?: string) => {
      const host = await startProxy(bundle.dir, {
        storageDir: await storage(),
        consumer: "out",
        name,
        vars: tiers ? { CACHE_TIERS: tiers } : {},
      });
      hosts.push(host);
      await applyMigrations(host);
      return { host, tokens: await createCacheTokens(host, mock!.url, SECRETS.MANAGEMENT_TOKEN) };
    };
    const cacheHosts = {
      miss: await cacheHost("llm-proxy-cache-miss"),
      hit: await cacheHost("llm-proxy-cache-hit"),
      limited: await cacheHost("llm-proxy-cache-limited"),
      local: await cacheHost("llm-proxy-cache-local", "local"),
      global: await cacheHost("llm-proxy-cache-global", "global"),
    };
    const today = targets.find((t) => t.id === "proxy-out") ?? targets[2]!;
    const withCache = [targets[0]!, today, ...cacheTargets(cacheHosts)];
    const cachePhase = await measureLoad(
      withCache,
      plan.c1,
      (t) => (t.id.startsWith("cache") ? cacheSpec(t) : chatSpec(t)),
      log,
    );

    const cpu = cpus();
    const results: Results = {
      meta: {
        date: new Date().toISOString(),
        mode: args.quick ? "quick" : "full",
        storage: args.storage,
        consumer: consumerMode,
        batchTimeoutS: main.host.batchTimeoutS ?? null,
        drain: mainDrain.drain ? { ...mainDrain.drain.stats, pollCpuMs: mainDrain.pollCpuMs } : null,
        durationS: Math.round((Date.now() - started) / 1000),
        node: process.version,
        cpus: cpu.length,
        cpuModel: cpu[0]?.model ?? "unknown",
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        os: `${process.platform} ${release()}`,
        loadAverageAtStart: loadAtStart,
        loadAverageAtEnd: loadavg(),
        wrangler: (
          JSON.parse(await readFile(join(ROOT, "node_modules/wrangler/package.json"), "utf8")) as {
            version: string;
          }
        ).version,
        commit: version("git", ["rev-parse", "--short", "HEAD"]),
        plan,
      },
      targets: targets.map(({ id, label, unavailable }) => ({ id, label, unavailable })),
      bundle: { totalKiB: bundle.totalKiB, gzipKiB: bundle.gzipKiB },
      startup: {
        proxyProfile: startupProfile,
        readyMs: Object.fromEntries([
          ["passthrough", passthrough.readyMs],
          [`llm-proxy${inLabel}`, main.host.readyMs],
          [`llm-proxy, limited token${inLabel}`, limited.host.readyMs],
          ...(outside ? [["llm-proxy, consumer out", outside.host.readyMs]] : []),
        ]),
      },
      c1: Object.fromEntries(c1),
      c32: Object.fromEntries(c32),
      ttfb: Object.fromEntries(ttfb),
      spacing,
      cache: Object.fromEntries(cachePhase),
    };

    const ts = tables(results, targets);
    const cache = results.cache ?? {};
    const bundleTable = ts.findIndex((t) => t.title.startsWith("Bundle"));
    ts.splice(
      bundleTable < 0 ? ts.length : bundleTable,
      0,
      cacheTable(cache, withCache, (a, b) => pairedP50(cache, a, b)),
    );
    const m = results.meta;
    console.log(
      `\nllm-proxy bench — ${m.date}, node ${m.node}, ${m.cpus} × ${m.cpuModel}, ${m.mode} run in ${m.durationS} s, storage ${m.storage}, queue consumer ${m.consumer}`,
    );
    console.log(renderConsole(ts));
    await writeJson(args.out, toJson(results));
    await writeFile(args.out.replace(/\.json$/, ".md"), renderMarkdownReport(ts));
    await writeFile(
      args.out.replace(/\.json$/, ".csv"),
      toCsv(
        [
          "phase",
          "target",
          "requests",
          "failed",
          "rps",
          "p50_ms",
          "p90_ms",
          "p99_ms",
          "mean_ms",
          "ttfb_p50_ms",
          "cpu_ms_per_request",
        ],
        (["c1", "c32", "ttfb"] as const).flatMap((phase) =>
          Object.entries(results[phase]).map(([id, { merged: r, cpuMsPerRequest }]) => [
            phase,
            id,
            r.requests,
            r.failed,
            r.rps,
            r.latencyMs.p50,
            r.latencyMs.p90,
            r.latencyMs.p99,
            r.latencyMs.mean,
            r.ttfbMs.p50,
            cpuMsPerRequest,
          ]),
        ),
      ),
    );
    log(`\nresults: ${args.out} (+ .md, .csv)`);

    const entry = historyEntry(results);
    if (args.guard) {
      const verdict = guard(entry, await readHistory(args.history));
      console.log(`\n${verdict.lines.join("\n")}`);
      if (!verdict.ok) process.exitCode = 1;
    }
    if (args.record) {
      await appendHistory(args.history, entry);
      log(`recorded in ${args.history}`);
    }
  }
  if (profiling) {
    const requests = Number(args["profile-requests"]);
    log(`· CPU profiles of llm-proxy at c=32: unlimited, limited, streamed (${requests} requests each)`);
    const report = await profileScenarios(main.host, bundle.dir, {
      specs: {
        unlimited: chatSpec(targets[2]!),
        limited: chatSpec({ ...targets[2]!, headers: { authorization: `Bearer ${main.tokens.limited}` } }),
        streamed: streamSpec(targets[2]!, 3, 0),
      },
      anchors: [
        {
          label: "passthrough floor",
          host: passthrough,
          specs: {
            unlimited: chatSpec(targets[1]!),
            limited: chatSpec(targets[1]!),
            streamed: streamSpec(targets[1]!, 3, 0),
          },
        },
        ...(outside
          ? [
              {
                label: "llm-proxy, consumer out",
                host: outside.host,
                specs: {
                  unlimited: chatSpec(targets[4]!),
                  limited: chatSpec({
                    ...targets[4]!,
                    headers: { authorization: `Bearer ${outside.tokens.limited}` },
                  }),
                  streamed: streamSpec(targets[4]!, 3, 0),
                },
              },
            ]
          : []),
      ],
      requests: Math.max(200, args.quick ? Math.min(requests, 1000) : requests),
      concurrency: 32,
      floorLabel: "passthrough floor",
      drain: mainDrain.drain,
      outBase: args.out.replace(/\.json$/, ""),
    });
    console.log(renderProfile(report));
    await writeJson(args.out.replace(/\.json$/, "-profile.json"), report);
    await writeFile(args.out.replace(/\.json$/, "-profile.md"), profileMarkdown(report));
  }
} finally {
  for (const h of hosts) await h.mf.dispose();
  await mock?.close();
  for (const dir of [work, ...cleanup]) await rm(dir, { recursive: true, force: true });
}
