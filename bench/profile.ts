// `--profile`: where llm-proxy's CPU goes, by part of the request. A V8 CPU profile of llm-proxy's
// isolate (the worker, its Durable Objects and its queue consumer), taken through the inspector Miniflare
// opens (Chrome DevTools Protocol over a WebSocket) while one warm-path scenario runs at c=32 and until
// the queue consumer has handled its events. Each sample taken in JavaScript (or in a native it called,
// or in GC) is attributed to a part of the request from its stack, resolved to source files through the
// bundle's source map. Opt-in and run after the measured phases: the profiler slows the worker, so the
// CPU figures beside it are taken with it off.
//
// Only the worker's isolate is sampled. Miniflare's own isolates (its D1, R2 and queue simulators) can be
// profiled the same way, but their samples are not their CPU: an isolate waiting in a native call is
// sampled as if it ran, so their "busy" time came out larger than the whole process's CPU. Their cost is
// measured instead as a difference of CPU time (consumer in vs consumer out, see bench/README.md).
import { readFile, writeFile } from "node:fs/promises";
import { SourceMap } from "node:module";
import { join } from "node:path";
import type { QueueDrain } from "./drain.ts";
import type { Host } from "./hosts.ts";
import { type RequestSpec, runLoad } from "./lib/index.ts";
import { type Frame, PARTS, type Part, partOfStack } from "./profile-parts.ts";

