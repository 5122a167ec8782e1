import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { describe, expect, it, vi } from "vitest";
import { BASE, json, manage } from "./helpers";
import { mockProjectToken, newTag, proxy, sleep, upstreamSaw, workerFetch } from "./support/proxy";

vi.setConfig({ testTimeout: 60_000 });

type ErrorJson = { error: { code: string; message: string } };
type Signer = { kid: string; alg: "RS256" | "ES256"; privateKey: CryptoKey; jwk: JWK };

async function signer(alg: "RS256" | "ES256", kid = crypto.randomUUID()): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** Publishes a key set on the mock (the loopback "identity provider"); returns its URL. */
async function publish(name: string, keys: Signer[]): Promise<string> {
  const url = `${env.MOCK_UPSTREAM_URL}/__mock/jwks/${name}`;
  await fetch(url, { method: "PUT", body: JSON.stringify({ keys: keys.map((k) => k.jwk) }) });
  return url;
}

async function jwksHits(name: string): Promise<number> {
  return (await (await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/jwks/${name}/hits`)).json<{ hits: number }>())
    .hits;
}

type Claims = { iss: string; aud: string | string[]; sub: string; exp?: number; nbf?: number };

async function jwt(s: Signer, claims: Claims, extra: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...extra })
    .setProtectedHeader({ alg: s.alg, kid: s.kid, typ: "JWT" })
    .setIssuer(claims.iss)
    .setAudience(claims.aud)
    .setSubject(claims.sub)
    .setIssuedAt(now)
    .setExpirationTime(claims.exp ?? now + 3600)
    .setNotBefore(claims.nbf ?? now - 5)
    .sign(s.privateKey);
}

async function hsJwt(secret: string, claims: Claims, alg = "HS256"): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg })
    .setIssuer(claims.iss)
    .setAudience(claims.aud)
    .setSubject(claims.sub)
    .setExpirationTime(claims.exp ?? now + 3600)
    .sign(new TextEncoder().encode(secret));
}

const b64url = (v: string | Uint8Array) =>
  btoa(typeof v === "string" ? v : String.fromCharCode(...v))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 5 };

async function useKey(key: string, tag?: string): Promise<Response> {
  const res = await proxy("/chat/completions", {
    token: key,
    json: chat,
    headers: tag ? { "x-mock-tag": tag } : {},
  });
  return res;
}

async function provider(body: Record<string, unknown>) {
  const res = await manage("/identity-providers", { method: "POST", body });
  if (res.status !== 201) throw new Error(`provider: ${res.status} ${await res.text()}`);
  return json<{ id: string; updated_at: string }>(res);
}

/** A project with a JWKS provider (RS256 and ES256 keys), JWTs usable directly, 5 requests per user. */
async function jwksSetup(
  extra: Record<string, unknown> = {},
  userLimits: Record<string, unknown> = { max_requests: 5 },
) {
  const { project } = await mockProjectToken();
  const rs = await signer("RS256");
  const es = await signer("ES256");
  const name = `idp-${crypto.randomUUID()}`;
  const issuer = `https://${name}.example.com/`;
  const audience = `aud-${name}`;
  const jwks_url = await publish(name, [rs, es]);
  const p = await provider({
    project_id: project.id,
    name: "test idp",
    issuer,
    audience,
    jwks_url,
    allow_direct: true,
    user_limits: userLimits,
    ...extra,
  });
  return { project, provider: p, rs, es, name, issuer, audience, jwks_url };
}

async function exchange(token: string, body: unknown = {}, headers: Record<string, string> = {}) {
  return workerFetch(`${BASE}/issue/exchange`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

describe("JWTs of a trusted identity provider", () => {
  it("used directly as the API key: verified once, then no key-set fetch on the warm path", async () => {
    const s = await jwksSetup({}, { max_requests: 1000 });
    const token = await jwt(s.rs, { iss: s.issuer, aud: s.audience, sub: "alice" });
    const tag = newTag();
    const first = await useKey(token, tag);
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    const hits = await jwksHits(s.name);
    expect(hits).toBe(1);
    for (let i = 0; i < 20; i++) {
      const r = await useKey(token, tag);
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    // Another JWT signed by a known key (an ES256 one): no fetch either, the key set is cached.
    const other = await useKey(await jwt(s.es, { iss: s.issuer, aud: s.audience, sub: "bob" }), tag);
    expect(other.status).toBe(200);
    await other.arrayBuffer();
    expect(await jwksHits(s.name)).toBe(hits);
    // The upstream saw the project's key, never the JWT.
    const seen = await upstreamSaw(tag);
    expect(seen).toHaveLength(22);
    expect(JSON.stringify(seen)).not.toContain(token);
  });

  it("refuses a wrong issuer, audience, algorithm, none, HS/RS confusion, expiry, nbf, tampering and unknown keys", async () => {
    const s = await jwksSetup();
    const good = { iss: s.issuer, aud: s.audience, sub: "mallory" };
    const now = Math.floor(Date.now() / 1000);
    const stranger = await signer("RS256", s.rs.kid); // same kid, a key the provider never published
    const valid = await jwt(s.rs, good);
    const [h, p] = valid.split(".") as [string, string, string];
    const tamperedPayload = b64url(JSON.stringify({ ...good, sub: "admin", exp: now + 3600 }));
    const unsigned = `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${p}.`;
    // HS256 "signed" with the RSA public key as the secret: the classic confusion attack.
    const confusion = await hsJwt(JSON.stringify(s.rs.jwk), good);
    const cases: [string, string, string][] = [
      ["wrong issuer", await jwt(s.rs, { ...good, iss: "https://evil.example.com/" }), "invalid_token"],
      ["wrong audience", await jwt(s.rs, { ...good, aud: "another-app" }), "invalid_token"],
      ["alg none", unsigned, "invalid_token"],
      ["HS256 with the public key", confusion, "invalid_token"],
      ["expired", await jwt(s.rs, { ...good, exp: now - 10 }), "token_expired"],
      ["not yet valid", await jwt(s.rs, { ...good, nbf: now + 600 }), "invalid_token"],
      ["tampered payload", `${h}.${tamperedPayload}.${valid.split(".")[2]}`, "invalid_token"],
      ["signed by an unpublished key", await jwt(stranger, good), "invalid_token"],
      ["unknown kid", await jwt(await signer("ES256"), good), "invalid_token"],
      [
        "no subject",
        await new SignJWT({})
          .setProtectedHeader({ alg: "RS256", kid: s.rs.kid })
          .setIssuer(s.issuer)
          .setAudience(s.audience)
          .setExpirationTime(now + 60)
          .sign(s.rs.privateKey),
        "invalid_token",
      ],
      ["garbage", "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", "invalid_token"],
    ];
    for (const [what, token, code] of cases) {
      const res = await useKey(token);
      expect(res.status, what).toBe(401);
      expect((await json<ErrorJson>(res)).error.code, what).toBe(code);
      expect(res.headers.get("x-should-retry"), what).toBe("false");
      const ex = await exchange(token);
      expect(ex.status, `exchange: ${what}`).toBe(401);
    }
    // The valid one still works.
    expect((await useKey(valid)).status).toBe(200);
  });

  it("follows key rotation: a new key is found at once, a removed key stops once the set is refreshed", async () => {
    const s = await jwksSetup({ jwks_cache_seconds: 1 }, { max_requests: 100 });
    const old = await jwt(s.rs, { iss: s.issuer, aud: s.audience, sub: "carol" });
    expect((await useKey(old)).status).toBe(200);
    // The provider rotates: a new RS256 key in, the old one out.
    const next = await signer("RS256");
    await publish(s.name, [next, s.es]);
    await sleep(1_100);
    const fresh = await jwt(next, { iss: s.issuer, aud: s.audience, sub: "carol" });
    expect((await useKey(fresh)).status).toBe(200);
    // The old key's JWTs — new ones, and the one verified before — are refused now.
    const again = await jwt(s.rs, { iss: s.issuer, aud: s.audience, sub: "carol" });
    const r1 = await useKey(again);
    expect(r1.status).toBe(401);
    expect((await json<ErrorJson>(r1)).error.message).toContain("does not publish");
    expect((await useKey(old)).status).toBe(401);
  });

  it("a JWT never outlives its exp, even when verified and cached", async () => {
    const s = await jwksSetup({}, { max_requests: 100 });
    const exp = Math.floor(Date.now() / 1000) + 2;
    const short = await jwt(s.rs, { iss: s.issuer, aud: s.audience, sub: "dave", exp });
    expect((await useKey(short)).status).toBe(200);
    await sleep(exp * 1000 - Date.now() + 50);
    const res = await useKey(short);
    expect(res.status).toBe(401);
    expect((await json<ErrorJson>(res)).error.code).toBe("token_expired");
  });

  it("one user's limits hold across several tokens, JWTs and browser tabs, exactly, under concurrency", async () => {
    const s = await jwksSetup({ max_active_tokens_per_user: 5 }, { max_requests: 12 });
    // Three tabs: each its own fresh JWT for the same user; two of them exchanged for tokens.
    const jwts = await Promise.all(
      [s.rs, s.es, s.rs].map((k) => jwt(k, { iss: s.issuer, aud: s.audience, sub: "erin" })),
    );
    const tokens: string[] = [];
    for (const j of jwts.slice(0, 2)) {
      const ex = await exchange(j);
      expect(ex.status).toBe(201);
      const body = await json<{ token: string; expires_at: string; end_user_id: string; user_id: string }>(
        ex,
      );
      expect(body.token).toMatch(/^wt_[0-9A-Za-z]{91}$/);
      tokens.push(body.token);
    }
    const keys = [...jwts, ...tokens];
    const tag = newTag();
    const responses = await Promise.all(
      Array.from({ length: 60 }, (_, i) => useKey(keys[i % keys.length] as string, tag)),
    );
    expect(responses.filter((r) => r.status === 200)).toHaveLength(12);
    const refused = responses.filter((r) => r.status === 429);
    expect(refused).toHaveLength(48);
    expect((await json<ErrorJson>(refused[0] as Response)).error.code).toBe("quota_exceeded");
    await Promise.all(responses.map((r) => r.arrayBuffer().catch(() => undefined)));
    expect(await upstreamSaw(tag)).toHaveLength(12);
    // Another user of the same project has their own 12.
    const frank = await jwt(s.rs, { iss: s.issuer, aud: s.audience, sub: "frank" });
    expect((await useKey(frank)).status).toBe(200);
    // The operator sees the user and their live counters.
    const users = await json<{ data: { id: string; subject: string }[] }>(
      await manage(`/users?project_id=${s.project.id}`),
    );
    const erin = users.data.find((u) => u.subject === "erin");
    const detail = await json<{ allowance: { requests: { used: number; remaining: number } } }>(
      await manage(`/users/${erin?.id}`),
    );
    expect(detail.allowance.requests).toEqual({ used: 12, remaining: 0 });
  });

  it("revoking the user, deactivating or deleting the project stops JWTs and exchanged tokens at once", async () => {
    const s = await jwksSetup({}, { max_requests: 100 });
    const j = await jwt(s.rs, { iss: s.issuer, aud: s.audience, sub: "gina" });
    const t = (await json<{ token: string; user_id: string }>(await exchange(j))) as {
      token: string;
      user_id: string;
    };
    expect((await useKey(j)).status).toBe(200);
    expect((await useKey(t.token)).status).toBe(200);
    expect(
      (await manage(`/users/${t.user_id}`, { method: "PATCH", body: { is_active: false } })).status,
    ).toBe(200);
    for (const key of [j, t.token]) {
      const res = await useKey(key);
      expect(res.status).toBe(401);
      expect((await json<ErrorJson>(res)).error.code).toBe("token_inactive");
    }
    expect((await exchange(j)).status).toBe(401);
    await manage(`/users/${t.user_id}`, { method: "PATCH", body: { is_active: true } });
    expect((await useKey(j)).status).toBe(200);

    await manage(`/projects/${s.project.id}`, { method: "PATCH", body: { is_active: false } });
    for (const key of [j, t.token]) expect((await useKey(key)).status).toBe(403);
    await manage(`/projects/${s.project.id}`, { method: "PATCH", body: { is_active: true } });
    expect((await useKey(j)).status).toBe(200);

    expect((await manage(`/projects/${s.project.id}`, { method: "DELETE" })).status).toBe(204);
    // Objects heard of the deletion as "project deactivated" (told before the row goes): 403, or 401 once reloaded.
    for (const key of [j, t.token]) expect([401, 403]).toContain((await useKey(key)).status);
  });

  it("a changed provider is seen at once: direct use switched off, then its secret replaced", async () => {
    const { project } = await mockProjectToken();
    const secret = "a-shared-secret-of-at-least-32-characters!";
    const issuer = `https://hs-${crypto.randomUUID()}.example.com`;
    const p = await provider({
      project_id: project.id,
      name: "hs",
      issuer,
      audience: "my-app",
      hs256_secret: secret,
      allow_direct: true,
      user_limits: { max_requests: 100 },
    });
    const claims = { iss: issuer, aud: "my-app", sub: "hank" };
    const j = await hsJwt(secret, claims);
    expect((await useKey(j)).status).toBe(200);
    // An RS256 JWT is refused by an HS256 provider; a JWT signed with another secret as well.
    expect((await useKey(await jwt(await signer("RS256"), claims))).status).toBe(401);
    expect((await useKey(await hsJwt("another-secret-another-secret-another", claims))).status).toBe(401);
    expect((await useKey(await hsJwt(secret, claims, "HS512"))).status).toBe(401);

    await manage(`/identity-providers/${p.id}`, { method: "PATCH", body: { allow_direct: false } });
    const off = await useKey(j);
    expect(off.status).toBe(401);
    expect((await json<ErrorJson>(off)).error.message).toContain("exchange");
    // Exchange still works with the same JWT.
    const ex = await exchange(j);
    expect(ex.status).toBe(201);
    const { token } = await json<{ token: string }>(ex);
    expect((await useKey(token)).status).toBe(200);

    await manage(`/identity-providers/${p.id}`, {
      method: "PATCH",
      body: { allow_direct: true, hs256_secret: "a-completely-new-secret-of-32-chars-or-more" },
    });
    // The JWT verified under the old secret is verified again, and refused.
    expect((await useKey(j)).status).toBe(401);
    expect((await useKey(await hsJwt("a-completely-new-secret-of-32-chars-or-more", claims))).status).toBe(
      200,
    );
  });

  it("exchange: durations within the provider's ceiling, CORS for browsers, one audience per issuer", async () => {
    const s = await jwksSetup({ max_token_duration_minutes: 120, allow_direct: false });
    const j = await jwt(s.rs, { iss: s.issuer, aud: s.audience, sub: "ivy" });
    expect((await useKey(j)).status).toBe(401);
    const over = await exchange(j, { duration_minutes: 121 });
    expect(over.status).toBe(403);
    expect((await json<ErrorJson>(over)).error.code).toBe("ceiling_exceeded");
    const ok = await exchange(j, { duration_minutes: 120, name: "tab 1" }, { origin: "https://app.example" });
    expect(ok.status).toBe(201);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const body = await json<{ expires_at: string; issued_by: string; end_user_id: string }>(ok);
    expect(Date.parse(body.expires_at) - Date.now()).toBeGreaterThan(119 * 60_000);
    expect(body.issued_by).toBe(`identity:${s.provider.id}`);
    const preflight = await workerFetch(`${BASE}/issue/exchange`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization",
      },
    });
    expect(preflight.status).toBe(204);
    // The same issuer and audience cannot be trusted twice.
    const dup = await manage("/identity-providers", {
      method: "POST",
      body: {
        project_id: s.project.id,
        name: "dup",
        issuer: s.issuer,
        audience: s.audience,
        jwks_url: s.jwks_url,
      },
    });
    expect(dup.status).toBe(409);
    // A withering token is not a JWT for the exchange.
    const { token } = await mockProjectToken();
    expect((await exchange(token.token)).status).toBe(401);
  });

  it("validates providers: one kind of key, matching algorithms, https key sets, long secrets", async () => {
    const { project } = await mockProjectToken();
    const base = { project_id: project.id, name: "p", issuer: "https://x.example", audience: "a" };
    const bad = [
      { ...base },
      { ...base, jwks_url: "https://x.example/jwks", hs256_secret: "s".repeat(40) },
      { ...base, jwks_url: "http://x.example/jwks" },
      { ...base, jwks_url: "https://x.example/jwks", algorithms: ["HS256"] },
      { ...base, hs256_secret: "s".repeat(40), algorithms: ["RS256"] },
      { ...base, hs256_secret: "too-short" },
    ];
    for (const body of bad)
      expect((await manage("/identity-providers", { method: "POST", body })).status).toBe(400);
    const created = await json<Record<string, unknown>>(
      await manage("/identity-providers", {
        method: "POST",
        body: { ...base, hs256_secret: "s".repeat(40) },
      }),
    );
    expect(JSON.stringify(created)).not.toContain("s".repeat(40));
    expect(created.kind).toBe("secret");
  });
});

describe("usage of JWTs used directly", () => {
  it("counts in the project's usage (no token), never as a rejection", async () => {
    const { rollupDelta } = await import("../src/usage/rollup-delta");
    const base = {
      id: "r1",
      timestamp: "2026-11-28T10:00:00.000Z",
      token_id: null,
      user_id: "u1",
      project_id: "p1",
      method: "POST",
      path: "/v1/chat/completions",
      status: 200,
      duration_ms: 10,
      ttfb_ms: 5,
      stream: false,
      model: "gpt-4o-mini",
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      usage_source: "upstream" as const,
      cost_usd: 0.001,
      error: null,
      aborted: false,
      upstream_request_id: null,
      colo: null,
      user_agent: null,
    };
    const delta = rollupDelta([{ event: base, at: Date.parse(base.timestamp) }]);
    expect(delta.rejections).toEqual([]);
    expect(delta.usage).toHaveLength(1);
    expect(delta.usage[0]?.slice(1, 5)).toEqual(["p1", "", "gpt-4o-mini", 1]);
  });
});
