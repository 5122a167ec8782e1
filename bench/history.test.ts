// node:test self-test of the bench guard (run by `npm run bench:selftest`).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { guard, type HistoryEntry } from "./history.ts";

const entry = (mode: string, c1In: number | null, c32In: number | null): HistoryEntry => ({
  date: "2026-11-28T00:00:00.000Z",
  commit: "abc1234",
  mode,
  machine: "2 × test",
  storage: "tmpfs",
  consumer: "both",
  floorCpuMs: { c1: 1, c32: 0.5 },
  cpuRatio: { c1In, c32In, c1Out: null, c32Out: null },
  throughputRatio: { c32In: null, c32Out: null },
  addedMs: { p50c1: null, ttfb: null },
});

describe("guard", () => {
  const history = [entry("quick", 2, 2), entry("full", 1, 1)];

  it("passes with nothing recorded for the mode", () => {
    assert.equal(guard(entry("quick", 9, 9), [entry("full", 1, 1)]).ok, true);
  });

  it("passes on noise, and when only one phase is over twice the recorded ratio", () => {
    assert.equal(guard(entry("quick", 2.6, 2.4), history).ok, true);
    assert.equal(guard(entry("quick", 4.5, 3.9), history).ok, true);
  });

  it("fails when both phases are over twice the last recorded run of the same mode", () => {
    const verdict = guard(entry("quick", 4.1, 4.2), history);
    assert.equal(verdict.ok, false);
    assert.match(verdict.lines.join("\n"), /FAIL/);
    // Compared with the last quick run, not the full one.
    assert.equal(guard(entry("quick", 4.1, 4.2), [...history, entry("quick", 3, 3)]).ok, true);
  });

  it("passes when CPU could not be measured here", () => {
    assert.equal(guard(entry("quick", null, null), history).ok, true);
  });
});
