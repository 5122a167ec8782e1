import type { Period } from "../storage/schema";

/**
 * Calendar periods for budgets that renew by themselves: the hour, day, ISO week (from Monday) or month
 * that contains an instant, in UTC or an IANA time zone. Pure; the Durable Object computes a period's
 * bounds once and keeps them until the period ends, so the hot path only compares two numbers.
 *
 * Local midnights that do not exist (a DST jump at midnight, as in America/Santiago) start the day at the
 * first instant that does; midnights that happen twice start it at the first of them. An hour is the local
 * clock hour (it differs from the UTC hour in zones like Asia/Kolkata).
 */

export const PERIODS = ["hour", "day", "week", "month"] as const satisfies readonly Period[];

export type Bounds = { start: number; end: number };

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** One formatter per zone: building one costs far more than formatting with it. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The canonical name of an IANA time zone, or null if the runtime does not know it. */
export function canonicalTimeZone(name: string): string | null {
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

const isUtc = (tz: string | null | undefined) => !tz || tz === "UTC" || tz === "Etc/UTC";

type Wall = { y: number; m: number; d: number; h: number; min: number; s: number };

/** The local wall-clock time of an instant in a zone (seconds precision). */
function wallOf(instant: number, timeZone: string): Wall {
  const w: Wall = { y: 0, m: 0, d: 0, h: 0, min: 0, s: 0 };
  for (const p of formatter(timeZone).formatToParts(new Date(instant))) {
    if (p.type === "year") w.y = Number(p.value);
    else if (p.type === "month") w.m = Number(p.value);
    else if (p.type === "day") w.d = Number(p.value);
    else if (p.type === "hour") w.h = Number(p.value);
    else if (p.type === "minute") w.min = Number(p.value);
    else if (p.type === "second") w.s = Number(p.value);
  }
  return w;
}

/** A wall-clock time as if it were UTC, to compare and subtract wall times. */
const asUtc = (w: Wall) => Date.UTC(w.y, w.m - 1, w.d, w.h, w.min, w.s);

/** The zone's offset from UTC at an instant, in ms (whole seconds). */
const offsetAt = (instant: number, timeZone: string) =>
  asUtc(wallOf(instant, timeZone)) - Math.floor(instant / 1000) * 1000;

/**
 * The instants whose local wall time is exactly `wall` (a UTC-encoded wall time): one, two (a repeated
 * hour) or, where the wall time falls into a DST gap, the first instant after it. Offsets a day either side
 * cover every transition near it; in a gap a binary search finds the transition itself.
 */
function instantsAt(wall: number, timeZone: string): number[] {
  const candidates = [wall - offsetAt(wall - DAY, timeZone), wall - offsetAt(wall + DAY, timeZone)];
  const exact = candidates.filter((t) => asUtc(wallOf(t, timeZone)) === wall);
  if (exact.length > 0) return exact.sort((a, b) => a - b);
  let lo = Math.min(...candidates) - HOUR;
  let hi = Math.max(...candidates) + HOUR;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (asUtc(wallOf(mid, timeZone)) >= wall) hi = mid;
    else lo = mid;
  }
  return [hi];
}

/** Every zone's offset and every DST change is a multiple of 15 minutes: local hours change only there. */
const QUARTER = 15 * 60_000;

/**
 * The local clock hour containing `now`: from the first to the last quarter-hour mark with the same local
 * date and hour. Zones whose DST shifts by 30 minutes (Australia/Lord_Howe) have hours of 30 or 90 minutes
 * then; an hour repeated by a DST change counts as one period.
 */
function localHour(now: number, tz: string): Bounds {
  const key = (t: number) => {
    const w = wallOf(t, tz);
    return `${w.y}-${w.m}-${w.d}-${w.h}`;
  };
  const here = key(now);
  let start = Math.floor(now / QUARTER) * QUARTER;
  while (key(start - QUARTER) === here) start -= QUARTER;
  let end = Math.floor(now / QUARTER) * QUARTER + QUARTER;
  while (key(end) === here) end += QUARTER;
  return { start, end };
}

function utcBounds(period: Period, now: number): Bounds {
  const d = new Date(now);
  if (period === "hour") {
    const start = Math.floor(now / HOUR) * HOUR;
    return { start, end: start + HOUR };
  }
  if (period === "day") {
    const start = Math.floor(now / DAY) * DAY;
    return { start, end: start + DAY };
  }
  if (period === "week") {
    const day = Math.floor(now / DAY) * DAY;
    const start = day - ((d.getUTCDay() + 6) % 7) * DAY;
    return { start, end: start + 7 * DAY };
  }
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return { start, end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

/** The period of kind `period` containing `now`, in `timeZone` (null = UTC). */
export function periodBounds(period: Period, timeZone: string | null | undefined, now: number): Bounds {
  if (isUtc(timeZone)) return utcBounds(period, now);
  const tz = timeZone as string;
  const w = wallOf(now, tz);
  if (period === "hour") return localHour(now, tz);
  let from: number;
  let to: number;
  if (period === "day") {
    from = Date.UTC(w.y, w.m - 1, w.d);
    to = Date.UTC(w.y, w.m - 1, w.d + 1);
  } else if (period === "week") {
    const weekday = new Date(Date.UTC(w.y, w.m - 1, w.d)).getUTCDay();
    const monday = w.d - ((weekday + 6) % 7);
    from = Date.UTC(w.y, w.m - 1, monday);
    to = Date.UTC(w.y, w.m - 1, monday + 7);
  } else {
    from = Date.UTC(w.y, w.m - 1, 1);
    to = Date.UTC(w.y, w.m, 1);
  }
  const start = instantsAt(from, tz)[0] as number;
  // A midnight that happens twice ends the period at its first occurrence, unless `now` is already past
  // it (the clock went back into the previous wall day): then at the second.
  const end = instantsAt(to, tz).find((t) => t > now) ?? now + HOUR;
  return { start: Math.min(start, now), end };
}
