import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { UsageEvent } from "../src/usage/event";
import { mockProjectToken, proxy, sleep } from "./support/proxy";
import { logLines } from "./usage-fixtures";

type Kind = "plain" | "streamed" | "aborted" | "failing";

describe("usage end to end through the proxy", () => {
  it("1000 mixed requests: every request id exactly once in R2, upstream usage exact, rollups exact", {
    timeout: 300_000,
  }, async () => {
    const { project, token } = await mockProjectToken();
    const kinds: Kind[] = ["plain", "streamed", "aborted", "failing"];
    const sent: { id: string; kind: Kind; chunks: number; messages: unknown[] }[] = [];
    const N = 1000;
    for (let start = 0; start < N; start += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, N - start) }, async (_, j) => {
          const i = start + j;
          const kind = kinds[i % 4]!;
          const chunks = 2 + (i % 5);
          const messages = [{ role: "user", content: `request ${i}: say something` }];
          const headers: Record<string, string> = { "x-mock-chunks": String(chunks) };
          if (kind === "aborted")
            Object.assign(headers, { "x-mock-chunks": "40", "x-mock-interval-ms": "20" });
          if (kind === "failing") headers["x-mock-status"] = "500";
          const res = await proxy("/chat/completions", {
            token: token.token,
            json: { model: "gpt-4o-mini", messages, stream: kind === "streamed" || kind === "aborted" },
            headers,
          });
          const id = res.headers.get("x-request-id")!;
          if (kind === "aborted") {
            const reader = res.body!.getReader();
            await reader.read();
            await reader.cancel();
          } else await res.text();
          sent.push({ id, kind, chunks, messages });
        }),
      );
    }
    const ids = new Set(sent.map((s) => s.id));
    expect(ids.size).toBe(N);

    let lines: UsageEvent[] = [];
    for (let waited = 0; waited < 120_000; waited += 500) {
      lines = (await logLines()).filter((l) => l.project_id === project.id);
      if (new Set(lines.map((l) => l.id)).size >= N) break;
      await sleep(500);
    }
    const byId = new Map(lines.map((l) => [l.id, l]));
    expect(lines.length).toBe(N);
    expect(byId.size).toBe(N);
    for (const id of ids) expect(byId.has(id)).toBe(true);

    for (const s of sent) {
      const e = byId.get(s.id)!;
      // The mock reports prompt = words of the JSON messages, completion = chunks.
      const prompt = JSON.stringify(s.messages).split(/\s+/).filter(Boolean).length;
      if (s.kind === "plain" || s.kind === "streamed") {
        expect(e).toMatchObject({ status: 200, usage_source: "upstream", aborted: false });
        expect(e.usage).toMatchObject({ prompt_tokens: prompt, completion_tokens: s.chunks });
        expect(e.cost_usd).toBeCloseTo((prompt * 0.15 + s.chunks * 0.6) / 1e6, 12);
      }
      if (s.kind === "aborted") expect(e).toMatchObject({ aborted: true, usage_source: "estimated" });
      if (s.kind === "failing") expect(e.status).toBe(500);
    }

    const rollup = await env.DB.prepare(
      "select sum(requests) requests, sum(errors) errors, sum(completion_tokens) completion from usage_hourly where project_id = ?",
    )
      .bind(project.id)
      .first<{ requests: number; errors: number; completion: number }>();
    expect(rollup?.requests).toBe(N);
    // The log and the rollups agree on what an error is (a client_closed abort is none).
    const errors = lines.filter((l) => l.status >= 400 || (l.error !== null && l.error !== "client_closed"));
    expect(rollup?.errors).toBe(errors.length);
    expect(errors.length).toBeGreaterThanOrEqual(sent.filter((s) => s.kind === "failing").length);
    console.log("aborted error codes:", [...new Set(lines.filter((l) => l.aborted).map((l) => l.error))]);
    const completion = lines.reduce((n, l) => n + (l.usage?.completion_tokens ?? 0), 0);
    expect(rollup?.completion).toBe(completion);
  });
});
