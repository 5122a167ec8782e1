import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { generateTokenSecret } from "../src/tokens/secret";
import { createToken, manage } from "./helpers";
import { mockProjectToken, newTag, proxy, UPSTREAM_KEY, upstreamSaw } from "./support/proxy";

type ErrorJson = { error: { message: string; type: string; param: string | null; code: string } };

describe("proxy: forwarding", () => {
  it("forwards a chat completion with the project's key and the client's other headers", async () => {
    const { token, project } = await mockProjectToken();
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
    expect(all).not.toContain(token.id);
    expect(all).not.toContain(project.id);
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

const json = async (res: Response) => ((await res.json()) as ErrorJson).error;

describe("proxy: gateway errors", () => {
  it("answers every refusal in OpenAI's envelope with x-request-id and the documented status and code", async () => {
    const { token, project } = await mockProjectToken({ allowed_models: ["gpt-4o-mini"] });
    const cases: [string, Response, number, string][] = [
      ["no token", await proxy("/models"), 401, "invalid_token"],
      ["garbage", await proxy("/models", { token: "sk-not-ours" }), 401, "invalid_token"],
      ["unknown", await proxy("/models", { token: await generateTokenSecret(env) }), 401, "token_not_found"],
      [
        "model",
        await proxy("/chat/completions", { token: token.token, json: { model: "gpt-5", messages: [] } }),
        403,
        "model_not_allowed",
      ],
      ["path", await proxy("/fine_tuning/jobs", { token: token.token }), 404, "endpoint_not_found"],
      [
        "method",
        await proxy("/embeddings", { token: token.token, method: "GET" }),
        405,
        "method_not_allowed",
      ],
    ];
    for (const [name, res, status, code] of cases) {
      expect([name, res.status]).toEqual([name, status]);
      const error = await json(res);
      expect([name, error.code]).toEqual([name, code]);
      expect(error.message.length).toBeGreaterThan(5);
      expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get("x-should-retry")).toBe("false");
    }
    expect(cases[5]![1].headers.get("allow")).toBe("POST, OPTIONS");

    await manage(`/tokens/${token.id}`, { method: "DELETE" });
    const revoked = await proxy("/models", { token: token.token });
    expect([revoked.status, (await json(revoked)).code]).toEqual([401, "token_inactive"]);

    const other = await createToken(project.id);
    await manage(`/projects/${project.id}`, { method: "PATCH", body: { is_active: false } });
    const off = await proxy("/models", { token: other.token });
    expect([off.status, (await json(off)).code]).toEqual([403, "project_inactive"]);
  });

  it("refuses an expired token with token_expired", async () => {
    const { token } = await mockProjectToken();
    await env.DB.prepare("update tokens set expires_at = ? where id = ?")
      .bind(Date.now() - 1000, token.id)
      .run();
    await manage(`/tokens/${token.id}`, { method: "PATCH", body: { name: "touch" } });
    const res = await proxy("/models", { token: token.token });
    expect(res.status).toBe(401);
    expect((await json(res)).code).toBe("token_expired");
  });

  it("answers quota_exceeded with x-should-retry: false once max_requests is used", async () => {
    const { token } = await mockProjectToken({ max_requests: 2 });
    const a = await proxy("/models", { token: token.token });
    expect(a.headers.get("x-llm-proxy-requests-remaining")).toBe("1");
    await a.text();
    await (await proxy("/models", { token: token.token })).text();
    const res = await proxy("/models", { token: token.token });
    expect(res.status).toBe(429);
    expect((await json(res)).code).toBe("quota_exceeded");
    expect(res.headers.get("x-should-retry")).toBe("false");
  });

  it("refuses a JSON body over MAX_JSON_BODY_BYTES with 413, from content-length or while counting", async () => {
    const { token } = await mockProjectToken();
    const tag = newTag();
    const big = JSON.stringify({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "x".repeat(2048) }],
    });
    const req = new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: {
        authorization: `Bearer ${token.token}`,
        "content-type": "application/json",
        "x-mock-tag": tag,
      },
      body: big,
    });
    const small = { ...env, MAX_JSON_BODY_BYTES: "1024" };
    const res = await worker.fetch(req, small, createExecutionContext());
    expect(res.status).toBe(413);
    expect((await json(res)).code).toBe("request_too_large");

    const bytes = new TextEncoder().encode(big);
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 100) c.enqueue(bytes.slice(i, i + 100));
        c.close();
      },
    });
    const streamed = new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: {
        authorization: `Bearer ${token.token}`,
        "content-type": "application/json",
        "x-mock-tag": tag,
      },
      body: chunked,
    });
    const res2 = await worker.fetch(streamed, small, createExecutionContext());
    expect(res2.status).toBe(413);
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("makes a doubled /v1 a clear 404 naming the fix", async () => {
    const { token } = await mockProjectToken();
    const res = await proxy("/v1/chat/completions", { token: token.token, json: { model: "m" } });
    expect(res.status).toBe(404);
    expect((await json(res)).message).toContain("base URL");
  });
});

