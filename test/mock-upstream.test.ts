import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RecordedRequest } from "./support/mock-types";

// The mock upstream itself, reached directly from workerd: the proxy tests rely on its behaviour.
describe("mock upstream", () => {
  it("answers chat completions and records what it received", async () => {
    const tag = crypto.randomUUID();
    const res = await fetch(`${env.MOCK_UPSTREAM_URL}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-mock-tag": tag },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { completion_tokens: number } };
    expect(body.usage.completion_tokens).toBe(3);
    const seen = (await (
      await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests?tag=${tag}`)
    ).json()) as RecordedRequest[];
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe("/v1/chat/completions");
    expect(seen[0]!.completed).toBe(true);
  });

  it("streams with a usage-only final chunk when asked", async () => {
    const res = await fetch(`${env.MOCK_UPSTREAM_URL}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "m",
        messages: [],
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    const text = await res.text();
    expect(text).toContain('"choices":[],"usage":{');
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
  });
});
