// `npm run bench:estimate [-- --reps N]`: CPU of the work the gateway does on hostile request bodies —
// the hot path's JSON read (src/proxy/body.ts: size and depth checks, JSON.parse) and the usage estimate
// that runs after the response (src/usage/estimate.ts + bpe.ts) — and the longest stretch either holds
// the event loop (a ticker runs beside it: other requests of the isolate wait that long at most).
// The gateway's own modules are bundled with esbuild and run in Node's V8 (the engine workerd embeds).
// Target (issue 10): ≤ 50 ms of CPU per request for the estimate, no stretch of tens of ms.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { renderTable } from "./lib/index.ts";

const { values: args } = parseArgs({ options: { reps: { type: "string", default: "5" } } });
const REPS = Math.max(1, Number(args.reps) || 5);
const ROOT = new URL("..", import.meta.url).pathname;

type Gateway = {
  readJsonBody(request: Request, limit: number): Promise<{ json: Record<string, unknown> | null }>;
  estimateUsage(model: string | null, request: unknown, text: string | undefined): Promise<unknown>;
  loadEncoder(name: "o200k_base" | "cl100k_base"): Promise<unknown>;
};

async function loadGateway(): Promise<{ gw: Gateway; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "llm-proxy-estimate-"));
  const entry = join(dir, "entry.ts");
  const { writeFile } = await import("node:fs/promises");
  await writeFile(
    entry,
    `export { readJsonBody } from ${JSON.stringify(join(ROOT, "src/proxy/body.ts"))};
     export { estimateUsage, loadEncoder } from ${JSON.stringify(join(ROOT, "src/usage/estimate.ts"))};`,
  );
  const out = join(dir, "gateway.mjs");
  await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "node",
    outfile: out,
    logLevel: "warning",
  });
  const gw = (await import(out)) as Gateway;
  return { gw, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const MB = 1_000_000;
const chat = (content: string) => ({ model: "gpt-4o", messages: [{ role: "user", content }] });
let seed = 42;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const letters = (n: number) =>
  Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join("");
const nested = (depth: number): unknown => {
  let v: unknown = "deep";
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

/** Hostile bodies (as the client sends them) and the streamed text an aborted answer would leave. */
const CASES: { name: string; body: string; text?: string }[] = [
  { name: "1 MB prompt of one word (a…a)", body: JSON.stringify(chat("a".repeat(MB))) },
  { name: "1 MB of random letters, no space", body: JSON.stringify(chat(letters(MB))) },
  { name: "500 k × 'ā' (1 MB UTF-8)", body: JSON.stringify(chat("ā".repeat(MB / 2))) },
  { name: "250 k × '🚀'", body: JSON.stringify(chat("🚀".repeat(MB / 4))) },
  { name: "300 k × 'a' + combining acute", body: JSON.stringify(chat("a\u0301".repeat(300_000))) },
  { name: "1 MB of spaces", body: JSON.stringify(chat(" ".repeat(MB))) },
  { name: "1 MB of digits", body: JSON.stringify(chat("7".repeat(MB))) },
  {
    name: "1 MB of prose",
    body: JSON.stringify(chat("The quick brown fox jumps over the lazy dog. ".repeat(MB / 45))),
  },
  {
    name: "100 k tiny messages",
    body: JSON.stringify({
      model: "gpt-4o",
      messages: Array.from({ length: 100_000 }, () => ({ role: "user", content: "hi" })),
    }),
  },
  { name: "input nested 120 deep (allowed)", body: JSON.stringify({ model: "gpt-4o", input: nested(120) }) },
  { name: "4 MB of '[' (refused: too deep)", body: `{"model":"gpt-4o","input":${"[".repeat(4 * MB - 40)}` },
  {
    name: "32 KiB streamed text of 'ā' (cut stream)",
    body: JSON.stringify(chat("hi")),
    text: "ā".repeat(32_768),
  },
];

const cpuMs = (start: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
};

/** Runs `work` while a 0 ms ticker measures the longest gap between its ticks (the event loop held). */
async function timed<T>(
  work: () => Promise<T>,
): Promise<{ value: T | undefined; cpu: number; stall: number; error?: string }> {
  let last = performance.now();
  let stall = 0;
  let ticking = true;
  const tick = () => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const start = process.cpuUsage();
  try {
    const value = await work();
    return { value, cpu: cpuMs(start), stall };
  } catch (err) {
    return {
      value: undefined,
      cpu: cpuMs(start),
      stall,
      error: err instanceof Error ? err.message : String(err),
    };
  } finally {
    ticking = false;
    const now = performance.now();
    stall = Math.max(stall, now - last);
  }
}

const { gw, cleanup } = await loadGateway();
try {
  const load = await timed(() => gw.loadEncoder("o200k_base"));
  const rows: (string | number)[][] = [];
  let worst = 0;
  for (const c of CASES) {
    const parse: number[] = [];
    const estimate: number[] = [];
    let stall = 0;
    let outcome = "";
    for (let rep = 0; rep < REPS; rep++) {
      const read = await timed(() =>
        gw.readJsonBody(
          new Request("http://bench/v1/chat/completions", { method: "POST", body: c.body }),
          8 * MB,
        ),
      );
      parse.push(read.cpu);
      stall = Math.max(stall, read.stall);
      if (read.error) {
        outcome = `400 (${read.error.slice(0, 40)})`;
        continue;
      }
      const json = read.value?.json ?? null;
      const est = await timed(() => gw.estimateUsage("gpt-4o", json, c.text));
      estimate.push(est.cpu);
      stall = Math.max(stall, est.stall);
      outcome = JSON.stringify((est.value as { total_tokens?: number } | null)?.total_tokens ?? null);
    }
    // The first repetition pays the JIT's warm-up; the median is the steady cost, the max the cold one.
    const med = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[xs.length >> 1]! : 0);
    const max = (xs: number[]) => (xs.length ? Math.max(...xs) : 0);
    worst = Math.max(worst, med(estimate));
    rows.push([
      c.name,
      (c.body.length / 1024).toFixed(0),
      med(parse).toFixed(1),
      med(estimate).toFixed(1),
      max(estimate).toFixed(1),
      stall.toFixed(1),
      outcome,
    ]);
  }
  process.stdout.write(
    `${renderTable(
      [
        "body",
        "KiB",
        "read+parse CPU ms",
        "estimate CPU ms (median)",
        "estimate CPU ms (max)",
        "longest stall ms",
        "tokens / result",
      ],
      rows,
    )}\n\nrank table load (once per isolate): ${load.cpu.toFixed(0)} ms CPU, longest stall ${load.stall.toFixed(1)} ms\n` +
      `${REPS} repetitions each; worst median estimate ${worst.toFixed(1)} ms CPU (target ≤ 50 ms): ${worst <= 50 ? "yes" : "NO"}\n`,
  );
} finally {
  await cleanup();
}
