import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import OpenAI, { toFile } from "openai";
import { describe, expect, it, vi } from "vitest";
import { CAPABILITIES } from "../src/ownership/capabilities";
import { BASE, call, json, manage } from "./helpers";
import { sdkFor } from "./support/objects";
import { mockProjectToken, newTag, proxy, upstreamSaw, workerFetch } from "./support/proxy";

// Issue 16: whatever issued a credential — a parent token (a child), an issuing key, an identity provider
// (a token exchanged for a JWT, or the JWT itself) — it does only what it was given. Each credential below
// was given one model; each is attacked on every way the gateway reaches a model (JSON, other content types,
// multipart, Anthropic's Messages and count_tokens, Gemini's path, GET /v1/models) and on the account-wide
// endpoints its project never enabled. Nothing refused may reach the upstream.

vi.setConfig({ testTimeout: 60_000 });

type ErrorJson = { error: { code: string | number; message: string; details?: { reason?: string }[] } };
type Cred = { kind: string; secret: string };

const SECRET = "a-shared-secret-of-at-least-32-characters!!";

function hsJwt(issuer: string, sub: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(issuer)
    .setAudience("scope-app")
    .setSubject(sub)
    .setExpirationTime(now + 3600)
    .sign(new TextEncoder().encode(SECRET));
}

