import { describe, expect, it } from "vitest";
import { eventsOf } from "./support/events";
import { mockProjectToken, proxy } from "./support/proxy";

describe("proxy: request events", () => {
  it("records usage from streams and JSON, aborts, and refusals before identification", async () => {
    const { token } = await mockProjectToken();
    const messages = [{ role: "user", content: "hi" }];
    const streamed = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "gpt-4o-mini", messages, stream: true },
    });
    await streamed.text();
    const responses = await proxy("/responses", {
      token: token.token,
      json: { model: "gpt-4o-mini", input: "hi", stream: true },
    });
    await responses.text();
    const plain = await proxy("/embeddings", {
      token: token.token,
      json: { model: "text-embedding-3-small", input: "x" },
    });
    await plain.text();
    const cut = await proxy("/chat/completions", {
      token: token.token,
      json: { model: "gpt-4o-mini", messages, stream: true },
      headers: { "x-mock-chunks": "50", "x-mock-interval-ms": "50", "x-mock-no-usage": "1" },
    });
    const reader = cut.body!.getReader();
    await reader.read();
    await reader.cancel();
    const anonymous = await proxy("/models");
    await anonymous.text();

    const id = (r: Response) => r.headers.get("x-request-id")!;
    const events = await eventsOf([streamed, responses, plain, cut, anonymous].map(id));

    expect(events.get(id(streamed))).toMatchObject({
      status: 200,
      stream: true,
      model: "gpt-4o-mini",
      usage: { completion_tokens: 3 },
      usage_source: "upstream",
      aborted: false,
      path: "/v1/chat/completions",
      upstream_request_id: expect.stringMatching(/^req_mock_/),
    });
    expect(events.get(id(responses))).toMatchObject({ usage: { cached_tokens: 2, reasoning_tokens: 1 } });
    expect(events.get(id(plain))).toMatchObject({
      stream: false,
      usage: { prompt_tokens: expect.any(Number) },
    });
    // No usage from the upstream: estimated from the request and the text the client got (cookbook rules).
    expect(events.get(id(cut))).toMatchObject({
      aborted: true,
      usage_source: "estimated",
      usage: { prompt_tokens: 8 },
    });
    expect(events.get(id(anonymous))).toMatchObject({
      status: 401,
      error: "invalid_token",
      token_id: null,
      project_id: null,
    });
    const all = JSON.stringify([...events.values()]);
    expect(all).not.toContain(token.token);
  }, 30_000);
});
