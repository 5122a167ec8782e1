// `npm run bench:native [-- --concurrency 32] [--requests N] [--warmup N] [--frequency HZ] [--bundle DIR]
//   [--rounds 8] [--keep DIR] [--out FILE]`: where the workerd process's CPU goes in native code — the part
// bench/profile.ts (V8's profiler, JavaScript only) leaves as "runtime outside that JavaScript". Linux `perf` samples the whole
// process (every thread, user and kernel stacks) while one load runs against each of: the passthrough
// floor, llm-proxy with its queue consumer out (the proxy's own work), and llm-proxy with it in (adds the
// consumer's batches and Miniflare's queue/D1/R2 simulators). Samples are put in parts by native-parts.ts;
// a part's ms per request is its share of the samples × the process's CPU per request measured in a
// separate run with perf off (perf's sampling slows the process, so its own CPU time is inflated).
// Needs perf and the right to attach to a process (root, or kernel.perf_event_paranoid ≤ 1); without
// them it says so and exits 0.
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs, promisify } from "node:util";
import { QueueDrain } from "./drain.ts";
import {
  applyMigrations,
  buildBundle,
  createTokens,
  type Host,
  ROOT,
  startMockThread,
  startPassthrough,
  startProxy,
  usageTotal,
} from "./hosts.ts";
import { type Cell, median, renderMarkdown, renderTable, runLoad, writeJson } from "./lib/index.ts";
import { NATIVE_PARTS, type PartCounts, ScriptParser, tally } from "./native-parts.ts";
import { chatSpec } from "./scenarios.ts";

const { values: args } = parseArgs({
  options: {
    concurrency: { type: "string", default: "32" },
    requests: { type: "string" },
    // Default: twice a measured load. With fewer, the first measured loads still pay for warming up (JIT
    // tiers, heap and allocator growth, the consumer's first batches): after 1000, the first load cost up
    // to 1.7 × the next; after 4000, llm-proxy's loads before and after the recording differed by 0.17 ms
    // per request; after 8000, by under 0.01.
    warmup: { type: "string" },
    frequency: { type: "string", default: "999" },
    rounds: { type: "string", default: "8" },
    bundle: { type: "string" },
    // Keep perf's recordings (<id>.data) in this directory, to read them with `perf report` / `perf script`.
    keep: { type: "string" },
    // Default: bench/results/latest-native.json at c=32, latest-native-c<C>.json at another concurrency.
    out: { type: "string" },
  },
});
const concurrency = Number(args.concurrency);
const requests = Number(args.requests ?? (concurrency > 1 ? 8000 : 3000));
const warmup = Number(args.warmup ?? 2 * requests);
const rounds = Number(args.rounds);
const frequency = Number(args.frequency);
const outFile =
  args.out ?? join(ROOT, `bench/results/latest-native${concurrency === 32 ? "" : `-c${concurrency}`}.json`);