describe("proxy: configuration and credentials", () => {
  it("forwards only what PROXY_ALLOWLIST lists when it is set", async () => {
    const { token } = await mockProjectToken();
    // An operator's own inference endpoint (fine-tuning is a project capability now: src/ownership/).
    const custom = { ...env, PROXY_ALLOWLIST: JSON.stringify(["GET models", "POST rerank"]) };
    const call = (path: string, method = "GET") =>
      worker.fetch(
        new Request(`http://gateway.test/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${token.token}`, "content-type": "application/json" },
          body: method === "POST" ? "{}" : undefined,
        }),
        custom,
        createExecutionContext(),
      );
    expect((await call("/models")).status).toBe(200);
    expect((await call("/rerank", "POST")).status).toBe(200);
    expect((await call("/chat/completions", "POST")).status).toBe(404);
  });

  it("accepts the token as api-key or x-api-key, and neither reaches the upstream", async () => {
    const { token } = await mockProjectToken();
    for (const header of ["api-key", "x-api-key"]) {
      const tag = newTag();
      const res = await proxy("/models", { headers: { [header]: token.token, "x-mock-tag": tag } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      const [seen] = await upstreamSaw(tag);
      expect(JSON.stringify(seen)).not.toContain(token.token);
      expect(seen?.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    }
  });
});

describe("proxy: path tricks", () => {
  it("never lets a trick reach the upstream or the management API", async () => {
    const { token } = await mockProjectToken();
    const tag = newTag();
    const tricks = [
      "/v1/%2e%2e/manage/projects",
      "/v1/files%2f..%2f..%2fmanage%2fprojects",
      "/v1/files%5c..%5cmanage",
      "/v1//manage/projects",
      "/v1/models/..%2f..%2fmanage",
      "/v1/models/%252e%252e/x",
      "/v1/models/a%00b",
      "/v1/models/../../manage/projects",
      "/v1/models/..\\..\\manage",
    ];
    for (const path of tricks) {
      const res = await exports.default.fetch(
        new Request(`http://gateway.test${path}`, {
          headers: { authorization: `Bearer ${token.token}`, "x-mock-tag": tag },
        }),
      );
      const body = await res.text();
      // A normalising URL parser may turn the path into /manage/…: the withering token is no management token.
      expect([path, res.status]).toEqual([path, expect.toBeOneOf([401, 404])]);
      expect(body).not.toContain('"data"');
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });
});

describe("proxy: CORS", () => {
  it("answers a preflight without auth", async () => {
    const res = await exports.default.fetch(
      new Request("http://gateway.test/v1/chat/completions", {
        method: "OPTIONS",
        headers: {
          origin: "https://app.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type",
        },
      }),
    );
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(res.headers.get("access-control-allow-headers")).toBe("authorization, content-type");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
  });

  it("allows any origin by default, refuses others per project, and puts CORS headers on errors", async () => {
    const open = await mockProjectToken();
    const res = await proxy("/models", {
      token: open.token.token,
      headers: { origin: "https://any.example" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://any.example");
    expect(res.headers.get("access-control-expose-headers")).toContain("x-request-id");

    const closed = await mockProjectToken({}, { allowed_origins: ["https://app.example"] });
    const ok = await proxy("/models", {
      token: closed.token.token,
      headers: { origin: "https://app.example" },
    });
    expect(ok.status).toBe(200);
    const refused = await proxy("/models", {
      token: closed.token.token,
      headers: { origin: "https://evil.example" },
    });
    expect(refused.status).toBe(403);
    expect((await json(refused)).code).toBe("origin_not_allowed");
    expect(refused.headers.get("access-control-allow-origin")).toBe("https://evil.example");

    const unauth = await proxy("/models", { headers: { origin: "https://any.example" } });
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get("access-control-allow-origin")).toBe("https://any.example");
  });
});

describe("proxy: limits through the proxy", () => {
  it("lets exactly max_requests of 200 concurrent requests reach the upstream", async () => {
    const { token } = await mockProjectToken({ max_requests: 50 });
    const tag = newTag();
    const results = await Promise.all(
      Array.from({ length: 200 }, () =>
        proxy("/models", { token: token.token, headers: { "x-mock-tag": tag } }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        }),
      ),
    );
    expect(results.filter((s) => s === 200)).toHaveLength(50);
    expect(results.filter((s) => s === 429)).toHaveLength(150);
    expect(await upstreamSaw(tag)).toHaveLength(50);
  });

  it("stops a token mid-traffic on the very next request after revocation", async () => {
    const { token } = await mockProjectToken();
    const tag = newTag();
    for (let i = 0; i < 5; i++) {
      const r = await proxy("/models", { token: token.token, headers: { "x-mock-tag": tag } });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    expect((await manage(`/tokens/${token.id}`, { method: "DELETE" })).status).toBe(204);
    const after = await proxy("/models", { token: token.token, headers: { "x-mock-tag": tag } });
    expect(after.status).toBe(401);
    expect((await json(after)).code).toBe("token_inactive");
    expect(await upstreamSaw(tag)).toHaveLength(5);
  });
});
