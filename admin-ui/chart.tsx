import type { FC } from "hono/jsx";

export type Point = {
  label: string;
  value: number /** Part of `value` drawn in the second colour (errors). */;
  part?: number;
};

const W = 600;
const H = 190;
const PAD = { left: 48, right: 8, top: 10, bottom: 24 };

/** A round upper bound for the y axis: 1, 2, 5 × 10^n. */
function niceMax(max: number): number {
  if (max <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * exp >= max) return m * exp;
  return 10 * exp;
}

/** Server-rendered SVG bar chart: no script, no library; a hover title on each bar. */
export const BarChart: FC<{
  title: string;
  points: Point[];
  format: (n: number) => string;
  partLabel?: string;
}> = ({ title, points, format, partLabel }) => {
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
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
        {[0, 0.5, 1].map((f) => (
          <g>
            <line class="gridline" x1={PAD.left} x2={W - PAD.right} y1={y(max * f)} y2={y(max * f)} />
            <text x={PAD.left - 6} y={y(max * f) + 4} text-anchor="end">
              {format(max * f)}
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
