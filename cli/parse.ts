import { InvalidArgumentError } from "commander";

/** Argument parsers for commander: a bad value is a usage error (exit 2) naming the flag's rule. */

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a whole number ≥ 1");
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("must be a whole number ≥ 0");
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a number > 0");
  return n;
}

export function list(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

export function jsonObject(value: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(value);
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new InvalidArgumentError('must be a JSON object, e.g. \'{"team":"ml"}\'');
}

/** `100/60` = 100 requests per 60 seconds; `100/1m`, `1000/1h`, `5000/1d` also work. Repeatable. */
export function rateWindow(
  value: string,
  previous: { requests: number; window_seconds: number }[] = [],
): { requests: number; window_seconds: number }[] {
  const m = /^(\d+)\s*\/\s*(\d+)?\s*(s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError("must look like 100/60 (requests per seconds), 100/1m or 1000/1h");
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[(m[3] ?? "s") as "s" | "m" | "h" | "d"];
  const seconds = Number(m[2] ?? 1) * unit;
  return [...previous, { requests: Number(m[1]), window_seconds: seconds }];
}

/** An ISO 8601 date-time, a date (midnight UTC), or a time ago: 30m, 24h, 7d. */
export function timeArg(value: string, now = Date.now()): string {
  const rel = /^(\d+)\s*(m|h|d|w)$/.exec(value.trim());
  if (rel) {
    const ms = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[rel[2] as "m" | "h" | "d" | "w"];
    return new Date(now - Number(rel[1]) * ms).toISOString();
  }
  if (/^\d{4}-\d\d-\d\d$/.test(value)) return `${value}T00:00:00.000Z`;
  const t = Date.parse(value);
  if (Number.isNaN(t) || !/^\d{4}-\d\d-\d\dT/.test(value)) {
    throw new InvalidArgumentError(
      "must be an ISO date-time (2026-11-22T10:00:00Z), a date, or 30m / 24h / 7d ago",
    );
  }
  return new Date(t).toISOString();
}

/** A duration such as 2s, 500ms, 1m → milliseconds. */
export function durationMs(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError("must be a duration like 500ms, 2s or 1m");
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? "s") as "ms" | "s" | "m"];
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An absolute ISO 8601 date-time (for expiries: use --duration for "from now"). */
export function isoTime(value: string): string {
  const t = Date.parse(value);
  if (Number.isNaN(t) || !/^\d{4}-\d\d-\d\dT/.test(value)) {
    throw new InvalidArgumentError("must be an ISO date-time such as 2026-12-31T23:59:00Z");
  }
  return new Date(t).toISOString();
}

const PERIODS = ["hour", "day", "week", "month"] as const;
export type PeriodBudgetArg = {
  period: (typeof PERIODS)[number];
  max_requests?: number;
  max_tokens?: number;
  max_cost_usd?: number;
};

/**
 * A budget per period: `day:cost=5`, `month:requests=1000,tokens=2000000`, `hour:cost=0.5,requests=60`.
 * Repeatable, one per period.
 */
export function periodBudget(value: string, previous: PeriodBudgetArg[] = []): PeriodBudgetArg[] {
  const m = /^(hour|day|week|month):(.+)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError("must look like day:cost=5 or month:requests=1000,tokens=2000000");
  const budget: PeriodBudgetArg = { period: m[1] as PeriodBudgetArg["period"] };
  for (const part of (m[2] as string).split(",")) {
    const [key, raw] = part.split("=").map((s) => s.trim());
    const n = Number(raw);
    if (!raw || !Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`'${part}': needs a number > 0`);
    if (key === "cost" || key === "usd") budget.max_cost_usd = n;
    else if (key === "requests") budget.max_requests = n;
    else if (key === "tokens") budget.max_tokens = n;
    else throw new InvalidArgumentError(`'${key}': use cost, requests or tokens`);
  }
  if (previous.some((b) => b.period === budget.period))
    throw new InvalidArgumentError(`one budget per ${budget.period}`);
  return [...previous, budget];
}

/** Tokens per window: `40000/1m`, `1000000/1h`, `500/30` (seconds). Repeatable. */
export function tokenWindow(
  value: string,
  previous: { tokens: number; window_seconds: number }[] = [],
): { tokens: number; window_seconds: number }[] {
  const [w] = rateWindow(value);
  if (!w) throw new InvalidArgumentError("must look like 40000/1m");
  return [...previous, { tokens: w.requests, window_seconds: w.window_seconds }];
}

/** A duration in seconds: 30, 90s, 15m, 1h, 2d. */
export function seconds(value: string): number {
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError("must be a duration like 90s, 15m, 1h or 2d");
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? "s") as "s" | "m" | "h" | "d"];
}
