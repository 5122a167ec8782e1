import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { describe, expect, it, vi } from "vitest";
import { toNanos } from "../src/limits/budget";
import { hashToken } from "../src/tokens/secret";
import { BASE, createProject, createToken, json, manage } from "./helpers";
import { mockProjectToken, proxy, workerFetch } from "./support/proxy";

// Issue 16, attacked: children never exceed their parent, even when many are minted and spend at once;
// rotated (routed) secrets cannot be re-routed; JWTs that try to bring their own key, confuse key ids or
// name two projects are refused.

vi.setConfig({ testTimeout: 120_000 });

type ErrorJson = { error: { code: string; message: string; param: string | null } };
type Child = { id: string; token: string; rate_limit: { requests: number; window_seconds: number }[] | null };

function issue(path: string, secret: string, body: unknown): Promise<Response> {
  return workerFetch(`${BASE}/issue${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

const stubOf = async (secret: string) => env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(secret)));

describe("child tokens under attack", () => {
  it("40 mints racing for a $30 parent while the first children already spend: never more than $30", async () => {
    const project = await createProject();
    const parent = await createToken(project.id, { max_cost_usd: 30, can_mint: true });
    const spent: number[] = [];
    // Each mint asks for one $1 child; each child, as soon as it exists, fires 4 requests at once holding
    // $0.3 each and really costing $0.3 (3 fit in $1).
    const results = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const res = await issue("/children", parent.token, { max_cost_usd: 1 });
        if (res.status !== 201) return res.status;
        const [child] = (await json<{ data: Child[] }>(res)).data;
        const stub = await stubOf((child as Child).token);
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            const r = await stub.admit({ model: "gpt-4o-mini", reserve: { tokens: 10, costUsd: 0.3 } });
            if (!r.ok) return;
            await stub.settle(r.reservationId as string, { totalTokens: 10, costUsd: 0.3 });
            spent.push(toNanos(0.3));
          }),
        );
        return 201;
      }),
    );
    expect(results.filter((s) => s === 201)).toHaveLength(30);
    expect(results.filter((s) => s === 429)).toHaveLength(10);
    expect(spent).toHaveLength(30 * 3);
    expect(spent.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(toNanos(30));
    // Nothing is left for the parent itself, nor for another child.
    const own = await (await stubOf(parent.token)).admit({
      model: "gpt-4o-mini",
      reserve: { tokens: 1, costUsd: 0.0001 },
    });
    expect(!own.ok && own.code).toBe("quota_exceeded");
    expect((await issue("/children", parent.token, { max_cost_usd: 0.01 })).status).toBe(429);
  });

  it("inherits its parent's rate windows, and can only tighten them", async () => {
    const project = await createProject();
    const parent = await createToken(project.id, {
      max_requests: 100,
      can_mint: true,
      rate_limit: [{ requests: 5, window_seconds: 60 }],
    });
    const inherited = await issue("/children", parent.token, { max_requests: 10 });
    expect(inherited.status).toBe(201);
    expect((await json<{ data: Child[] }>(inherited)).data[0]?.rate_limit).toEqual([
      { requests: 5, window_seconds: 60 },
    ]);
    for (const looser of [
      [{ requests: 6, window_seconds: 60 }],
      [{ requests: 5, window_seconds: 30 }],
      [{ requests: 1, window_seconds: 1 }],
    ]) {
      const res = await issue("/children", parent.token, { max_requests: 10, rate_limit: looser });
      expect(res.status, JSON.stringify(looser)).toBe(403);
      expect((await json<ErrorJson>(res)).error.param).toBe("rate_limit");
    }
    const tighter = await issue("/children", parent.token, {
      max_requests: 10,
      rate_limit: [{ requests: 2, window_seconds: 3600 }],
    });
    expect(tighter.status).toBe(201);
  });

  it("a parent with budgets per period cannot mint: escrow would not bound its children by the period", async () => {
    const project = await createProject();
    const parent = await createToken(project.id, {
      max_cost_usd: 30,
      can_mint: true,
      period_budgets: [{ period: "day", max_cost_usd: 5 }],
    });
    const res = await issue("/children", parent.token, { max_cost_usd: 1 });
    expect(res.status).toBe(403);
    expect((await json<ErrorJson>(res)).error.message).toContain("per period");
    expect(
      (await manage(`/tokens?project_id=${project.id}`).then((r) => json<{ data: unknown[] }>(r))).data,
    ).toHaveLength(1);
  });
});

describe("routed secrets", () => {
  it("a rotated secret's route is covered by its signature: pointing it at another object is refused", async () => {
    const { token: a } = await mockProjectToken();
    const { token: b } = await mockProjectToken();
    const rotated = await json<{ token: string }>(
      await manage(`/tokens/${a.id}/rotate`, { method: "POST", body: { grace_seconds: 0 } }),
    );
    expect(rotated.token).toHaveLength(94);
    const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] };
    expect((await proxy("/chat/completions", { token: rotated.token, json: chat })).status).toBe(200);
    // The route (characters 35 … 77) re-encoded to name b's object; the MAC kept.
    const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let n = BigInt(`0x${await hashToken(b.token)}`);
    let route = "";
    for (let i = 0; i < 43; i++) {
      route = ALPHABET[Number(n % 62n)] + route;
      n /= 62n;
    }
    const forged = `${rotated.token.slice(0, 35)}${route}${rotated.token.slice(78)}`;
    expect(forged).toHaveLength(94);
    expect(forged).not.toBe(rotated.token);
    const res = await proxy("/chat/completions", { token: forged, json: chat });
    expect(res.status).toBe(401);
    expect((await json<ErrorJson>(res)).error.code).toBe("invalid_token");
    // b is untouched: its object never heard of the forged secret.
    expect((await json<{ request_count: number }>(await manage(`/tokens/${b.id}`))).request_count).toBe(0);
  });
});

type Signer = { kid: string; alg: "RS256" | "ES256"; privateKey: CryptoKey; jwk: JWK };

async function signer(alg: "RS256" | "ES256", kid = crypto.randomUUID()): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

async function publish(name: string, keys: Signer[]): Promise<string> {
  const url = `${env.MOCK_UPSTREAM_URL}/__mock/jwks/${name}`;
  await fetch(url, { method: "PUT", body: JSON.stringify({ keys: keys.map((k) => k.jwk) }) });
  return url;
}

type Claims = { iss: string; aud: string | string[]; sub: string };

function signed(s: Signer, claims: Claims, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: s.alg, kid: s.kid, typ: "JWT", ...header })
    .setIssuer(claims.iss)
    .setAudience(claims.aud)
    .setSubject(claims.sub)
    .setExpirationTime(now + 3600)
    .sign(s.privateKey);
}

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

/** An RS256 JWT signed by hand, whatever its header says (jose refuses to sign an unknown `crit`). */
async function rawRs256(s: Signer, header: Record<string, unknown>, claims: Claims): Promise<string> {
  const enc = new TextEncoder();
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(enc.encode(JSON.stringify({ alg: "RS256", kid: s.kid, ...header })));
  const body = b64url(enc.encode(JSON.stringify({ ...claims, exp: now + 3600 })));
  const sig = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", s.privateKey, enc.encode(`${head}.${body}`));
  return `${head}.${body}.${b64url(new Uint8Array(sig))}`;
}

describe("JWT attacks beyond the basics", () => {
  it("refuses embedded keys (jwk, jku, x5u), kid confusion across algorithms, unknown crit headers and two projects' audiences", async () => {
    const { project } = await mockProjectToken();
    const { project: other } = await mockProjectToken();
    const rs = await signer("RS256");
    const es = await signer("ES256");
    const name = `atk-${crypto.randomUUID()}`;
    const issuer = `https://${name}.example.com/`;
    const jwks_url = await publish(name, [rs, es]);
    for (const [p, audience] of [
      [project, "app-a"],
      [other, "app-b"],
    ] as const) {
      const res = await manage("/identity-providers", {
        method: "POST",
        body: {
          project_id: p.id,
          name: "idp",
          issuer,
          audience,
          jwks_url,
          allow_direct: true,
          user_limits: { max_requests: 50 },
        },
      });
      expect(res.status).toBe(201);
    }
    const good = { iss: issuer, aud: "app-a", sub: "mallory" };
    const attacker = await signer("RS256");
    const attackerSet = await publish(`evil-${name}`, [attacker]);
    const cases: [string, string][] = [
      // The attacker's own key, carried in the header: jose never trusts it (local key set only).
      ["embedded jwk", await signed(attacker, good, { jwk: attacker.jwk })],
      ["jku to the attacker's key set", await signed(attacker, good, { jku: attackerSet })],
      ["x5u to the attacker", await signed(attacker, good, { x5u: attackerSet })],
      // The attacker's key under the kid of a published key, for both algorithms.
      ["attacker key, published RS kid", await signed({ ...attacker, kid: rs.kid }, good)],
      // A real key of the provider, presented under the other key's id.
      ["RS key under the ES kid", await signed({ ...rs, kid: es.kid }, good)],
      ["ES key under the RS kid", await signed({ ...es, kid: rs.kid }, good)],
      ["unknown critical header", await rawRs256(rs, { crit: ["x-evil"], "x-evil": true }, good)],
      ["both projects' audiences", await signed(rs, { ...good, aud: ["app-a", "app-b"] })],
    ];
    const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] };
    for (const [what, jwt] of cases) {
      const res = await proxy("/chat/completions", { token: jwt, json: chat });
      expect(res.status, what).toBe(401);
      expect((await json<ErrorJson>(res)).error.code, what).toBe("invalid_token");
    }
    // The hand-signed JWT is otherwise genuine: without the critical header it is accepted.
    expect(
      (await proxy("/chat/completions", { token: await rawRs256(rs, {}, good), json: chat })).status,
    ).toBe(200);
    // The genuine JWTs work, each in its own project only.
    expect((await proxy("/chat/completions", { token: await signed(rs, good), json: chat })).status).toBe(
      200,
    );
    expect(
      (await proxy("/chat/completions", { token: await signed(es, { ...good, aud: "app-b" }), json: chat }))
        .status,
    ).toBe(200);
  });
});