type CallFrame = { functionName: string; url: string; lineNumber: number; columnNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
export type CpuProfile = {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
};

/** A minimal CDP client: one request at a time is all the profiler needs. */
async function connect(wsUrl: string) {
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error(`cannot open ${wsUrl}`)), { once: true });
  });
  let id = 0;
  const pending = new Map<number, (m: { result?: unknown; error?: unknown }) => void>();
  ws.addEventListener("message", (e) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: unknown };
    if (m.id !== undefined) pending.get(m.id)?.(m);
  });
  const send = <T>(method: string, params: Record<string, unknown> = {}): Promise<T> =>
    new Promise((resolve, reject) => {
      const n = ++id;
      pending.set(n, (m) => {
        pending.delete(n);
        if (m.error) reject(new Error(`${method}: ${JSON.stringify(m.error)}`));
        else resolve(m.result as T);
      });
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  return { send, close: () => ws.close() };
}

/** The WebSocket URL of the worker's isolate on Miniflare's inspector. */
async function inspectorTarget(inspector: URL, workerName: string): Promise<string> {
  const list = (await (await fetch(`http://${inspector.host}/json`)).json()) as {
    id: string;
    webSocketDebuggerUrl: string;
  }[];
  const target = list.find((t) => t.id === `core:user:${workerName}`) ?? list[0];
  if (!target) throw new Error(`no inspector target at ${inspector.host}`);
  return target.webSocketDebuggerUrl.replace(/^ws:\/\/[^/]+/, `ws://${inspector.host}`);
}

/** Resolves bundle positions to source files (`src/proxy/forward.ts`, `node_modules/zod/…`). */
class Resolver {
  private readonly map: SourceMap | null;
  private readonly cache = new Map<string, string | null>();
  constructor(map: SourceMap | null) {
    this.map = map;
  }
  static async load(bundleDir: string): Promise<Resolver> {
    try {
      return new Resolver(new SourceMap(JSON.parse(await readFile(join(bundleDir, "index.js.map"), "utf8"))));
    } catch {
      return new Resolver(null);
    }
  }
  file(f: CallFrame): string | null {
    if (!f.url) return null;
    if (!f.url.endsWith("index.js")) return f.url;
    const key = `${f.lineNumber}:${f.columnNumber}`;
    let out = this.cache.get(key);
    if (out === undefined) {
      const entry = this.map?.findEntry(f.lineNumber, f.columnNumber) as
        | { originalSource?: string }
        | undefined;
      const src = entry?.originalSource ?? null;
      const m = src ? /(src\/.*|node_modules\/.*)$/.exec(src) : null;
      out = m ? m[1]! : src;
      this.cache.set(key, out);
    }
    return out;
  }
}

type Busy = { ms: number; byPart: Map<Part, number>; byFunction: Map<string, number> };

/** Busy (non-idle) sampled time of one isolate's profile, by part and by function. */
function attribute(profile: CpuProfile, resolver: Resolver, intervalUs: number): Busy {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stacks = new Map<number, Frame[]>();
  const stackOf = (nodeId: number): Frame[] => {
    let s = stacks.get(nodeId);
    if (s) return s;
    s = [];
    for (let at: number | undefined = nodeId; at !== undefined; at = parent.get(at)) {
      const cf = byId.get(at)!.callFrame;
      if (cf.functionName === "(root)") break;
      s.push({ fn: cf.functionName || "(anonymous)", file: resolver.file(cf), native: !cf.url });
    }
    stacks.set(nodeId, s);
    return s;
  };
  const out: Busy = { ms: 0, byPart: new Map(), byFunction: new Map() };
  for (let i = 0; i < profile.samples.length; i++) {
    // A sample stands for at most four intervals. On a busy machine the thread is descheduled now and
    // then, and the sample taken when it runs again carries the whole gap (tens of ms): charged in full,
    // a function that happened to be running then would look far bigger than it is.
    const dt = Math.min(profile.timeDeltas[i + 1] ?? 0, 4 * intervalUs) / 1000;
    const stack = stackOf(profile.samples[i]!);
    const leaf = stack[0];
    if (!leaf) continue;
    // Only samples taken in JavaScript (or a native it called, or GC) are the isolate's own: "(program)"
    // and caller-less natives are also recorded while another isolate, or the runtime, runs.
    const gc = leaf.fn === "(garbage collector)";
    if (!gc && !stack.some((f) => f.file !== null)) continue;
    const part = partOfStack(stack);
    out.ms += dt;
    out.byPart.set(part, (out.byPart.get(part) ?? 0) + dt);
    const where = leaf.file ?? "(native)";
    const key = `${leaf.fn}\t${where}`;
    out.byFunction.set(key, (out.byFunction.get(key) ?? 0) + dt);
  }
  return out;
}

export type ScenarioProfile = {
  scenario: string;
  requests: number;
  /** CPU time of the whole workerd process per request (schedstat), profiler off, consumer work included. */
  processCpuMsPerRequest: number | null;
  /** The same with the profiler on (its overhead shows here). */
  profiledCpuMsPerRequest: number | null;
  /** CPU per request of the other hosts measured alongside (floor, consumer out), profiler off. */
  anchors: Record<string, number | null>;
  /** Sampled time in JavaScript (and natives it called, and GC) in the worker's isolate, ms. */
  sampledMs: number;
  /** Each part's share of that time, and its sampled time per request (ms). */
  parts: { part: Part; sampledMs: number; share: number; msPerRequest: number }[];
  top: { name: string; where: string; share: number }[];
};

export type ProfileReport = {
  intervalUs: number;
  scenarios: ScenarioProfile[];
  files: string[];
  floorLabel?: string;
};

export type Scenario = "unlimited" | "limited" | "streamed";

/** Another host measured without the profiler beside each scenario, for scale (the floor, consumer out). */
export type Anchor = { label: string; host: Host; specs: Partial<Record<Scenario, RequestSpec>> };

export type ProfileOptions = {
  specs: Record<Scenario, RequestSpec>;
  anchors?: Anchor[];
  /** The anchor that is the floor: the runtime's work beyond it is shown. */
  floorLabel?: string;
  requests: number;
  concurrency: number;
  /** The host's queue drain, when its consumer runs in the process: its work is waited for and profiled. */
  drain?: QueueDrain;
  /** Files are written to `${outBase}-<scenario>.cpuprofile` (the worker's isolate). */
  outBase: string;
  intervalUs?: number;
};

/** Profiles each warm-path scenario at c=32 and attributes the samples (see the top of this file). */
export async function profileScenarios(
  host: Host,
  bundleDir: string,
  opts: ProfileOptions,
): Promise<ProfileReport> {
  const inspector = await host.mf.getInspectorURL();
  const resolver = await Resolver.load(bundleDir);
  const cdp = await connect(await inspectorTarget(inspector, host.name));
  const intervalUs = opts.intervalUs ?? 250;
  const files: string[] = [];
  const scenarios: ScenarioProfile[] = [];
  try {
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: intervalUs });
    const measure = async (h: Host, spec: RequestSpec, drain?: QueueDrain) => {
      // To the steady state a deployed isolate serves in (see the warm-ups in run.ts).
      const warm = await runLoad({ ...spec, requests: 4000, concurrency: opts.concurrency });
      drain?.sent(warm.requests);
      if (drain) await drain.before();
      else await new Promise((resolve) => setTimeout(resolve, 100));
      const c0 = h.cpuMs();
      const load = await runLoad({ ...spec, requests: opts.requests, concurrency: opts.concurrency });
      let c1: number | null;
      if (drain) c1 = (await drain.after(load.requests)).cpuMs;
      else {
        await new Promise((resolve) => setTimeout(resolve, 60));
        c1 = h.cpuMs();
      }
      return c0 === null || c1 === null || !load.requests ? null : (c1 - c0) / load.requests;
    };
    for (const scenario of ["unlimited", "limited", "streamed"] as const) {
      const spec = opts.specs[scenario];
      // Scale first, profiler off: this host (consumer in when it runs one) and the anchors.
      const cpuOff = await measure(host, spec, opts.drain);
      const anchors: Record<string, number | null> = {};
      for (const a of opts.anchors ?? []) {
        const s = a.specs[scenario];
        anchors[a.label] = s ? await measure(a.host, s) : null;
      }
      await opts.drain?.before();
      const cpu0 = host.cpuMs();
      await cdp.send("Profiler.start");
      const load = await runLoad({ ...spec, requests: opts.requests, concurrency: opts.concurrency });
      const drained = opts.drain ? (await opts.drain.after(load.requests)).cpuMs : host.cpuMs();
      const { profile } = await cdp.send<{ profile: CpuProfile }>("Profiler.stop");
      const file = `${opts.outBase}-${scenario}.cpuprofile`;
      await writeFile(file, JSON.stringify(profile));
      files.push(file);
      const busy = attribute(profile, resolver, intervalUs);
      const total = busy.ms;
      const profiled =
        cpu0 !== null && drained !== null && load.requests ? (drained - cpu0) / load.requests : null;
      scenarios.push({
        scenario,
        requests: load.requests,
        processCpuMsPerRequest: cpuOff,
        profiledCpuMsPerRequest: profiled,
        anchors,
        sampledMs: Math.round(total),
        parts: PARTS.map((part) => {
          const ms = busy.byPart.get(part) ?? 0;
          const share = total > 0 ? ms / total : 0;
          return { part, sampledMs: ms, share, msPerRequest: load.requests ? ms / load.requests : 0 };
        }),
        top: [...busy.byFunction]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 25)
          .map(([key, ms]) => {
            const [name, where] = key.split("\t") as [string, string];
            return { name, where, share: total > 0 ? ms / total : 0 };
          }),
      });
    }
  } finally {
    cdp.close();
  }
  return { intervalUs, scenarios, files, floorLabel: opts.floorLabel };
}
