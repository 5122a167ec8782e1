// A/B of two builds of llm-proxy in one run: `npm run bench:ab -- --base <git ref>` builds the bundle of
// <ref> (from `git archive`, beside this tree's node_modules) and of the working tree, starts each in its own
// workerd process next to the passthrough floor, and measures CPU per request in interleaved rounds. On a
// shared machine this is the way to see a cut of a few percent: both builds see the same drift.
//
//   --base <ref>          the A build (default: HEAD)
//   --scenario <s>        unlimited (default) | limited | streamed
//   --consumer in|out     the queue consumer in the measured processes (default: in, as the headline)
//   --b-consumer in|out   B's consumer differently (with --base HEAD on a clean tree: what the consumer costs)
//   --rounds N --requests N --concurrency N
//   --parallel            A and B loaded at the same time (each at the concurrency), their CPU read over the
//                         same window, round by round; the figure is the median of the rounds' B/A. Whatever
//                         else runs on the machine then falls on both alike (consumer out only: a consumer's
//                         work lands in later windows).
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
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
import { type LoadResult, paired, runLoad } from "./lib/index.ts";
import { chatSpec, measureLoad, streamSpec, type Target } from "./scenarios.ts";

const { values: args } = parseArgs({
  options: {
    base: { type: "string", default: "HEAD" },
    scenario: { type: "string", default: "unlimited" },
    consumer: { type: "string", default: "in" },
    "b-consumer": { type: "string", default: "" },
    rounds: { type: "string", default: "6" },
    requests: { type: "string", default: "3000" },
    concurrency: { type: "string", default: "32" },
    parallel: { type: "boolean", default: false },
  },
});

const log = (msg: string) => console.log(msg);
const work = await mkdtemp(join(tmpdir(), "llm-proxy-ab-"));
const shm = await mkdtemp(join("/dev/shm", "llm-proxy-ab-"));
const hosts: Host[] = [];
let mock: Awaited<ReturnType<typeof startMockThread>> | undefined;

/** The bundle of a git ref: its tree exported beside this one's node_modules, built by wrangler there. */
async function buildRef(ref: string, outdir: string): Promise<string> {
  const src = join(work, "src-a");
  execFileSync("mkdir", ["-p", src]);
  execFileSync("sh", ["-c", `git -C "${ROOT}" archive "${ref}" | tar -x -C "${src}"`]);
  await symlink(join(ROOT, "node_modules"), join(src, "node_modules"));
  execFileSync(
    process.execPath,
    [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", outdir],
    { cwd: src, env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" }, stdio: "ignore" },
  );
  return outdir;
}

try {
  log(`ab: A = ${args.base}, B = working tree; ${args.scenario}, consumer ${args.consumer}`);
  const a = await buildRef(args.base, join(work, "bundle-a"));
  const b = await buildBundle(join(work, "bundle-b"));
  mock = await startMockThread();
  const floor = await startPassthrough(mock.url);
  hosts.push(floor);
  const modeOf = (v: string) => (v === "out" ? "out" : "in");
  const proxy = async (id: string, dir: string): Promise<Target> => {
    const consumer = modeOf(id === "B" && args["b-consumer"] ? args["b-consumer"] : args.consumer);
    const host = await startProxy(dir, { storageDir: await mkdtemp(join(shm, `${id}-`)), consumer });
    hosts.push(host);
    await applyMigrations(host);
    const tokens = await createTokens(host, mock!.url);
    const token = args.scenario === "limited" ? tokens.limited : tokens.unlimited;
    const drain =
      consumer === "in"
        ? new QueueDrain(() => usageTotal(host), host.cpuMs, {
            batchTimeoutMs: (host.batchTimeoutS ?? 1) * 1000,
          })
        : undefined;
    return {
      id,
      label: id,
      origin: host.url,
      headers: { authorization: `Bearer ${token}` },
      cpuMs: host.cpuMs,
      drain,
    };
  };
  const targets: Target[] = [
    { id: "floor", label: "floor", origin: floor.url, headers: {}, cpuMs: floor.cpuMs },
    await proxy("A", a),
    await proxy("B", b.dir),
  ];
  const spec = args.scenario === "streamed" ? (t: Target) => streamSpec(t, 3, 0) : chatSpec;
  const requests = Number(args.requests);
  if (args.parallel) {
    const [, ta, tb] = targets as [Target, Target, Target];
    const load = (t: Target, n: number) =>
      runLoad({
        ...spec(t),
        requests: n,
        concurrency: Number(args.concurrency),
        warmup: 0,
        timeoutMs: 30_000,
      });
    await Promise.all([load(ta, requests / 4), load(tb, requests / 4)]);
    const ratios: number[] = [];
    const per = { A: [] as number[], B: [] as number[] };
    for (let round = 0; round < Number(args.rounds); round++) {
      const a0 = ta.cpuMs!()!;
      const b0 = tb.cpuMs!()!;
      const [ra, rb] = await Promise.all([load(ta, requests), load(tb, requests)]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const a = (ta.cpuMs!()! - a0) / ra.requests;
      const b = (tb.cpuMs!()! - b0) / rb.requests;
      per.A.push(a);
      per.B.push(b);
      ratios.push(b / a);
      log(`round ${round + 1}: A ${a.toFixed(3)}  B ${b.toFixed(3)} ms CPU/req  B/A ${(b / a).toFixed(3)}`);
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    log(
      `median: A ${median(per.A).toFixed(3)}  B ${median(per.B).toFixed(3)} ms CPU/req  B/A ${median(ratios).toFixed(3)}`,
    );
    process.exitCode = 0;
  } else {
    const result = await measureLoad(
      targets,
      {
        requests,
        rounds: Number(args.rounds),
        warmup: Math.round(requests / 4),
        concurrency: Number(args.concurrency),
        roundMaxMs: 60_000,
      },
      spec,
      () => {},
    );
    const cpu = (id: string) => result.get(id)?.cpuMsPerRequest ?? Number.NaN;
    const f = cpu("floor");
    for (const id of ["floor", "A", "B"]) {
      const r = result.get(id)!;
      const rounds = r.cpuRounds.map((x) => (x === null ? "-" : (x / f).toFixed(2))).join(" ");
      log(
        `${id.padEnd(6)} ${cpu(id).toFixed(3)} ms CPU/req  ${(cpu(id) / f).toFixed(2)}× floor  rounds ${rounds}`,
      );
    }
    log(`B/A ${(cpu("B") / cpu("A")).toFixed(3)}  (B − A ${(cpu("B") - cpu("A")).toFixed(3)} ms)`);
    // Latency too, paired round by round (each round gives A and B their shares back to back): read it at
    // c=1 on a quiet machine, where it is the time a request's own path takes.
    const rounds = (id: string) => result.get(id)!.rounds;
    const p50 = (r: LoadResult) => r.latencyMs.p50;
    const added = (id: string) => paired(rounds(id), rounds("floor"), p50, "diff").median;
    const ab = paired(rounds("B"), rounds("A"), p50, "diff");
    log(
      `p50 added over the floor: A +${added("A").toFixed(3)} ms, B +${added("B").toFixed(3)} ms; B − A ${ab.median.toFixed(3)} ms (rounds ${ab.min.toFixed(3)} to ${ab.max.toFixed(3)})`,
    );
  }
} finally {
  for (const h of hosts) await h.mf.dispose();
  await mock?.close();
  await rm(work, { recursive: true, force: true });
  await rm(shm, { recursive: true, force: true });
}
