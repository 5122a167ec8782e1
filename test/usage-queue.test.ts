import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { UsageEvent } from "../src/usage/event";
import { completeRequest } from "../src/usage/record";
import { draft, logLines } from "./usage-fixtures";

async function findLines(ids: Set<string>, timeoutMs: number): Promise<UsageEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await logLines()).filter((e) => ids.has(e.id));
    if (found.length >= ids.size || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("events through the real local queue", () => {
  it("queues finished events and the consumer writes them to R2", { timeout: 30_000 }, async () => {
    const plain = draft({
      usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15, cached_tokens: 4 },
    });
    const cut = draft({
      stream: true,
      aborted: true,
      usage: null,
      estimate: {
        request: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Count to ten." }] },
        completionText: "One, two, three",
      },
    });
    const unidentified = draft({
      token_id: null,
      project_id: null,
      status: 401,
      error: "token_not_found",
      usage: null,
    });
    await Promise.all([plain, cut, unidentified].map((d) => completeRequest(env, d)));
    const lines = await findLines(new Set([plain.id, cut.id, unidentified.id]), 25_000);
    const byId = new Map(lines.map((l) => [l.id, l]));
    expect(byId.get(plain.id)).toMatchObject({ usage_source: "upstream", usage: plain.usage });
    expect(byId.get(plain.id)?.cost_usd).toBeCloseTo((8 * 0.15 + 4 * 0.075 + 3 * 0.6) / 1e6, 12);
    expect(byId.get(cut.id)).toMatchObject({ usage_source: "estimated", aborted: true });
    expect(byId.get(cut.id)?.usage?.completion_tokens).toBe(5);
    expect(byId.get(cut.id)).not.toHaveProperty("estimate");
    expect(byId.get(unidentified.id)).toMatchObject({ token_id: null, error: "token_not_found" });
  });
});
