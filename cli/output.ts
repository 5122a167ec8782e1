import Table from "cli-table3";

export type Column<T> = { header: string; value: (row: T) => unknown; align?: "left" | "right" };

const useColor = () => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;

/**
 * C0/C1 controls and bidi overrides, shown escaped: event fields (model, user agent, path) come from
 * clients, and printed raw they could move the cursor, retitle the window or reorder what the operator reads.
 */
const UNSAFE = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu;
const visible = (s: string) =>
  s.replace(UNSAFE, (ch) => {
    const code = ch.codePointAt(0) ?? 0;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });

/** One cell: null as "-", dates shortened, objects as compact JSON, control characters escaped. */
export function cell(v: unknown): string {
  return visible(rawCell(v));
}

function rawCell(v: unknown): string {
  if (v === null || v === undefined || v === "") return "-";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(6)));
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "string") {
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v))
      return v.replace("T", " ").replace(/(\.\d+)?Z$/, "Z");
    return v;
  }
  return JSON.stringify(v);
}

function table(head: string[], aligns?: ("left" | "right")[]) {
  return new Table({
    head,
    style: { head: useColor() ? ["cyan"] : [], border: useColor() ? ["grey"] : [] },
    ...(aligns ? { colAligns: aligns } : {}),
  });
}

export function renderTable<T>(rows: T[], columns: Column<T>[]): string {
  const t = table(
    columns.map((c) => c.header),
    columns.map((c) => c.align ?? "left"),
  );
  for (const row of rows) t.push(columns.map((c) => cell(c.value(row))));
  return t.toString();
}

/** Columns from the keys of the rows themselves (for API answers whose shape may grow). */
export function autoColumns(rows: Record<string, unknown>[]): Column<Record<string, unknown>>[] {
  const keys: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  return keys.map((k) => ({
    header: k,
    value: (r) => r[k],
    align: rows.some((r) => typeof r[k] === "number") ? "right" : "left",
  }));
}

/** A single resource as a two-column key/value table. */
export function renderRecord(record: Record<string, unknown>): string {
  const t = new Table({ style: { head: [], border: useColor() ? ["grey"] : [], compact: true } });
  for (const [k, v] of Object.entries(record)) t.push({ [k]: cell(v) });
  return t.toString();
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Notes for humans go to stderr so stdout stays parseable. */
export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}
