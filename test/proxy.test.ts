import { describe, expect, it } from "vitest";
import { mockProjectToken, newTag, proxy, UPSTREAM_KEY, upstreamSaw } from "./support/proxy";

type ErrorJson = { error: { message: string; type: string; param: string | null; code: string } };

describe("proxy: forwarding", () => {
  it("forwards a chat completion with the project's key and the client's other headers", async () => {
    const { token } = await mockProjectToken();
    const tag = newTag();
    const res = await proxy("/chat/completions?x=1", {
      token: token.token,
      headers: {
        "x-mock-tag": tag,
        "openai-organization": "org-1",
        "openai-beta": "assistants=v2",
        "x-forwarded-for": "203.0.113.9",
        "cf-connecting-ip": "203.0.113.9",
        "x-real-ip": "203.0.113.9",
        "true-client-ip": "203.0.113.9",
        forwarded: "for=203.0.113.9",
        cookie: "session=abc",
      },
      json: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }] },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { total_tokens: number } };
    expect(body.usage.total_tokens).toBeGreaterThan(0);
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get("x-upstream-request-id")).toMatch(/^req_mock_/);
    expect(res.headers.get("x-ratelimit-remaining-requests")).toBe("9999");
    const [seen] = await upstreamSaw(tag);
    expect(seen?.url).toBe("/v1/chat/completions?x=1");
    expect(seen?.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(seen?.headers["openai-organization"]).toBe("org-1");
    expect(seen?.headers["openai-beta"]).toBe("assistants=v2");
    const all = JSON.stringify(seen);
    expect(all).not.toContain(token.token);
    expect(all).not.toContain("203.0.113.9");
    expect(all).not.toContain("session=abc");
    expect(seen?.headers["x-api-key"]).toBeUndefined();
  });

  it("refuses without a token", async () => {
    const res = await proxy("/models");
    expect(res.status).toBe(401);
    expect(((await res.json()) as ErrorJson).error.code).toBe("invalid_token");
    expect(res.headers.get("x-should-retry")).toBe("false");
  });
});
