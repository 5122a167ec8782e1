import { describe, expect, it } from "vitest";
import { json, manage } from "./helpers";
import { eventsOf } from "./support/events";
import { mockProjectToken, newTag, proxy, upstreamSaw } from "./support/proxy";

// Issue 10, item 1: one canonical path. A client's percent-encoding of an endpoint's name must not let it
// pass the allowlist under one name and be reserved, tapped or forwarded under another. Every check below
// is made from outside, with a token in hand, the way an attacker would.

type Live = { allowance: { tokens: { used: number; reserved: number }; open_reservations: number } };
const live = async (id: string) => json<Live>(await manage(`/tokens/${id}`));

const ENCODINGS = [
  "/chat/completion%73",
  "/chat/%63ompletions",
  "/%63%68%61%74/%63%6F%6D%70%6C%65%74%69%6F%6E%73",
  "/chat/completion%73?x=1",
];

describe("one canonical path (issue 10, item 1)", () => {
  it("every encoding of an endpoint is reserved, tapped, forwarded and logged as its canonical path", async () => {
    const runs = await Promise.all(
      ENCODINGS.map(async (path) => {
        const { token } = await mockProjectToken({ max_tokens: 1_000_000 });
        const tag = newTag();
        const res = await proxy(path, {
          token: token.token,
          headers: { "x-mock-tag": tag },
          json: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 50 },
        });
        expect(res.status, path).toBe(200);
        return { path, token, tag, id: res.headers.get("x-request-id")! };
      }),
    );
    const events = await eventsOf(runs.map((r) => r.id));
    for (const { path, token, tag, id } of runs) {
      const seen = await upstreamSaw(tag);
      expect(seen, path).toHaveLength(1);
      // The upstream gets the canonical path, whatever the client encoded (the query is kept as sent).
      expect(seen[0]!.url.split("?")[0], path).toBe("/v1/chat/completions");
      // The usage tap ran (the answer's usage reached the token's ledger); the event names the canonical path.
      const event = events.get(id)!;
      expect(event.path, path).toBe("/v1/chat/completions");
      expect(event.usage_source, path).toBe("upstream");
      expect((await live(token.id)).allowance.tokens.used, path).toBe(event.usage!.total_tokens);
    }
  }, 30_000);

  it("an encoded endpoint name is reserved against the budget: a hold past it is refused, nothing forwarded", async () => {
    // Before: `completion%73` passed the (decoded) allowlist but reserved nothing (raw path not matched).
    const { token } = await mockProjectToken({ max_tokens: 100 });
    const tag = newTag();
    const res = await proxy("/chat/completion%73", {
      token: token.token,
      headers: { "x-mock-tag": tag },
      json: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 10_000 },
    });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("quota_exceeded");
    expect(await upstreamSaw(tag)).toHaveLength(0);
    expect((await live(token.id)).allowance.open_reservations).toBe(0);
  });

  it("an encoded endpoint name is checked against allowed models like the plain one", async () => {
    const { token } = await mockProjectToken({ allowed_models: ["gpt-4o-mini"] });
    const tag = newTag();
    for (const path of ENCODINGS) {
      const res = await proxy(path, {
        token: token.token,
        headers: { "x-mock-tag": tag },
        json: { model: "gpt-4o", messages: [{ role: "user", content: "hi" }] },
      });
      expect(res.status).toBe(403);
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("encodings that would decode into another path are refused before anything is read", async () => {
    const { token } = await mockProjectToken();
    const tag = newTag();
    for (const path of [
      "/chat%2fcompletions",
      "/chat%2Fcompletions",
      "/chat/completions%2f..%2f..%2fmanage",
      "/chat/completion%2573",
      "/chat/completions%00",
      "/chat%5ccompletions",
      "/chat//completions",
      "/chat/completions/",
    ]) {
      const res = await proxy(path, {
        token: token.token,
        headers: { "x-mock-tag": tag },
        json: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
      });
      expect(res.status, path).toBe(404);
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("an id segment is forwarded decoded once and re-encoded the one canonical way", async () => {
    const { token } = await mockProjectToken();
    const tag = newTag();
    // A model id: any token may read one (a file id would be the token's own object first, test/ownership).
    const res = await proxy("/models/gpt%2D4o%7E%3A%20x", {
      token: token.token,
      headers: { "x-mock-tag": tag },
    });
    expect(res.status).toBe(200);
    const [seen] = await upstreamSaw(tag);
    expect(seen!.url).toBe("/v1/models/gpt-4o~:%20x");
  });
});
