// Plain-text tables, CSV and JSON for benchmark results. No colours or terminal tricks: output is often
// piped into a file or a CI log.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export type Cell = string | number | boolean | null | undefined;

function text(cell: Cell, decimals: number): string {
  if (cell === null || cell === undefined) return "–";
  if (typeof cell === "number") return Number.isInteger(cell) ? String(cell) : cell.toFixed(decimals);
  return String(cell);
}

/** An aligned table: text left, numbers right; numbers with `decimals` places (default 2). */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly Cell[])[],
  opts: { decimals?: number; title?: string } = {},
): string {
  const decimals = opts.decimals ?? 2;
  const body = rows.map((r) => r.map((c) => text(c, decimals)));
  const numeric = header.map((_, i) => rows.every((r) => typeof r[i] === "number" || r[i] == null));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const out = [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)];
  if (opts.title) out.unshift(opts.title);
  return out.join("\n");
}

/** A Markdown table (for READMEs and reports). */
export function renderMarkdown(
  header: readonly string[],
  rows: readonly (readonly Cell[])[],
  opts: { decimals?: number } = {},
): string {
  const decimals = opts.decimals ?? 2;
  const numeric = header.map((_, i) => rows.every((r) => typeof r[i] === "number" || r[i] == null));
  const row = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [
    row([...header]),
    row(header.map((_, i) => (numeric[i] ? "---:" : "---"))),
    ...rows.map((r) => row(r.map((c) => text(c, decimals).replaceAll("|", "\\|")))),
  ].join("\n");
}

function csvField(cell: Cell): string {
  const s = cell === null || cell === undefined ? "" : String(cell);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** RFC 4180 CSV; the columns are the header's, in order. */
export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return `${[header, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n")}\r\n`;
}

/** Writes pretty JSON, creating the directory. Float64Arrays and similar become plain arrays. */
export async function writeJson(path: string, data: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const json = JSON.stringify(
    data,
    (_key, value: unknown) => (ArrayBuffer.isView(value) ? Array.from(value as Float64Array) : value),
    2,
  );
  await writeFile(path, `${json}\n`);
}
