import { existsSync, readFileSync } from "node:fs";
import { type LoadResult, mergeLoad, runLoad } from "../../bench/lib/load.ts";
import { usageError } from "../errors";

export type Target = { label: string; url: string; token?: string; endpoint?: string };

export type BenchOptions = {
  requests: number;
  concurrency: number;
  warmup: number;
  timeoutMs: number;
  stream: boolean;
  method: string;
  body: string | undefined;
  /** Interleaved rounds per target in comparison mode (drift in the network or the machine hits both). */
  rounds: number;
};

export const DEFAULT_TEMPLATE = {
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Say hello in one word." }],
  max_tokens: 16,
};

/** The request body: inline JSON, @file or a path to a JSON file; `model` and `stream` applied on top. */
export function requestBody(
  template: string | undefined,
  opts: { model?: string; stream: boolean; method: string },
): string | undefined {
  if (opts.method === "GET" || opts.method === "HEAD") return undefined;
  let body: Record<string, unknown> = { ...DEFAULT_TEMPLATE };
  if (template) {
    const path = template.startsWith("@") ? template.slice(1) : template;
    const text = template.trim().startsWith("{")
      ? template
      : existsSync(path)
        ? readFileSync(path, "utf8")
        : undefined;
    if (text === undefined) throw usageError(`--template: no such file '${path}' (or give inline JSON).`);
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        throw new Error("not an object");
      body = parsed as Record<string, unknown>;
    } catch (err) {
      throw usageError(`--template is not a JSON object: ${(err as Error).message}`);
    }
  }
  if (opts.model) body.model = opts.model;
  if (opts.stream) body.stream = true;
  return JSON.stringify(body);
}

/** Joins a target and an endpoint without doubling /v1 (a base URL ending in /v1 is what SDKs use). */
export function endpointUrl(target: string, endpoint: string): string {
  const base = target.replace(/\/+$/, "");
  const path = endpoint.startsWith("/") ? endpoint : `/${endpoint}`;
  if (base.endsWith("/v1") && path.startsWith("/v1/")) return base + path.slice(3);
  return base + path;
}

export type Progress = { start(total: number): void; tick(): void; stop(): void };

export type TargetResult = { merged: LoadResult; rounds: LoadResult[] };

/**
 * Runs the load against every target. With two targets the requests are split into `rounds` interleaved
 * rounds, the order rotating (A B, B A, …), and each target's rounds merged, so neither gets the warmer
 * machine; the per-round results also give paired differences (bench/lib/interleave.ts `paired`).
 * (bench/lib's runInterleaved does the same but reports per round only; this loop ticks a progress bar
 * per request.)
 */
export async function runTargets(
  targets: Target[],
  endpoint: string,
  o: BenchOptions,
  progress: Progress,
): Promise<TargetResult[]> {
  const rounds = targets.length > 1 ? Math.max(1, Math.min(o.rounds, o.requests)) : 1;
  progress.start(o.requests * targets.length);
  const perTarget: LoadResult[][] = targets.map(() => []);
  try {
    for (let r = 0; r < rounds; r++) {
      const count = Math.floor(o.requests / rounds) + (r < o.requests % rounds ? 1 : 0);
      for (let k = 0; k < targets.length; k++) {
        const i = (k + r) % targets.length;
        const t = targets[i]!;
        const headers: Record<string, string> = { "user-agent": "llm-proxy-benchmark" };
        if (o.body !== undefined) headers["content-type"] = "application/json";
        if (t.token) headers.authorization = `Bearer ${t.token}`;
        if (o.stream) headers.accept = "text/event-stream";
        perTarget[i]!.push(
          await runLoad({
            url: endpointUrl(t.url, t.endpoint ?? endpoint),
            method: o.method,
            headers,
            body: o.body,
            requests: count,
            concurrency: o.concurrency,
            warmup: r === 0 ? o.warmup : 0,
            timeoutMs: o.timeoutMs,
            trackEvents: false,
            onProgress: () => progress.tick(),
          }),
        );
      }
    }
  } finally {
    progress.stop();
  }
  return perTarget.map((runs) => ({ merged: runs.length === 1 ? runs[0]! : mergeLoad(runs), rounds: runs }));
}
