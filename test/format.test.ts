import { describe, expect, it } from "vitest";
import { axisTicks } from "../admin-ui/chart";
import { fmtCompact, fmtInt, fmtPct, fmtUsd } from "../src/lib/format";

describe("fmtUsd: one formatter for pages, dashboard and CLI tables", () => {
  it("keeps significant digits for costs under a cent", () => {
    expect(fmtUsd(0.0042)).toBe("$0.0042");
    expect(fmtUsd(0.000015)).toBe("$0.000015");
    expect(fmtUsd(0.0000256)).toBe("$0.000026");
    expect(fmtUsd(0.005)).toBe("$0.005");
    expect(fmtUsd(0.015)).toBe("$0.015");
    expect(fmtUsd(0.000000001)).toBe("$0.000000001");
  });

  it("shows cents from a cent up, with separators from $1,000", () => {
    expect(fmtUsd(0.42)).toBe("$0.42");
    expect(fmtUsd(0.5)).toBe("$0.50");
    expect(fmtUsd(1)).toBe("$1.00");
    expect(fmtUsd(1234.567)).toBe("$1,234.57");
  });

  it("zero, unknown and negative amounts", () => {
    expect(fmtUsd(0)).toBe("$0");
    expect(fmtUsd(null)).toBe("—");
    expect(fmtUsd(undefined)).toBe("—");
    expect(fmtUsd(Number.NaN)).toBe("—");
    expect(fmtUsd(-0.0042)).toBe("-$0.0042");
  });

  it("never prints two different small amounts the same", () => {
    const amounts = [0.00001, 0.000012, 0.00002, 0.0001, 0.00011, 0.001, 0.0015, 0.009, 0.0099];
    expect(new Set(amounts.map(fmtUsd)).size).toBe(amounts.length);
  });

  it("percentages and counts", () => {
    expect(fmtPct(0)).toBe("0%");
    expect(fmtPct(0.5)).toBe("50.0%");
    expect(fmtPct(0.0042)).toBe("0.42%");
    expect(fmtPct(0.00001)).toBe("0.001%");
    expect(fmtInt(1234.4)).toBe("1,234");
    expect(fmtCompact(15_300)).toBe("15.3k");
  });
});

describe("chart axes with small ranges label distinct ticks", () => {
  const labels = (max: number, f: (n: number) => string) => axisTicks(max, f).map(f);

  it("a maximum of 1 request: 0 and 1, not 1, 1, 0", () => {
    expect(labels(1, fmtCompact)).toEqual(["0", "1"]);
    expect(labels(3, fmtCompact)).toEqual(["0", "1", "2", "3"]);
  });

  it("costs under a cent: distinct dollar ticks", () => {
    const ticks = labels(0.00012, fmtUsd);
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(ticks[0]).toBe("$0");
    expect(ticks).not.toContain("$0.0000");
  });

  it("every tick distinct, the top at or above the maximum, for many ranges and formats", () => {
    for (const f of [fmtCompact, fmtUsd, fmtPct]) {
      for (const max of [1e-7, 0.00003, 0.0004, 0.003, 0.05, 0.2, 0.7, 1, 2, 5, 7, 13, 99, 101, 4321, 1e6]) {
        const ticks = axisTicks(max, f);
        const text = ticks.map(f);
        expect(new Set(text).size, `${f.name} ${max}: ${text.join(", ")}`).toBe(text.length);
        expect(ticks.at(-1)!).toBeGreaterThanOrEqual(max);
        expect(ticks.length).toBeLessThanOrEqual(5);
      }
    }
  });

  it("an empty chart still has an axis", () => {
    expect(axisTicks(0, fmtCompact)).toEqual([0, 1]);
  });
});