function issue(path: string, secret: string, body: unknown): Promise<Response> {
  return workerFetch(`${BASE}/issue${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function created<T>(res: Response, what: string): Promise<T> {
  if (res.status !== 201) throw new Error(`${what}: ${res.status} ${await res.text()}`);
  return json<T>(res);
}

/**
 * A project on the mock upstream and four credentials of it, each given `model` only (and a budget, so
 * that what cannot be priced is refused too): a child of a parent allowed every model, a token made by an
 * issuing key whose ceilings name the model, a token exchanged for a JWT, and the JWT used directly.
 */
async function credentials(project: Record<string, unknown>, model: string, userLimits?: object) {
  const { project: p, token: parent } = await mockProjectToken({ max_cost_usd: 10, can_mint: true }, project);
  const [child] = (
    await created<{ data: { token: string }[] }>(
      await issue("/children", parent.token, { max_cost_usd: 1, allowed_models: [model] }),
      "mint",
    )
  ).data;
  const key = await created<{ key: string }>(
    await manage("/issuing-keys", {
      method: "POST",
      body: { project_id: p.id, name: "backend", ceilings: { allowed_models: [model], max_cost_usd: 1 } },
    }),
    "issuing key",
  );
  const issued = await created<{ token: string; allowed_models: string[] }>(
    await call("/manage/tokens", {
      method: "POST",
      body: {},
      headers: { authorization: `Bearer ${key.key}` },
    }),
    "issued",
  );
  expect(issued.allowed_models).toEqual([model]);
  const issuer = `https://scope-${crypto.randomUUID()}.example.com`;
  await created(
    await manage("/identity-providers", {
      method: "POST",
      body: {
        project_id: p.id,
        name: "scope idp",
        issuer,
        audience: "scope-app",
        hs256_secret: SECRET,
        allow_direct: true,
        user_limits: userLimits ?? { allowed_models: [model], max_cost_usd: 1 },
      },
    }),
    "identity provider",
  );
  const jwt = await hsJwt(issuer, `user-${crypto.randomUUID()}`);
  const exchanged = await created<{ token: string }>(await issue("/exchange", jwt, {}), "exchange");
  const creds: Cred[] = [
    { kind: "child token", secret: (child as { token: string }).token },
    { kind: "issuing key's token", secret: issued.token },
    { kind: "exchanged token", secret: exchanged.token },
    { kind: "JWT used directly", secret: jwt },
  ];
  return { project: p, parent, creds, issuer };
}

/** Expects a refusal with one of `codes` and nothing at the upstream. */
async function refused(res: Response, tag: string, what: string, status: number, codes: string[]) {
  const body = await res.text();
  expect(res.status, `${what}: ${body}`).toBe(status);
  // OpenAI's and Anthropic's envelopes name the code; Gemini's carries it as the reason of its details.
  const error = (JSON.parse(body) as ErrorJson).error;
  const code = typeof error.code === "string" ? error.code : error.details?.[0]?.reason;
  expect(codes, `${what}: ${body}`).toContain(code);
  expect(await upstreamSaw(tag), what).toEqual([]);
}

const chat = (model: string) => ({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 5 });

describe("issued credentials do only what they were given", () => {
  it("OpenAI endpoints: other models by JSON, other content types and multipart; the model list; account-wide endpoints", async () => {
    const { creds } = await credentials({}, "gpt-4o-mini");
    for (const { kind, secret } of creds) {
      const ok = await proxy("/chat/completions", { token: secret, json: chat("gpt-4o-mini") });
      expect(ok.status, `${kind}: its own model`).toBe(200);

      let tag = newTag();
      const other = await proxy("/chat/completions", {
        token: secret,
        json: chat("gpt-4o"),
        headers: { "x-mock-tag": tag },
      });
      await refused(other, tag, `${kind}: another model`, 403, ["model_not_allowed"]);

      // The same body sent as text/plain (an upstream might parse it anyway): never forwarded unread.
      tag = newTag();
      const plain = await proxy("/chat/completions", {
        token: secret,
        body: JSON.stringify(chat("gpt-4o")),
        headers: { "content-type": "text/plain", "x-mock-tag": tag },
      });
      expect(plain.status, `${kind}: text/plain`).toBeGreaterThanOrEqual(400);
      expect(plain.status, `${kind}: text/plain`).toBeLessThan(500);
      expect(await upstreamSaw(tag), `${kind}: text/plain`).toEqual([]);

      // A multipart upload naming another model.
      tag = newTag();
      const sdk = new OpenAI({
        apiKey: secret,
        baseURL: `${BASE}/v1`,
        maxRetries: 0,
        defaultHeaders: { "x-mock-tag": tag },
        fetch: (input, init) => workerFetch(input as RequestInfo, init as RequestInit),
      });
      const audio = await sdk.audio.transcriptions
        .create({ model: "whisper-1", file: await toFile(new Uint8Array(2_000), "a.wav") })
        .then(
          () => 200,
          (err: unknown) => (err instanceof OpenAI.APIError ? err.status : 0),
        );
      expect(audio, `${kind}: multipart with another model`).toBe(403);
      expect(await upstreamSaw(tag)).toEqual([]);

      // GET /v1/models lists what it may use, nothing else.
      const list = await proxy("/models", { token: secret });
      expect(list.status, `${kind}: models`).toBe(200);
      const ids = (await json<{ data: { id: string }[] }>(list)).data.map((m) => m.id);
      expect(ids, `${kind}: models`).toEqual(["gpt-4o-mini"]);

      // Account-wide endpoints the project never enabled: refused before anything is counted or sent.
      for (const [method, path] of [
        ["GET", "/files"],
        ["POST", "/batches"],
        ["GET", "/vector_stores"],
      ] as const) {
        tag = newTag();
        const res = await proxy(path, {
          token: secret,
          method,
          ...(method === "POST" ? { json: { input_file_id: "file-x" } } : {}),
          headers: { "x-mock-tag": tag },
        });
        await refused(res, tag, `${kind}: ${method} ${path}`, 404, ["endpoint_not_found"]);
      }
    }
  });

  it("Anthropic's Messages and count_tokens: another model is refused for every kind of credential", async () => {
    const model = "claude-sonnet-4-5-20250929";
    const { creds } = await credentials({ provider: "anthropic" }, model);
    const headers = { "anthropic-version": "2023-06-01" };
    const msg = (m: string) => ({ model: m, max_tokens: 5, messages: [{ role: "user", content: "hi" }] });
    for (const { kind, secret } of creds) {
      const ok = await proxy("/messages", { token: secret, json: msg(model), headers });
      expect(ok.status, `${kind}: its own model`).toBe(200);
      for (const path of ["/messages", "/messages/count_tokens"]) {
        const tag = newTag();
        const res = await proxy(path, {
          token: secret,
          json: msg("claude-opus-4-1"),
          headers: { ...headers, "x-mock-tag": tag },
        });
        await refused(res, tag, `${kind}: ${path} with another model`, 403, ["model_not_allowed"]);
      }
    }
  });

  it("Gemini's path names the model: generateContent and countTokens of another model are refused", async () => {
    const model = "gemini-2.5-flash";
    const { creds } = await credentials(
      { provider: "gemini", base_url: `${env.MOCK_UPSTREAM_URL}/v1beta` },
      model,
    );
    const body = { contents: [{ parts: [{ text: "hi" }] }] };
    for (const { kind, secret } of creds) {
      const call = (m: string, action: string, tag = newTag()) =>
        workerFetch(`${BASE}/v1beta/models/${m}:${action}`, {
          method: "POST",
          headers: { "x-goog-api-key": secret, "content-type": "application/json", "x-mock-tag": tag },
          body: JSON.stringify(body),
        });
      expect((await call(model, "generateContent")).status, `${kind}: its own model`).toBe(200);
      for (const action of ["generateContent", "countTokens", "streamGenerateContent"]) {
        const tag = newTag();
        const res = await call("gemini-2.5-pro", action, tag);
        await refused(res, tag, `${kind}: ${action} of another model`, 403, ["model_not_allowed"]);
      }
    }
  });

  it("a JWT's user owns its upstream objects apart from other users (and children from their parent)", async () => {
    const { creds, parent } = await credentials({ capabilities: [...CAPABILITIES] }, "gpt-4o-mini", {
      max_requests: 100,
    });
    const jwtA = creds.find((c) => c.kind === "JWT used directly")!.secret;
    const child = creds.find((c) => c.kind === "child token")!.secret;
    const [, payload] = jwtA.split(".") as [string, string];
    const { iss } = JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/"))) as { iss: string };
    const jwtB = await hsJwt(iss, "another-user");
    const line = new TextEncoder().encode(
      '{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{}}\n',
    );
    const file = await sdkFor(jwtA).files.create({ file: await toFile(line, "in.jsonl"), purpose: "batch" });
    expect((await sdkFor(jwtA).files.retrieve(file.id)).id).toBe(file.id);
    for (const [who, secret] of [
      ["another user's JWT", jwtB],
      ["the parent token", parent.token],
      ["a child token", child],
    ] as const) {
      const res = await proxy(`/files/${file.id}`, { token: secret });
      expect(res.status, who).toBe(404);
    }
  });
});
