import { env } from "cloudflare:workers";
import { toFile } from "openai";
import { describe, expect, it, vi } from "vitest";
import { projectWith } from "./support/objects";
import { mockProjectToken, newTag, proxy, upstreamSaw } from "./support/proxy";

// An attacker's review of the response cache (docs/cache.md): a token of a cache-enabled project tries to
// poison an entry another token of the project will be served, or to get an answer it may not have.
vi.setConfig({ testTimeout: 30_000 });

const CACHE = { ttl_seconds: 600 };
const messages = [{ role: "user", content: "What is a withering token?" }];

async function ask(token: string, body: string | unknown, headers: Record<string, string> = {}) {
  const res = await proxy("/chat/completions", {
    token,
    ...(typeof body === "string" ? { body } : { json: body }),
    headers: { "content-type": "application/json", ...headers },
  });
  const text = await res.text();
  return { status: res.status, cache: res.headers.get("x-llm-proxy-cache"), text };
}

describe("poisoning a key", () => {
  // Hole: the canonical body was built in plain objects, where assigning a member named `__proto__` sets the
  // prototype instead of adding a member: the key left it out at any depth, while the upstream received it.
  // A token could store the answer to a question with an extra `__proto__` member (a schema property, a
  // metadata entry, a message field) under the key of the question without it, for the next token to get.
  it("a member named __proto__ is part of the key, at the top and at any depth", async () => {
    const { token } = await mockProjectToken({}, { cache: CACHE });
    const tag = newTag();
    const h = { "x-mock-tag": tag };
    const plain = JSON.stringify({ model: "gpt-4o-mini", messages });
    const schema = (props: string) =>
      `{"model":"gpt-4o-mini","messages":${JSON.stringify(messages)},"response_format":{"type":"json_schema",` +
      `"json_schema":{"name":"a","schema":{"type":"object","properties":{${props}}}}}}`;
    const poisoned = [
      plain.replace('{"model"', '{"__proto__":{"x":1},"model"'),
      plain.replace('"role":"user"', '"__proto__":{"name":"mallory"},"role":"user"'),
    ];
    for (const body of poisoned) expect((await ask(token.token, body, h)).cache).toBe("miss");
    expect((await ask(token.token, plain, h)).cache).toBe("miss");
    expect((await ask(token.token, schema('"__proto__":{"type":"string"},"a":{}'), h)).cache).toBe("miss");
    expect((await ask(token.token, schema('"a":{}'), h)).cache).toBe("miss");
    expect(await upstreamSaw(tag)).toHaveLength(5);
    // What went upstream still carries the member the key now holds.
    const [first] = await upstreamSaw(tag);
    expect(first!.bodyText).toContain('"__proto__":{"x":1}');
  });

  // Hole: the Anthropic provider passes the client's `anthropic-version` and `anthropic-beta` headers to
  // Claude (docs/providers.md) — they change the answer (a beta feature, another API version) — but the key
  // held only OpenAI's account headers: one token's beta answer was served to the next token without it.
  it("headers that reach a Claude upstream and change its answer are part of the key", async () => {
    const { token } = await mockProjectToken(
      {},
      { provider: "anthropic", base_url: `${env.MOCK_UPSTREAM_URL}/v1`, cache: CACHE },
    );
    const tag = newTag();
    const body = { model: "claude-haiku-4-5", messages };
    const asked: Record<string, string>[] = [
      { "anthropic-beta": "context-1m-2025-08-07" },
      { "anthropic-version": "2023-01-01" },
      {},
      { "anthropic-beta": "context-1m-2025-08-07" },
    ];
    const seen: (string | null)[] = [];
    for (const headers of asked)
      seen.push((await ask(token.token, body, { ...headers, "x-mock-tag": tag })).cache);
    expect(seen).toEqual(["miss", "miss", "miss", "hit"]);
    expect(await upstreamSaw(tag)).toHaveLength(3);
  });
});

describe("the cache is no way around ownership", () => {
  it("another token of the project gets no hit for a body naming an object it does not own; nor the owner once it is gone", async () => {
    const p = await projectWith(2, { capabilities: ["files"], cache: CACHE });
    const [owner, other] = p.tokens;
    const file = await p.sdks[0]!.files.create({
      file: await toFile(new TextEncoder().encode("notes"), "notes.txt"),
      purpose: "user_data",
    });
    const body = {
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: [{ type: "file", file: { file_id: file.id } }] }],
    };
    expect((await ask(owner!.token, body)).cache).toBe("miss");
    expect((await ask(owner!.token, body)).cache).toBe("hit");
    const theirs = await ask(other!.token, body);
    expect([theirs.status, theirs.cache]).toEqual([404, null]);
    expect(theirs.text).toContain("object_not_found");
    await p.sdks[0]!.files.delete(file.id);
    // The record is forgotten off the client's path.
    for (let i = 0; i < 50; i++) {
      if ((await ask(owner!.token, body)).status === 404) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await ask(owner!.token, body)).status).toBe(404);
  });
});

describe("a project's upstream changes", () => {
  // Hole: a key holds the upstream route, but a hit claimed before admission was computed from the isolate's
  // hint of the project's *previous* route, and admission checked only the generation: after an operator
  // moved a project to another upstream (base URL, provider or its settings), each token's next request in
  // each warm isolate was still served the old upstream's answer. A claim now carries the routing-table version
  // its key was made with, and admission refuses an older one.
  it("the next request after a change of upstream settings is never answered from the old upstream's entry", async () => {
    const { project, token } = await mockProjectToken({}, { cache: CACHE });
    const tag = newTag();
    const body = { model: "gpt-4o-mini", messages };
    const h = { "x-mock-tag": tag };
    expect((await ask(token.token, body, h)).cache).toBe("miss");
    expect((await ask(token.token, body, h)).cache).toBe("hit");
    const { manage } = await import("./helpers");
    const res = await manage(`/projects/${project.id}`, {
      method: "PATCH",
      body: { provider_settings: { organization: "org-other" } },
    });
    expect(res.status).toBe(200);
    expect((await ask(token.token, body, h)).cache).toBe("miss");
    expect((await upstreamSaw(tag)).at(-1)!.headers["openai-organization"]).toBe("org-other");
    expect((await ask(token.token, body, h)).cache).toBe("hit");
  });
});
