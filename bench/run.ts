// `npm run bench [-- --quick] [--out FILE] [--no-startup] [--storage tmpfs|disk] [--consumer off|same] [--profile[-only]]`: llm-proxy against a
// direct call to the mock upstream and a do-nothing passthrough worker in the same runtime.
// See bench/README.md.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  applyMigrations,
  buildBundle,
  createTokens,
  type Host,
  type MockHandle,
  profileStartup,
  ROOT,
  type StartupProfile,
  startMockThread,
  startPassthrough,
  startProxy,
} from "./hosts.ts";
import { toCsv, writeJson } from "./lib/index.ts";
import { profileWorker } from "./profile.ts";
import { type Results, renderConsole, renderMarkdownReport, tables, toJson } from "./report.ts";
import { chatSpec, measureLoad, measureSpacing, probe, streamSpec, type Target } from "./scenarios.ts";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    out: { type: "string", default: join(ROOT, "bench/results/latest.json") },
    "no-startup": { type: "boolean", default: false },
    // tmpfs (default where /dev/shm exists): llm-proxy's D1/DO/Queue/R2 files in memory; disk: Miniflare's
    // own temporary directory, as under `wrangler dev` (each Durable Object write then waits for an fsync).
    storage: { type: "string", default: existsSync("/dev/shm") ? "tmpfs" : "disk" },
    // A V8 CPU profile of llm-proxy under the chat load, after the measured phases (or instead of them).
    profile: { type: "boolean", default: false },
    // The usage queue's consumer: "off" (default) as in production, where it runs in its own invocations
    // and not on the proxy's CPU; "same" runs it inside the measured workerd process as well.
    consumer: { type: "string", default: "off" },
    "profile-only": { type: "boolean", default: false },
    "profile-requests": { type: "string", default: "3000" },
    // Which target --profile measures: proxy (default), proxy-limited, proxy-routed, proxy-fallback.
    "profile-target": { type: "string", default: "proxy" },
  },
});

const FULL = {
  // Each target's round stops after roundMaxMs even if its share is not done: a slow target (or a busy
  // machine) cannot stretch the run past ~2.5 minutes. The tables show how many requests were measured.
  c1: { requests: 2000, rounds: 8, warmup: 300, concurrency: 1, roundMaxMs: 1500 },
  c32: { requests: 5000, rounds: 8, warmup: 1000, concurrency: 32, roundMaxMs: 1500 },
  ttfb: { requests: 600, rounds: 6, warmup: 100, concurrency: 1, roundMaxMs: 1000 },
  spacing: { chunks: 20, intervalMs: 50, runs: 7, toleranceMs: 2 },
  startupProfile: true,
};
const QUICK = {
  c1: { requests: 100, rounds: 2, warmup: 20, concurrency: 1, roundMaxMs: 500 },
  c32: { requests: 320, rounds: 2, warmup: 64, concurrency: 32, roundMaxMs: 500 },
  ttfb: { requests: 40, rounds: 2, warmup: 10, concurrency: 1, roundMaxMs: 500 },
  spacing: { chunks: 5, intervalMs: 20, runs: 1, toleranceMs: 2 },
  startupProfile: false,
};
const plan = args.quick ? QUICK : FULL;
const profiling = args.profile || args["profile-only"];
const log = (msg: string) => process.stderr.write(`${msg}\n`);

