// Turns the bench's measurements into tables (console and Markdown) and the JSON file; the paired
// comparisons and the target checks they show are checks.ts's. The percentiles are pooled over all rounds.
import { checks, cpuRatio, type Phase, p50, pair, type Results, rps, ttfb50 } from "./checks.ts";
import { type Cell, type LoadResult, renderMarkdown, renderTable, round } from "./lib/index.ts";
import type { Target } from "./scenarios.ts";

const ms = (v: number | undefined) => (v === undefined ? undefined : round(v, 3));

export type Table = { title: string; header: string[]; rows: Cell[][] };

function latencyRows(phase: Phase, targets: Target[], withRps: boolean): Cell[][] {
  return targets.map((t) => {
    const r = phase[t.id]?.merged;
    if (!r) return [t.label, ...Array(withRps ? 12 : 10).fill(null)];
    const s = r.latencyMs;
    const cells: Cell[] = [t.label, r.requests, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.mean)];
    cells.push(
      ms(pair(phase, t.id, "direct", p50)?.median),
      ms(pair(phase, t.id, "passthrough", p50)?.median),
    );
    const pass = phase.passthrough?.merged.latencyMs;
    cells.push(pass ? ms(s.p99 - pass.p99) : null);
    if (withRps) {
      const ratio = pair(phase, t.id, "passthrough", rps, "ratio")?.median;
      cells.push(round(r.rps, 0), ratio === undefined ? null : `${(ratio * 100).toFixed(1)} %`);
    }
    cells.push(ms(phase[t.id]?.cpuMsPerRequest ?? undefined), r.failed);
    return cells;
  });
}

const times = (x: { ratio: number; min: number; max: number } | undefined) =>
  x ? `${x.ratio.toFixed(2)}× (rounds ${x.min.toFixed(2)}–${x.max.toFixed(2)})` : null;
const pct = (x: number | undefined) => (x === undefined ? null : `${(x * 100).toFixed(1)} %`);
const plus = (x: number | undefined) => (x === undefined ? null : `+${x.toFixed(3)}`);

/**
 * The headline: what llm-proxy (unlimited token, non-streamed) costs per request against the do-nothing
 * passthrough in the same run, with the queue consumer in the measured process and out of it.
 */
export function costTable(r: Results): Table {
  const inId = r.meta.consumer === "out" ? undefined : "proxy";
  const outId = r.meta.consumer === "out" ? "proxy" : r.c32["proxy-out"] ? "proxy-out" : undefined;
  const cpu = (phase: Phase, id: string | undefined) => (id ? phase[id]?.cpuMsPerRequest : undefined);
  const floorCpu = (phase: Phase) => phase.passthrough?.cpuMsPerRequest;
  const thr = (id: string | undefined) =>
    id ? pair(r.c32, id, "passthrough", rps, "ratio")?.median : undefined;
  const add = (phase: Phase, id: string | undefined, pick: (x: LoadResult) => number) =>
    id ? pair(phase, id, "passthrough", pick)?.median : undefined;
  const spacing = r.spacing?.byTarget[inId ?? "proxy"];
  return {
    title: "Cost per request: llm-proxy (unlimited token) against the passthrough floor, same run",
    header: [
      "figure",
      "floor",
      "consumer in",
      "vs floor",
      "consumer out",
      "vs floor",
      "target (consumer in)",
    ],
    rows: [
      [
        "CPU per request, c=32 (ms)",
        ms(floorCpu(r.c32) ?? undefined),
        ms(cpu(r.c32, inId) ?? undefined),
        inId ? times(cpuRatio(r.c32, inId)) : null,
        ms(cpu(r.c32, outId) ?? undefined),
        outId ? times(cpuRatio(r.c32, outId)) : null,
        "≤ 1.6×",
      ],
      [
        "CPU per request, c=1 (ms)",
        ms(floorCpu(r.c1) ?? undefined),
        ms(cpu(r.c1, inId) ?? undefined),
        inId ? times(cpuRatio(r.c1, inId)) : null,
        ms(cpu(r.c1, outId) ?? undefined),
        outId ? times(cpuRatio(r.c1, outId)) : null,
        "",
      ],
      [
        "throughput, c=32 (req/s)",
        r.c32.passthrough ? round(r.c32.passthrough.merged.rps, 0) : null,
        inId && r.c32[inId] ? round(r.c32[inId].merged.rps, 0) : null,
        pct(thr(inId)),
        outId && r.c32[outId] ? round(r.c32[outId].merged.rps, 0) : null,
        pct(thr(outId)),
        "",
      ],
      [
        "p50 latency, c=1 (ms)",
        ms(r.c1.passthrough?.merged.latencyMs.p50),
        inId ? ms(r.c1[inId]?.merged.latencyMs.p50) : null,
        plus(add(r.c1, inId, p50)),
        outId ? ms(r.c1[outId]?.merged.latencyMs.p50) : null,
        plus(add(r.c1, outId, p50)),
        "≤ +0.5 ms",
      ],
      [
        "first streamed byte, p50 (ms)",
        ms(r.ttfb.passthrough?.merged.ttfbMs.p50),
        inId ? ms(r.ttfb[inId]?.merged.ttfbMs.p50) : null,
        plus(add(r.ttfb, inId, ttfb50)),
        outId ? ms(r.ttfb[outId]?.merged.ttfbMs.p50) : null,
        plus(add(r.ttfb, outId, ttfb50)),
        "≤ +1 ms",
      ],
      [
        "chunk spacing, largest median gap deviation (ms)",
        r.spacing?.byTarget.passthrough?.maxMedianGapDeviationMs,
        spacing?.maxMedianGapDeviationMs,
        spacing ? `${spacing.heldBack} held back` : null,
        null,
        null,
        "untouched (±2 ms, 0 held)",
      ],
    ],
  };
}

