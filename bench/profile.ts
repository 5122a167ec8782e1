// `--profile`: a V8 CPU profile of llm-proxy's workerd isolate while the bench's chat load runs, through
// the inspector Miniflare opens with `inspectorPort` (Chrome DevTools Protocol over a WebSocket). Opt-in
// and run after the measured phases: the sampling profiler slows the worker, so no figure is taken then.
import { writeFile } from "node:fs/promises";
import type { RequestSpec } from "./lib/index.ts";
import { runLoad } from "./lib/index.ts";

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
    title?: string;
    webSocketDebuggerUrl: string;
  }[];
  const target = list.find((t) => t.id.endsWith(workerName) || t.title?.includes(workerName)) ?? list[0];
  if (!target) throw new Error(`no inspector target at ${inspector.host}`);
  return target.webSocketDebuggerUrl.replace(/^ws:\/\/[^/]+/, `ws://${inspector.host}`);
}

export type HotFunction = { name: string; where: string; selfMs: number; selfPct: number };

/** Self time per function (summed over every node of the same function), highest first. */
export function topSelf(profile: CpuProfile, limit = 30): { totalMs: number; top: HotFunction[] } {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byNode.get(profile.samples[i]!);
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (!node) continue;
    total += dt;
    const f = node.callFrame;
    const file = f.url.split("/").pop() || "(native)";
    const key = `${f.functionName || "(anonymous)"}\t${file}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const top = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([key, ms]) => {
      const [name, where] = key.split("\t") as [string, string];
      return { name, where, selfMs: ms, selfPct: total > 0 ? (100 * ms) / total : 0 };
    });
  return { totalMs: total, top };
}

/**
 * Profiles the worker while `requests` requests of `spec` run at `concurrency`, writes the .cpuprofile
 * (open it in Chrome DevTools or speedscope) and returns the top self-time functions.
 */
export async function profileWorker(
  inspector: URL,
  workerName: string,
  spec: RequestSpec,
  opts: { requests: number; concurrency: number; outfile: string },
): Promise<{ totalMs: number; requests: number; top: HotFunction[] }> {
  const cdp = await connect(await inspectorTarget(inspector, workerName));
  try {
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
    await runLoad({ ...spec, requests: 200, concurrency: opts.concurrency });
    await cdp.send("Profiler.start");
    const load = await runLoad({ ...spec, requests: opts.requests, concurrency: opts.concurrency });
    const { profile } = await cdp.send<{ profile: CpuProfile }>("Profiler.stop");
    await writeFile(opts.outfile, JSON.stringify(profile));
    return { ...topSelf(profile), requests: load.requests };
  } finally {
    cdp.close();
  }
}
