// Comparing targets on a machine that is not quiet: every target is measured in short rounds, the order
// rotating, so slow drift (other processes, CPU frequency, GC) lands on all of them alike. Per-round
// differences then cancel most of it: the median of "target − baseline, same round" is far steadier
// than the difference of two pooled runs taken a minute apart.
import type { Pool } from "undici";
import { createPool, type RequestSpec } from "./client.ts";
import { type LoadResult, mergeLoad, runLoad } from "./load.ts";
import { median, sorted } from "./stats.ts";

export type InterleavedTarget = { id: string; spec: RequestSpec };

export type InterleavedPlan = {
  /** Measured requests per target, split evenly over the rounds. */
  requests: number;
  rounds: number;
  /** Unrecorded requests per target before the first round. */
  warmup: number;
  concurrency: number;
  timeoutMs?: number;
  /** Longest a target's round may take (then it stops early): keeps a slow target from stretching a run. */
  roundMaxMs?: number;
};

export type InterleavedResult = { merged: LoadResult; rounds: LoadResult[] };

export type RoundHooks = {
  /**
   * Just before a target's round starts (e.g. to read a process's CPU time). Awaited: a hook may wait for
   * the target to be idle first, outside the round's clock.
   */
  before?: (round: number, id: string) => void | Promise<void>;
  /** Just after it ends (awaited, outside the round's clock: e.g. to wait for background work to finish). */
  after?: (round: number, id: string, result: LoadResult) => void | Promise<void>;
  /** After a target's warm-up (awaited), with what it sent. */
  warmed?: (id: string, result: LoadResult) => void | Promise<void>;
};

export async function runInterleaved(
  targets: readonly InterleavedTarget[],
  plan: InterleavedPlan,
  hooks: RoundHooks = {},
): Promise<Map<string, InterleavedResult>> {
  const pools = new Map<string, Pool>(targets.map((t) => [t.id, createPool(t.spec.url, plan.concurrency)]));
  const rounds = new Map<string, LoadResult[]>(targets.map((t) => [t.id, []]));
  const common = { concurrency: plan.concurrency, timeoutMs: plan.timeoutMs, maxDurationMs: plan.roundMaxMs };
  try {
    for (const t of targets) {
      if (plan.warmup > 0) {
        const w = await runLoad({ ...t.spec, ...common, requests: plan.warmup, dispatcher: pools.get(t.id) });
        await hooks.warmed?.(t.id, w);
      }
    }
    const perRound = Math.max(1, Math.ceil(plan.requests / plan.rounds));
    for (let round = 0; round < plan.rounds; round++) {
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + round) % targets.length]!;
        await hooks.before?.(round, t.id);
        const r = await runLoad({ ...t.spec, ...common, requests: perRound, dispatcher: pools.get(t.id) });
        rounds.get(t.id)!.push(r);
        await hooks.after?.(round, t.id, r);
      }
    }
  } finally {
    await Promise.all([...pools.values()].map((p) => p.close()));
  }
  return new Map([...rounds].map(([id, rs]) => [id, { merged: mergeLoad(rs), rounds: rs }]));
}

export type Paired = { median: number; min: number; max: number; values: number[] };

/**
 * Round-by-round comparison of a target with a baseline: `diff` (target − baseline) or `ratio`
 * (target / baseline) of `pick(round)`, summarised by the median over rounds.
 */
export function paired(
  target: readonly LoadResult[],
  baseline: readonly LoadResult[],
  pick: (r: LoadResult) => number,
  op: "diff" | "ratio",
): Paired {
  const n = Math.min(target.length, baseline.length);
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = pick(target[i]!);
    const b = pick(baseline[i]!);
    values.push(op === "diff" ? a - b : b === 0 ? 0 : a / b);
  }
  const s = sorted(values);
  return { median: median(s), min: s[0] ?? 0, max: s[s.length - 1] ?? 0, values };
}