export function tables(r: Results, targets: Target[]): Table[] {
  const lat = ["target", "n", "p50", "p90", "p99", "mean", "+p50 vs direct", "+p50 vs pass", "+p99 vs pass"];
  const out: Table[] = [
    costTable(r),
    {
      title: "Latency, concurrency 1 (ms)",
      header: [...lat, "CPU/req", "failed"],
      rows: latencyRows(r.c1, targets, false),
    },
    {
      title: "Latency and throughput, concurrency 32 (ms, req/s)",
      header: [...lat, "req/s", "vs pass", "CPU/req", "failed"],
      rows: latencyRows(r.c32, targets, true),
    },
  ];
  const limited = (phase: Phase, pick: (x: LoadResult) => number, op: "diff" | "ratio" = "diff") =>
    pair(phase, "proxy-limited", "proxy", pick, op)?.median;
  const u1 = r.c1.proxy?.merged;
  const l1 = r.c1["proxy-limited"]?.merged;
  const u32 = r.c32.proxy?.merged;
  const l32 = r.c32["proxy-limited"]?.merged;
  if (u1 && l1 && u32 && l32) {
    const ratio = limited(r.c32, rps, "ratio") ?? 0;
    out.push({
      title: "Limited token (Durable Object admission) vs unlimited token",
      header: ["what", "unlimited", "limited", "difference (paired)"],
      rows: [
        ["p50, c=1 (ms)", ms(u1.latencyMs.p50), ms(l1.latencyMs.p50), ms(limited(r.c1, p50))],
        [
          "p99, c=1 (ms)",
          ms(u1.latencyMs.p99),
          ms(l1.latencyMs.p99),
          ms(l1.latencyMs.p99 - u1.latencyMs.p99),
        ],
        ["p50, c=32 (ms)", ms(u32.latencyMs.p50), ms(l32.latencyMs.p50), ms(limited(r.c32, p50))],
        ["req/s, c=32", round(u32.rps, 0), round(l32.rps, 0), `${(ratio * 100).toFixed(1)} %`],
      ],
    });
  }
  const single = r.c1.proxy?.merged;
  const routedC1 = r.c1["proxy-routed"]?.merged;
  const fallback = r.c1["proxy-fallback"]?.merged;
  if (single && routedC1) {
    const rows: Cell[][] = [
      [
        "p50, c=1 (ms)",
        ms(single.latencyMs.p50),
        ms(routedC1.latencyMs.p50),
        ms(pair(r.c1, "proxy-routed", "proxy", p50)?.median),
      ],
      [
        "p99, c=1 (ms)",
        ms(single.latencyMs.p99),
        ms(routedC1.latencyMs.p99),
        ms(routedC1.latencyMs.p99 - single.latencyMs.p99),
      ],
    ];
    const s32 = r.c32.proxy?.merged;
    const r32 = r.c32["proxy-routed"]?.merged;
    if (s32 && r32) {
      rows.push([
        "p50, c=32 (ms)",
        ms(s32.latencyMs.p50),
        ms(r32.latencyMs.p50),
        ms(pair(r.c32, "proxy-routed", "proxy", p50)?.median),
      ]);
      rows.push([
        "req/s, c=32",
        round(s32.rps, 0),
        round(r32.rps, 0),
        `${((pair(r.c32, "proxy-routed", "proxy", rps, "ratio")?.median ?? 0) * 100).toFixed(1)} %`,
      ]);
      const sc = r.c32.proxy?.cpuMsPerRequest;
      const rc = r.c32["proxy-routed"]?.cpuMsPerRequest;
      if (sc != null && rc != null) rows.push(["CPU per request, c=32 (ms)", ms(sc), ms(rc), ms(rc - sc)]);
    }
    if (fallback) {
      rows.push([
        "p50, c=1, first target 429 → second (ms)",
        ms(single.latencyMs.p50),
        ms(fallback.latencyMs.p50),
        ms(pair(r.c1, "proxy-fallback", "proxy-routed", p50)?.median),
      ]);
    }
    out.push({
      title:
        "Routes: an alias of two targets vs a single upstream (unlimited tokens); last row: one fallback's cost over the routed path",
      header: ["what", "single upstream", "routed", "difference (paired)"],
      rows,
    });
  }
  out.push({
    title: "Time to first byte of a stream, concurrency 1 (ms)",
    header: ["target", "n", "p50", "p90", "p99", "+p50 vs direct", "+p50 vs pass"],
    rows: targets.map((t) => {
      const s = r.ttfb[t.id]?.merged.ttfbMs;
      if (!s) return [t.label, null, null, null, null, null, null];
      return [
        t.label,
        s.count,
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(pair(r.ttfb, t.id, "direct", ttfb50)?.median),
        ms(pair(r.ttfb, t.id, "passthrough", ttfb50)?.median),
      ];
    }),
  });
  if (r.spacing) {
    const sp = r.spacing;
    out.push({
      title: `Stream spacing: ${sp.chunks} chunks ${sp.intervalMs} ms apart, ${sp.runs} runs, against the upstream's schedule (ms)`,
      header: ["target", "events", "max median dev", "max dev any run", "max late", "held back", "ok"],
      rows: targets.map((t) => {
        const s = sp.byTarget[t.id];
        if (!s) return [t.label, null, null, null, null, null, null];
        return [
          t.label,
          s.eventCountMismatch ? `${s.events} (≠)` : s.events,
          s.maxMedianGapDeviationMs,
          s.maxGapDeviationMs,
          s.maxLatenessMs,
          s.heldBack,
          s.withinTolerance ? "yes" : "NO",
        ];
      }),
    });
  }
  out.push({
    title: "Bundle and start-up",
    header: ["what", "value"],
    rows: [
      ["bundle (wrangler deploy --dry-run)", `${r.bundle.totalKiB} KiB, gzip ${r.bundle.gzipKiB} KiB`],
      [
        "llm-proxy start-up CPU (wrangler check startup)",
        r.startup.proxyProfile ? `${r.startup.proxyProfile.activeMs} ms` : "not run",
      ],
      ...Object.entries(r.startup.readyMs).map(([k, v]): Cell[] => [
        `Miniflare ready: ${k}`,
        `${v.toFixed(0)} ms`,
      ]),
    ],
  });
  out.push({
    title: "Targets (llm-proxy, unlimited token, vs the passthrough worker)",
    header: ["check", "target", "measured", "pass"],
    rows: checks(r).map((c) => [
      c.name,
      c.target,
      c.measured,
      c.pass === null ? "n/a" : c.pass ? "yes" : "NO",
    ]),
  });
  return out;
}

