import type { FC } from "hono/jsx";

export type Point = {
  label: string;
  value: number /** Part of `value` drawn in the second colour (errors). */;
  part?: number;
};

const W = 600;
const H = 190;
const PAD = { left: 48, right: 8, top: 10, bottom: 24 };

/** The round steps an axis may use: 1, 2, 5 × 10^n, from the first at least `min` upwards. */
function* roundSteps(min: number): Generator<number> {
  let exp = 10 ** Math.floor(Math.log10(min));
  for (;;) {
    for (const m of [1, 2, 5]) if (m * exp >= min) yield m * exp;
    exp *= 10;
  }
}

/**
 * The y axis: ticks from 0 in a round step, the top one at or above `max`, at most four intervals, and
 * every tick labelled differently by `format`. The smallest round step is tried first; when two labels
 * would read the same (a maximum of 1 request: 0, 0.5 and 1 all as whole numbers), the next larger step is
 * taken, so a small range never shows "1, 1, 0".
 */
export function axisTicks(max: number, format: (n: number) => string): number[] {
  if (!(max > 0)) return [0, 1];
  // 60 round steps span 20 decades: a whole-number format finds "0, 1" even above a tiny maximum.
  let tries = 60;
  for (const step of roundSteps(max / 4)) {
    if (tries-- === 0) break;
    const top = Math.ceil(max / step - 1e-9) * step;
    const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) =>
      Number((i * step).toPrecision(12)),
    );
    const labels = ticks.map(format);
    if (new Set(labels).size === labels.length) return ticks;
  }
  return [0, max];
}

/** Server-rendered SVG bar chart: no script, no library; a hover title on each bar. */
export const BarChart: FC<{
  title: string;
  points: Point[];
  format: (n: number) => string;
  partLabel?: string;
}> = ({ title, points, format, partLabel }) => {
  const ticks = axisTicks(Math.max(0, ...points.map((p) => p.value)), format);
  const max = ticks.at(-1)!;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, points.length);
  const barW = Math.max(1, slot * 0.72);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const labelEvery = Math.max(1, Math.ceil(points.length / 8));
  const total = points.reduce((s, p) => s + p.value, 0);
  return (
    <figure class="chart" aria-label={title}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: ${format(total)} in total`}>
        {ticks.map((v) => (
          <g>
            <line class="gridline" x1={PAD.left} x2={W - PAD.right} y1={y(v)} y2={y(v)} />
            <text x={PAD.left - 6} y={y(v) + 4} text-anchor="end">
              {format(v)}
            </text>
          </g>
        ))}
        {points.map((p, i) => {
          const x = PAD.left + i * slot + (slot - barW) / 2;
          const part = Math.min(p.part ?? 0, p.value);
          return (
            <g>
              <rect class="bar" x={x} y={y(p.value)} width={barW} height={Math.max(0, y(0) - y(p.value))}>
                <title>{`${p.label}: ${format(p.value)}${partLabel ? `, ${partLabel} ${format(part)}` : ""}`}</title>
              </rect>
              {part > 0 ? (
                <rect class="bar alt" x={x} y={y(part)} width={barW} height={Math.max(0, y(0) - y(part))} />
              ) : null}
              {i % labelEvery === 0 ? (
                <text x={x + barW / 2} y={H - 6} text-anchor="middle">
                  {p.label}
                </text>
              ) : null}
            </g>
          );
        })}
        {total === 0 ? (
          <text class="empty" x={PAD.left + plotW / 2} y={PAD.top + plotH / 2} text-anchor="middle">
            No data in this range
          </text>
        ) : null}
      </svg>
    </figure>
  );
};
