import { percentile, sorted } from "../../bench/lib/stats.ts";

export type ChartSeries = { label: string; samples: readonly number[] };

const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706"];
const W = 720;
const H = 420;
const M = { top: 48, right: 24, bottom: 52, left: 72 };

const esc = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/** A "nice" axis step (1, 2 or 5 × 10^k) giving about `ticks` ticks up to `max`. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/** Percentiles on a "nines" axis (as HdrHistogram plots do): p50, p90, p99, p99.9 equally spaced. */
const NINES = 3;
const ninesOf = (p: number) => Math.min(NINES, -Math.log10(Math.max(1 - p / 100, 10 ** -NINES)));

/**
 * Latency by percentile (x: p0 … p99.9 on a nines scale, y: ms), one line per series, with p50/p99
 * marked: the usual way to read a latency distribution, and two runs (direct vs gateway) compare at a
 * glance, tail included.
 */
export function latencyChartSvg(series: ChartSeries[], title: string): string {
  const curves = series.map((s) => {
    const asc = sorted(s.samples);
    const points: [number, number][] = [];
    for (let t = 0; t <= NINES + 1e-9; t += 0.02) {
      const p = 100 * (1 - 10 ** -t);
      points.push([p, percentile(asc, Math.max(p, 0.001))]);
    }
    return { ...s, asc, points };
  });
  const maxY = Math.max(1, ...curves.map((c) => percentile(c.asc, 99.9)));
  const step = niceStep(maxY, 6);
  const top = Math.ceil(maxY / step) * step;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (p: number) => M.left + (ninesOf(p) / NINES) * pw;
  const y = (ms: number) => M.top + ph - (ms / top) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`,
  );
  for (let v = 0; v <= top + 1e-9; v += step) {
    const label = step < 1 ? v.toFixed(1) : String(Math.round(v));
    out.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e7eb"/>`,
      `<text x="${M.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#374151">${label}</text>`,
    );
  }
  for (const p of [0, 50, 75, 90, 95, 99, 99.5, 99.9]) {
    out.push(
      `<line x1="${x(p).toFixed(1)}" x2="${x(p).toFixed(1)}" y1="${M.top}" y2="${M.top + ph}" stroke="#f3f4f6"/>`,
      `<text x="${x(p).toFixed(1)}" y="${M.top + ph + 18}" text-anchor="middle" fill="#374151">p${p}</text>`,
    );
  }
  out.push(
    `<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle" fill="#111827">percentile of successful requests (nines scale)</text>`,
    `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#111827">latency (ms)</text>`,
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#9ca3af"/>`,
  );
  curves.forEach((c, i) => {
    const color = COLORS[i % COLORS.length];
    const d = c.points
      .map(([p, ms], j) => `${j ? "L" : "M"}${x(p).toFixed(1)} ${y(ms).toFixed(1)}`)
      .join(" ");
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of [50, 99]) {
      const v = percentile(c.asc, p);
      out.push(
        `<circle cx="${x(p).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${color}"/>`,
        `<text x="${(x(p) - 6).toFixed(1)}" y="${(y(v) - 8 - i * 14).toFixed(1)}" text-anchor="end" fill="${color}">p${p} ${v.toFixed(1)} ms</text>`,
      );
    }
    const ly = M.top + 16 + i * 18;
    out.push(
      `<line x1="${M.left + 12}" x2="${M.left + 36}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${M.left + 42}" y="${ly}" fill="#111827">${esc(c.label)} (n=${c.asc.length}, max ${percentile(c.asc, 100).toFixed(1)} ms)</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