export function renderConsole(ts: Table[]): string {
  return ts.map((t) => renderTable(t.header, t.rows, { title: `\n${t.title}`, decimals: 3 })).join("\n");
}

export function renderMarkdownReport(ts: Table[]): string {
  return ts
    .map((t) => `#### ${t.title}\n\n${renderMarkdown(t.header, t.rows, { decimals: 3 })}\n`)
    .join("\n");
}

/** The JSON file: pooled summaries and per-round p50/p99/req/s (raw samples would be megabytes). */
export function toJson(r: Results): unknown {
  const strip = (phase: Phase) =>
    Object.fromEntries(
      Object.entries(phase).map(([k, v]) => {
        const { latencySamples: _l, ttfbSamples: _t, timings: _x, ...rest } = v.merged;
        const rounds = v.rounds.map((x) => ({
          p50: round(x.latencyMs.p50),
          p99: round(x.latencyMs.p99),
          ttfbP50: round(x.ttfbMs.p50),
          rps: round(x.rps, 1),
        }));
        return [
          k,
          {
            ...rest,
            cpuMsPerRequest: v.cpuMsPerRequest,
            cpuRounds: v.cpuRounds.map((c) => (c === null ? null : round(c, 4))),
            undrainedRounds: v.undrainedRounds,
            rounds,
          },
        ];
      }),
    );
  const cache = r.cache ? { cache: strip(r.cache) } : {};
  return { ...r, c1: strip(r.c1), c32: strip(r.c32), ttfb: strip(r.ttfb), ...cache, checks: checks(r) };
}