function version(cmd: string, argv: string[]): string {
  try {
    return execFileSync(cmd, argv, { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
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
  const storageDir =
    args.storage === "tmpfs" ? await mkdtemp(join("/dev/shm", "llm-proxy-bench-")) : undefined;
  if (storageDir) cleanup.push(storageDir);
  const consumer = args.consumer === "same" ? "same" : "off";
  const proxy = await startProxy(bundle.dir, storageDir, profiling ? 0 : undefined, consumer);
  hosts.push(proxy);
  await applyMigrations(proxy);
  const tokens = await createTokens(proxy, mock.url);

  const targets: Target[] = [
    { id: "direct", label: "direct (mock)", origin: mock.url, headers: {} },
    {
      id: "passthrough",
      label: "passthrough worker",
      origin: passthrough.url,
      headers: {},
      cpuMs: passthrough.cpuMs,
    },
    {
      id: "proxy",
      label: "llm-proxy",
      origin: proxy.url,
      headers: { authorization: `Bearer ${tokens.unlimited}` },
      cpuMs: proxy.cpuMs,
    },
    {
      id: "proxy-routed",
      label: "llm-proxy, alias of 2 targets",
      origin: proxy.url,
      headers: { authorization: `Bearer ${tokens.routed}` },
      model: "smart",
      cpuMs: proxy.cpuMs,
    },
    {
      id: "proxy-fallback",
      label: "llm-proxy, alias, 1st target 429",
      origin: proxy.url,
      headers: { authorization: `Bearer ${tokens.routed}` },
      model: "fallback",
      cpuMs: proxy.cpuMs,
    },
    // Last: its Durable Object work (alarms, D1 mirror writes) spills past its own rounds into the next.
    {
      id: "proxy-limited",
      label: "llm-proxy, limited token",
      origin: proxy.url,
      headers: { authorization: `Bearer ${tokens.limited}` },
      cpuMs: proxy.cpuMs,
    },
  ];
  // The fallback target answers in two upstream round trips by design: measured at c=1 only.
  const loadTargets = targets.filter((t) => t.id !== "proxy-fallback");
  const streamTargets = targets.filter((t) => t.id !== "proxy-fallback" && t.id !== "proxy-routed");
  await probe(targets);
  for (const t of targets.filter((t) => t.unavailable)) log(`  ! ${t.label} not measured: ${t.unavailable}`);

  if (args["profile-only"]) {
    await runProfile(proxy, profiled(targets));
    process.exitCode = 0;
  } else {
    log("· latency at concurrency 1");
    const c1 = await measureLoad(targets, plan.c1, chatSpec, log);
    log("· latency and throughput at concurrency 32");
    const c32 = await measureLoad(loadTargets, plan.c32, chatSpec, log);
    log("· time to first byte of a stream");
    const ttfb = await measureLoad(loadTargets, plan.ttfb, (t) => streamSpec(t, 3, 0), log);
    log(`· stream spacing (${plan.spacing.chunks} chunks, ${plan.spacing.intervalMs} ms apart)`);
    const spacing = await measureSpacing(streamTargets, plan.spacing);

    const cpu = cpus();
    const results: Results = {
      meta: {
        date: new Date().toISOString(),
        mode: args.quick ? "quick" : "full",
        storage: args.storage,
        consumer: args.consumer,
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
        readyMs: { passthrough: passthrough.readyMs, "llm-proxy": proxy.readyMs },
      },
      c1: Object.fromEntries(c1),
      c32: Object.fromEntries(c32),
      ttfb: Object.fromEntries(ttfb),
      spacing,
    };

    const ts = tables(results, targets);
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
        ],
        (["c1", "c32", "ttfb"] as const).flatMap((phase) =>
          Object.entries(results[phase]).map(([id, { merged: r }]) => [
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
          ]),
        ),
      ),
    );
    log(`\nresults: ${args.out} (+ .md, .csv)`);
    if (args.profile) await runProfile(proxy, profiled(targets));
  }
} finally {
  for (const h of hosts) await h.mf.dispose();
  await mock?.close();
  for (const dir of [work, ...cleanup]) await rm(dir, { recursive: true, force: true });
}

function profiled(targets: Target[]): Target {
  return targets.find((t) => t.id === args["profile-target"]) ?? targets[2]!;
}

async function runProfile(proxy: Host, target: Target): Promise<void> {
  const outfile = args.out.replace(/\.json$/, ".cpuprofile");
  const requests = Number(args["profile-requests"]);
  log(`· CPU profile of llm-proxy: ${requests} chat requests at c=8`);
  const r = await profileWorker(await proxy.mf.getInspectorURL(), proxy.name, chatSpec(target), {
    requests,
    concurrency: 8,
    outfile,
  });
  console.log(
    `\nCPU profile (${r.requests} requests, ${r.totalMs.toFixed(0)} ms sampled, ${(r.totalMs / r.requests).toFixed(3)} ms/req in the isolate): ${outfile}`,
  );
  console.log("self ms   self %   function   location");
  for (const f of r.top)
    console.log(
      `${f.selfMs.toFixed(1).padStart(7)}  ${f.selfPct.toFixed(1).padStart(6)}   ${f.name}   ${f.where}`,
    );
}