const log = (s: string) => console.error(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether perf can record a process here: it exists and this user may attach (root, or paranoid ≤ 1). */
async function perfUsable(): Promise<string | null> {
  try {
    await promisify(execFile)("perf", ["version"]);
  } catch {
    return "perf (linux-perf) is not installed";
  }
  const file = "/proc/sys/kernel/perf_event_paranoid";
  const paranoid = existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : 0;
  if (process.getuid?.() !== 0 && paranoid > 1)
    return `perf may not attach to a process (kernel.perf_event_paranoid = ${paranoid}; run as root or set it to 1)`;
  return null;
}

const why = await perfUsable();
if (why) {
  console.log(`native profile skipped: ${why}`);
  process.exit(0);
}

type Target = { id: string; label: string; host: Host; headers: Record<string, string>; drain?: QueueDrain };
type Measured = {
  id: string;
  label: string;
  /** CPU time per request with perf off (ms), consumer's batches included where it is in: the median of
   * the rounds' loads with perf off (each is in `plainRuns`) — on a shared machine a round now and then
   * costs twice the others. */
  cpuMsPerRequest: number;
  plainRuns: number[];
  /** With perf on: the process's CPU per request, and the samples' (samples / frequency). */
  perfCpuMsPerRequest: number;
  sampledMsPerRequest: number;
  rps: number;
  errors: number;
  counts: PartCounts;
};

/**
 * One load of `n` requests: the CPU it cost (ms; consumer in: until the consumer has handled it). First
 * `n / 2` unmeasured requests: a process that sat idle while the others ran has shrunk its heap (V8's
 * memory reducer, the allocator returning pages), and its first requests pay to grow it back — a round's
 * first load after the warm-up cost up to 2 × the next ones without this.
 */
async function load(t: Target, n: number, start?: () => Promise<void>) {
  const spec = chatSpec({ id: t.id, label: t.label, origin: t.host.url, headers: t.headers });
  const pre = Math.ceil(n / 2);
  await runLoad({ ...spec, requests: pre, concurrency });
  t.drain?.sent(pre);
  await t.drain?.before();
  await start?.();
  const c0 = t.host.cpuMs() ?? Number.NaN;
  const r = await runLoad({ ...spec, requests: n, concurrency });
  const c1 = t.drain ? ((await t.drain.after(n)).cpuMs ?? Number.NaN) : (t.host.cpuMs() ?? Number.NaN);
  return { cpuMs: c1 - c0, rps: r.rps, errors: n - r.ok };
}

/** perf's samples of one recording, put in parts and added to `into`. */
async function addSamples(file: string, into: ReturnType<typeof tally>): Promise<void> {
  const parser = new ScriptParser(into.add);
  const child = spawn("perf", ["script", "-F", "comm,tid,ip,sym", "--no-inline", "-i", file], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  for await (const line of createInterface({ input: child.stdout })) parser.line(line);
  parser.flush();
}

/** One load with perf recording the target's process (every thread, user and kernel stacks). */
async function recorded(t: Target, n: number, file: string, into: ReturnType<typeof tally>) {
  let perf: ReturnType<typeof spawn> | undefined;
  const res = await load(t, n, async () => {
    const pid = String(t.host.pid);
    const argv = ["record", "-e", "cpu-clock", "-F", String(frequency), "-g", "-p", pid, "-o", file];
    perf = spawn("perf", argv, { stdio: "ignore" });
    await sleep(300); // perf attaches to every thread before the load starts
  });
  perf?.kill("SIGINT");
  await new Promise((r) => perf?.once("exit", r));
  await addSamples(file, into);
  if (!args.keep) await rm(file, { force: true });
  return res;
}

/**
 * `requests` per target in `rounds` rounds, the targets' order rotating; in a round, each target gets a
 * load with perf off and one with it on, right after each other (which comes first alternates). Drift on
 * a shared machine (other processes, the load generator's own pace, which sets how many requests workerd
 * handles per wake-up) spreads over every target, and lands alike on a target's loads with and without
 * perf, whose CPU times are set side by side.
 */
async function measureAll(targets: Target[], work: string): Promise<Measured[]> {
  if (targets.some((t) => t.host.pid === undefined)) throw new Error("no workerd pid (needs /proc)");
  log(`· warm-up: ${warmup} requests at c=${concurrency} per target`);
  for (const t of targets) {
    const spec = chatSpec({ id: t.id, label: t.label, origin: t.host.url, headers: t.headers });
    await runLoad({ ...spec, requests: warmup, concurrency });
  }
  log(`· ${requests} requests per target at c=${concurrency} in ${rounds} rounds, perf off and on`);
  const n = Math.ceil(requests / rounds);
  const acc = targets.map(() => ({ off: [] as number[], on: 0, rps: 0, errors: 0, tally: tally() }));
  for (let r = 0; r < rounds; r++)
    for (let k = 0; k < targets.length; k++) {
      const i = (k + r) % targets.length;
      const t = targets[i] as Target;
      const a = acc[i] as (typeof acc)[number];
      const file = join(args.keep ?? work, `${t.id}-c${concurrency}-r${r}.data`);
      const off = async () => {
        const res = await load(t, n);
        a.off.push(res.cpuMs / n);
        a.rps += res.rps / rounds;
        a.errors += res.errors;
      };
      const on = async () => {
        const res = await recorded(t, n, file, a.tally);
        a.on += res.cpuMs / (n * rounds);
        a.errors += res.errors;
      };
      if (r % 2 === 0) await off().then(on);
      else await on().then(off);
    }
  return targets.map((t, i) => {
    const a = acc[i] as (typeof acc)[number];
    return {
      id: t.id,
      label: t.label,
      cpuMsPerRequest: median(a.off),
      plainRuns: a.off,
      perfCpuMsPerRequest: a.on,
      sampledMsPerRequest: ((a.tally.result.samples / frequency) * 1000) / (n * rounds),
      rps: a.rps,
      errors: a.errors,
      counts: a.tally.result,
    };
  });
}

const work = await mkdtemp(join(tmpdir(), "llm-proxy-native-"));
const bundle = args.bundle ?? (await buildBundle(join(work, "bundle"))).dir;
const storage = existsSync("/dev/shm") ? await mkdtemp(join("/dev/shm", "llm-proxy-native-")) : undefined;
const mock = await startMockThread();
const floor = await startPassthrough(mock.url);
const out = await startProxy(bundle, { consumer: "out", storageDir: storage && join(storage, "out") });
// A 1 s batch timeout: the last, partial batch of a load waits that long (wrangler.toml: 5 s).
const inside = await startProxy(bundle, {
  consumer: "in",
  batchTimeoutS: 1,
  storageDir: storage && join(storage, "in"),
});
const auth = async (h: Host) => {
  await applyMigrations(h);
  return { authorization: `Bearer ${(await createTokens(h, mock.url)).unlimited}` };
};
const targets: Target[] = [
  { id: "floor", label: "floor", host: floor, headers: {} },
  { id: "out", label: "llm-proxy, consumer out", host: out, headers: await auth(out) },
  {
    id: "in",
    label: "llm-proxy, consumer in",
    host: inside,
    headers: await auth(inside),
    drain: new QueueDrain(() => usageTotal(inside), inside.cpuMs, { batchTimeoutMs: 1000 }),
  },
];
let measured: Measured[] = [];
try {
  measured = await measureAll(targets, work);
} finally {
  await Promise.all([floor.mf.dispose(), out.mf.dispose(), inside.mf.dispose()]);
  await mock.close();
  await rm(work, { recursive: true, force: true });
  if (storage) await rm(storage, { recursive: true, force: true });
}

const [f, o, i] = measured as [Measured, Measured, Measured];
const ms = (m: Measured, part: string) =>
  ((m.counts.parts[part] ?? 0) / m.counts.samples) * m.cpuMsPerRequest;
const header = ["part (ms CPU per request)", "floor", "llm-proxy", "difference", "consumer in", "consumer's"];
const rows: Cell[][] = NATIVE_PARTS.map(([p]) => [
  p,
  ms(f, p),
  ms(o, p),
  ms(o, p) - ms(f, p),
  ms(i, p),
  ms(i, p) - ms(o, p),
]);
rows.sort((a, b) => Number(b[3]) - Number(a[3]));
const totals = (pick: (m: Measured) => number): Cell[] => [
  pick(f),
  pick(o),
  pick(o) - pick(f),
  pick(i),
  pick(i) - pick(o),
];
rows.push(["total (CPU per request, perf off, median of rounds)", ...totals((m) => m.cpuMsPerRequest)]);
const lo = (m: Measured) => Math.min(...m.plainRuns);
const hi = (m: Measured) => Math.max(...m.plainRuns);
rows.push(["(perf off: the cheapest round)", lo(f), lo(o), null, lo(i), null]);
rows.push(["(perf off: the dearest round)", hi(f), hi(o), null, hi(i), null]);
rows.push(["(perf on: process CPU per request)", ...totals((m) => m.perfCpuMsPerRequest)]);
rows.push(["(perf on: sampled per request)", ...totals((m) => m.sampledMsPerRequest)]);
const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();
const meta = {
  date: new Date().toISOString(),
  commit,
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? "?",
  concurrency,
  requests,
  warmup,
  frequency,
  load: "non-streamed chat completion, unlimited token; floor = passthrough worker",
};
const line = `native profile — ${meta.date}, commit ${commit}, ${meta.cpus} × ${meta.cpuModel}; ${requests} requests at c=${concurrency} per target, perf cpu-clock at ${frequency} Hz; interleaved in ${rounds} rounds`;
const rates = measured.map(
  (m) =>
    `${m.label} ${m.rps.toFixed(0)} req/s, ${m.counts.samples} samples${m.errors ? `, ${m.errors} errors` : ""}`,
);
console.log(`\n${line}\n${rates.join("; ")}\n`);
console.log(renderTable(header, rows, { decimals: 3 }));
const md = [
  `# Native profile (bench/native-profile.ts)`,
  "",
  `${line}. ${meta.load}. Columns: floor; llm-proxy with its queue consumer out; the difference; llm-proxy`,
  "with the consumer in; what the consumer adds (in − out). A part's figure is its share of perf's samples ×",
  `the process's CPU per request measured with perf off. ${rates.join("; ")}.`,
  "",
  renderMarkdown(header, rows, { decimals: 3 }),
  "",
  "Parts (bench/native-parts.ts):",
  "",
  ...NATIVE_PARTS.map(([p, d]) => `- **${p}**: ${d}`),
  "",
].join("\n");
await writeJson(outFile, { meta, measured });
await writeFile(outFile.replace(/\.json$/, ".md"), md);
log(`\nwritten: ${outFile}, ${outFile.replace(/\.json$/, ".md")}`);
process.exit(0);
