// Numbers and money for people: the admin pages (tables, stats, chart axes) and the command line's tables
// use these same functions, so a cost reads the same everywhere. Pure, no imports.

/** A whole number with thousands separators; null → "—". */
export const fmtInt = (n: number | null | undefined) =>
  n === null || n === undefined ? "—" : Math.round(n).toLocaleString("en-US");

/** 1,234 · 12.3k · 4.5M · 1.2B. */
export function fmtCompact(n: number): string {
  if (Math.abs(n) >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return fmtInt(n);
}

/**
 * `digits` significant digits after the point, never fewer than `min` decimals, trailing zeros beyond
 * `min` dropped: 0.0042 → "0.0042", 0.015 → "0.015", 0.5 → "0.50" (min 2).
 */
function decimals(abs: number, digits: number, min: number): string {
  const places = Math.min(20, Math.max(min, digits - 1 - Math.floor(Math.log10(abs))));
  const text = abs.toFixed(places);
  const cut = text.length - (places - min);
  return text.slice(0, cut) + text.slice(cut).replace(/0+$/, "");
}

/**
 * US dollars: from $1 up in cents with separators ($1,234.56); below $1 with at least two significant
 * digits ($0.42, $0.015, $0.0042, $0.000015), so costs under a cent never read as $0.00 and two different
 * small amounts never print the same. Exactly zero is "$0"; null (unknown price) → "—".
 */
export function fmtUsd(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  if (n === 0) return "$0";
  const sign = n < 0 ? "-" : "";
  const abs = Math.abs(n);
  if (abs >= 1) {
    return `${sign}$${abs.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }
  return `${sign}$${decimals(abs, 2, 2)}`;
}

/** A ratio as a percentage: one decimal, or two significant digits when smaller (0.0042 → "0.42%"). */
export function fmtPct(ratio: number): string {
  if (ratio === 0) return "0%";
  const pct = Math.abs(ratio * 100);
  const sign = ratio < 0 ? "-" : "";
  return `${sign}${pct >= 1 ? pct.toFixed(1) : decimals(pct, 2, 1)}%`;
}
