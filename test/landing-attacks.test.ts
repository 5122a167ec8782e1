import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { deleteProvider } from "../src/issuing/identity/service";
import { userObjectKey } from "../src/issuing/identity/user-config";
import { removeProject } from "../src/projects/service";
import { UpstreamAbort } from "../src/proxy/send";
import type { Admission, AdmitInput, Credential } from "../src/tokens/admission";
import { admitToken, tokenObject } from "../src/tokens/admission-cache";
import { allowanceHeaders } from "../src/tokens/allowance";
import { reloadTokenObjects, revokeTokenObjects } from "../src/tokens/notify";
import { hashToken } from "../src/tokens/secret";
import { batcherFor } from "../src/usage/batcher";
import { BASE, json, manage } from "./helpers";
import { eventsOf } from "./support/events";
import { eventually, mockProjectToken, proxy, sleep } from "./support/proxy";
import { mockName, mockSaw, routedProject } from "./support/routing";
import { callReal, withTokenStubs } from "./support/token-stubs";

// Attacks on the changes of issue 17's second round and the split (reused admissions, the synchronous usage
// path, the flag-driven UpstreamAbort, identity changes through the relay tree, the forget epoch), each
// holding a token, a JWT or an issuing key and trying to make it do more than it was given.

type Sent = { res: Response; body: string; ctx: ExecutionContext };

/** One request through this module graph's worker (its isolate caches are the ones the test imports). */
async function send(
  path: string,
  token: string,
  init: { json?: unknown; headers?: Record<string, string>; env?: Env } = {},
): Promise<Sent> {
  const ctx = createExecutionContext();
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...init.headers };
  if (init.json !== undefined) headers["content-type"] = "application/json";
  const req = new Request(`${BASE}/v1${path}`, {
    method: init.json === undefined ? "GET" : "POST",
    headers,
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });
  const res = await worker.fetch(req, init.env ?? env, ctx);
  return { res, body: await res.text(), ctx };
}

const chat = (model = "gpt-4o-mini", extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: "user", content: "hi" }],
  max_tokens: 5,
  ...extra,
});

const codeOf = (body: string) => (JSON.parse(body) as { error?: { code: string } }).error?.code;

/** The admission the isolate holds for a token with nothing to count (synchronous when it holds one). */
function held(key: string, input: AdmitInput = {}): Admission {
  const ctx = createExecutionContext();
  const a = admitToken(env, ctx, key, input);
  if (a instanceof Promise) throw new Error("the isolate holds no admission for this token");
  return a;
}

/**
 * The real D1 binding, paused once: `before` runs (and is awaited) just before the first statement, or
 * batch, whose SQL matches `match` executes. What a concurrent request does between two of a management
 * call's statements, made deterministic.
 */
function pausedBefore(db: D1Database, match: RegExp, before: () => Promise<void>): D1Database {
  let fired = false;
  const fire = async () => {
    if (fired) return;
    fired = true;
    await before();
  };
  const realOf = new WeakMap<object, D1PreparedStatement>();
  const marked = new WeakSet<object>();
  const wrap = (stmt: D1PreparedStatement, hit: boolean): D1PreparedStatement => {
    const wrapped = new Proxy(stmt, {
      get(target, prop) {
        if (prop === "bind") return (...values: unknown[]) => wrap(target.bind(...values), hit);
        const value: unknown = Reflect.get(target, prop);
        if (typeof value !== "function") return value;
        const method = value as (...args: unknown[]) => unknown;
        if (hit && (prop === "run" || prop === "all" || prop === "raw" || prop === "first"))
          return async (...args: unknown[]) => {
            await fire();
            return method.apply(target, args);
          };
        return method.bind(target);
      },
    });
    realOf.set(wrapped, stmt);
    if (hit) marked.add(wrapped);
    return wrapped;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrap(target.prepare(sql), match.test(sql));
      if (prop === "batch")
        return async (statements: D1PreparedStatement[]) => {
          if (statements.some((s) => marked.has(s))) await fire();
          return target.batch(statements.map((s) => realOf.get(s) ?? s));
        };
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe("reused admissions (one Admitted per isolate entry)", () => {
  it("every request from a reused entry is still checked for origin and model, and nothing a request does changes the shared answer", async () => {
    const { token } = await mockProjectToken(
      { allowed_models: ["gpt-4o-mini"] },
      { allowed_origins: ["https://good.example"] },
    );
    const key = await hashToken(token.token);
    const good = { origin: "https://good.example" };
    /** Sends a request the isolate admits from its entry; asserts the entry's answer came out unchanged. */
    const fromEntry = async (path: string, init: Parameters<typeof send>[2]): Promise<Sent> => {
      const warming = admitToken(env, createExecutionContext(), key, {});
      if (warming instanceof Promise) await warming; // (re)fill the entry: ADMISSION_CACHE_MS is short
      const shared = held(key);
      expect(held(key)).toBe(shared); // one object, reused
      const before = JSON.stringify(shared);
      const sent = await send(path, token.token, init);
      expect(JSON.stringify(shared)).toBe(before);
      expect(shared.ok && (shared.cacheHit ?? false)).toBe(false);
      expect(shared.ok && shared.reservationId).toBeUndefined();
      expect(shared.ok && shared.userId).toBeUndefined();
      await waitOnExecutionContext(sent.ctx);
      return sent;
    };
    expect((await fromEntry("/chat/completions", { json: chat(), headers: good })).res.status).toBe(200);
    // Refusals from the reused entry: another origin, another model.
    const evil = await fromEntry("/chat/completions", {
      json: chat(),
      headers: { origin: "https://evil.example" },
    });
    expect([evil.res.status, codeOf(evil.body)]).toEqual([403, "origin_not_allowed"]);
    const model = await fromEntry("/chat/completions", { json: chat("gpt-4o"), headers: good });
    expect([model.res.status, codeOf(model.body)]).toEqual([403, "model_not_allowed"]);
    // Every other path a reused answer takes: a stream, an upstream error, a model listing, a cut stream.
    const stream = await fromEntry("/chat/completions", {
      json: chat("gpt-4o-mini", { stream: true }),
      headers: good,
    });
    expect(stream.res.status).toBe(200);
    const failing = await fromEntry("/chat/completions", {
      json: chat(),
      headers: { ...good, "x-mock-status": "500" },
    });
    expect(failing.res.status).toBe(500);
    expect((await fromEntry("/models", { headers: good })).res.status).toBe(200);
    const cut = await fromEntry("/chat/completions", {
      json: chat("gpt-4o-mini", { stream: true }),
      headers: { ...good, "x-mock-fail-after": "1" },
    });
    expect(cut.res.status).toBe(200);
  });

  it("a cache-hit claim never gets (or marks) the shared answer, and each token's headers are its own", async () => {
    const a = await mockProjectToken({ duration_minutes: 30 });
    const b = await mockProjectToken({ duration_minutes: 90 });
    const keyA = await hashToken(a.token.token);
    const keyB = await hashToken(b.token.token);
    const ra = await send("/models", a.token.token);
    const rb = await send("/models", b.token.token);
    const shared = held(keyA);
    // A forged claim (this project has no cache): admitted as a miss, in an answer of its own.
    const claimed = held(keyA, {
      cacheHit: { generation: 0, endpoint: "/chat/completions", storedAt: Date.now() },
    });
    expect(claimed).not.toBe(shared);
    expect(claimed.ok && claimed.cacheHit).toBeFalsy();
    expect(shared.ok && shared.cacheHit).toBeFalsy();
    // Headers cached per reused answer: each token still gets its own expiry.
    const expA = (await send("/models", a.token.token)).res.headers.get("x-llm-proxy-token-expires");
    const expB = (await send("/models", b.token.token)).res.headers.get("x-llm-proxy-token-expires");
    expect(expA).toBe(new Date(a.token.expires_at).toISOString());
    expect(expB).toBe(new Date(b.token.expires_at).toISOString());
    expect(held(keyB)).not.toBe(shared);
    // The cached headers are read-only to their users: a caller that wrote into them would leak.
    if (shared.ok) expect(Object.isFrozen(allowanceHeaders(shared))).toBe(true);
    await waitOnExecutionContext(ra.ctx);
    await waitOnExecutionContext(rb.ctx);
  });
});

describe("the synchronous usage path", () => {
  it("the request that opens the batcher's buffer keeps its context until the buffer is sent: no event left behind", async () => {
    const { token } = await mockProjectToken();
    const queue = batcherFor(env.USAGE_QUEUE);
    await eventually(async () => queue.pending === 0, 5_000);
    const sent = await send("/chat/completions", token.token, { json: chat() });
    expect(sent.res.status).toBe(200);
    await waitOnExecutionContext(sent.ctx);
    expect(queue.pending).toBe(0); // sent before the request's context ended
    const id = sent.res.headers.get("x-request-id")!;
    const events = await eventsOf([id]);
    expect(events.get(id)?.usage?.total_tokens).toBeGreaterThan(0);
  });

  it("a JWT used directly on a budget: its reservation is settled (never the synchronous path)", async () => {
    const { project } = await mockProjectToken();
    const secret = "a-shared-secret-of-at-least-32-characters!";
    const issuer = `https://budget-${crypto.randomUUID()}.example.com`;
    const created = await manage("/identity-providers", {
      method: "POST",
      body: {
        project_id: project.id,
        name: "budget",
        issuer,
        audience: "my-app",
        hs256_secret: secret,
        allow_direct: true,
        user_limits: { max_tokens: 100_000 },
      },
    });
    expect(created.status).toBe(201);
    const { SignJWT } = await import("jose");
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(issuer)
      .setAudience("my-app")
      .setSubject("settler")
      .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
      .sign(new TextEncoder().encode(secret));
    const sent = await send("/chat/completions", jwt, { json: chat() });
    expect(sent.res.status).toBe(200);
    await waitOnExecutionContext(sent.ctx);
    const user = tokenObject(env, await userObjectKey(project.id, issuer, "settler"));
    const state = await user.state();
    expect(state.openReservations).toBe(0);
    expect(state.ledger.tokensUsed).toBeGreaterThan(0);
  });
});

describe("UpstreamAbort without clearing its timer or listener", () => {
  it("a timer that fires after the head arrived aborts nothing; one per attempt, so a later attempt keeps its own", async () => {
    const first = new UpstreamAbort(undefined, 30);
    first.answered();
    const later = new UpstreamAbort(undefined, 10_000);
    await sleep(80);
    expect([first.controller.signal.aborted, first.reason]).toEqual([false, null]);
    expect(later.controller.signal.aborted).toBe(false);
    // Without a head, the timer still fires.
    const silent = new UpstreamAbort(undefined, 30);
    await sleep(80);
    expect([silent.controller.signal.aborted, silent.reason]).toEqual([true, "timeout"]);
  });

  it("a client leaving before release stops the upstream; after release (the event is being recorded) nothing changes", async () => {
    const client = new AbortController();
    const guarded = new UpstreamAbort(client.signal, 10_000);
    const released = new UpstreamAbort(client.signal, 10_000);
    released.release();
    client.abort();
    expect([guarded.controller.signal.aborted, guarded.reason]).toEqual([true, "client"]);
    expect([released.controller.signal.aborted, released.reason]).toEqual([false, null]);
  });

  it("a stream that lasts longer than the first-byte timeout is not cut by the timer", async () => {
    const { token } = await mockProjectToken();
    const quick = { ...env, UPSTREAM_TIMEOUT_MS: "150" };
    const sent = await send("/chat/completions", token.token, {
      json: chat("gpt-4o-mini", { stream: true, stream_options: { include_usage: true } }),
      headers: { "x-mock-chunks": "6", "x-mock-interval-ms": "60" },
      env: quick,
    });
    expect(sent.res.status).toBe(200);
    expect(sent.body).toContain("[DONE]");
    expect(sent.body).toContain('"total_tokens"');
    await waitOnExecutionContext(sent.ctx);
  });
});

describe("management changes racing the requests they change", () => {
  it("an isolate never reuses an answer the object gave while a revocation was on its way to it", async () => {
    const { token } = await mockProjectToken();
    const key = await hashToken(token.token);
    const ctx = createExecutionContext();
    // The push reaches the object only after a request of the same isolate was answered from the old
    // configuration — a call that began after the change forgot the token, so its epoch is current.
    const slowPush = withTokenStubs(env, (stub, name) =>
      name === "apply" || name === "reload"
        ? async (...args: unknown[]) => {
            const early = await admitToken(env, ctx, key, {});
            expect(early.ok).toBe(true); // the object has not heard yet
            return callReal(stub, name, args);
          }
        : undefined,
    );
    expect((await admitToken(env, ctx, key, {})).ok).toBe(true);
    await revokeTokenObjects(slowPush, [{ objectKey: key, configLoadedAt: Date.now() }]);
    // The management call returned: this isolate's very next request is refused.
    const next = await admitToken(env, ctx, key, {});
    expect(next.ok).toBe(false);

    // The same for a reload (a token's own change), on a fresh token.
    const other = await mockProjectToken();
    const otherKey = await hashToken(other.token.token);
    expect((await admitToken(env, ctx, otherKey, {})).ok).toBe(true);
    await env.DB.prepare("update tokens set is_active = 0, revoked_at = ? where id = ?")
      .bind(Date.now(), other.token.id)
      .run();
    const slowReload = withTokenStubs(env, (stub, name) =>
      name === "reload"
        ? async () => {
            expect((await admitToken(env, ctx, otherKey, {})).ok).toBe(true);
            return callReal(stub, name, []);
          }
        : undefined,
    );
    await reloadTokenObjects(slowReload, [{ objectKey: otherKey, firstUsedAt: Date.now() }]);
    expect((await admitToken(env, ctx, otherKey, {})).ok).toBe(false);
    await waitOnExecutionContext(ctx);
  });

  it("a user whose object reads a provider just before it is deleted is still told: the provider's JWTs stop", async () => {
    const { project } = await mockProjectToken();
    const issuer = `https://gone-${crypto.randomUUID()}.example.com`;
    const created = await manage("/identity-providers", {
      method: "POST",
      body: {
        project_id: project.id,
        name: "gone",
        issuer,
        audience: "my-app",
        hs256_secret: "a-shared-secret-of-at-least-32-characters!",
        allow_direct: true,
      },
    });
    expect(created.status).toBe(201);
    const { id } = await json<{ id: string }>(created);
    const row = await env.DB.prepare("select updated_at from identity_providers where id = ?")
      .bind(id)
      .first<{ updated_at: number }>();
    const credential: Credential = {
      kind: "jwt",
      providerId: id,
      providerVersion: row!.updated_at,
      subject: "late",
      expiresAt: Date.now() + 3_600_000,
    };
    const user = tokenObject(env, await userObjectKey(project.id, issuer, "late"));
    // The user's first request lands between the management call's list of live users and the deletion.
    const racing = {
      ...env,
      DB: pausedBefore(env.DB, /^delete from "identity_providers"/i, async () => {
        expect((await user.admit({ model: "gpt-4o-mini", credential })).ok).toBe(true);
      }),
    } as Env;
    await deleteProvider(racing, id);
    const after = await user.admit({ model: "gpt-4o-mini", credential });
    expect(after.ok).toBe(false);
  });

  it("a token whose object reads its project just before the project is deleted is still told: it stops", async () => {
    const { project, token } = await mockProjectToken();
    const key = await hashToken(token.token);
    const object = tokenObject(env, key);
    // The token's first request lands between the list of live tokens and the project's deactivation.
    const racing = {
      ...env,
      DB: pausedBefore(env.DB, /^update "projects" set/i, async () => {
        expect((await object.admit({})).ok).toBe(true);
      }),
    } as Env;
    await removeProject(racing, project.id);
    expect((await object.admit({})).ok).toBe(false);
  });
});

describe("what a routed request that got no answer is charged", () => {
  const BODY = JSON.stringify({
    model: "smart",
    messages: [{ role: "user", content: "Say something" }],
    max_tokens: 50,
    stream: true,
  });
  /** The token hold of BODY: its bytes plus its declared maximum output. */
  const HOLD = new TextEncoder().encode(BODY).length + 50;
  const post = (token: string, signal?: AbortSignal) =>
    proxy("/chat/completions", {
      token,
      body: BODY,
      headers: { "content-type": "application/json" },
      signal,
    });

  /** Waits until the token holds nothing; returns the tokens it was charged. */
  async function charged(tokenId: string): Promise<number> {
    type Live = { allowance: { tokens: { used: number; reserved: number } | null } };
    let used = -1;
    await eventually(async () => {
      const t = (await json<Live>(await manage(`/tokens/${tokenId}`))).allowance.tokens;
      used = t?.used ?? 0;
      return (t?.reserved ?? 0) === 0;
    }, 5_000);
    return used;
  }

  it("a stream whose head came before it broke was sent: charged its hold though a later attempt was refused", async () => {
    const a = mockName("a");
    const { token } = await routedProject(
      [
        { name: "a", mock: { name: a, reset: "head" } },
        { name: "b", base_url: `${env.DEAD_UPSTREAM_URL}/v1` },
      ],
      { max_tokens: HOLD },
    );
    const first = await post(token.token);
    expect(first.status).toBe(502);
    expect(await mockSaw(a)).toBe(1);
    // The upstream accepted the request (a 200 head): it may have done the work. Charged nothing, the
    // budget would admit the same again, and again.
    expect(await charged(token.id)).toBe(HOLD);
    const second = await post(token.token);
    expect(second.status).toBe(429);
  });

  it("the same when a later attempt's error answer is passed on as it is", async () => {
    const a = mockName("a");
    const b = mockName("b");
    const { token } = await routedProject(
      [
        { name: "a", mock: { name: a, reset: "head" } },
        { name: "b", mock: { name: b, status: 503 } },
      ],
      { max_tokens: HOLD },
    );
    const first = await post(token.token);
    expect(first.status).toBe(503);
    expect(await charged(token.id)).toBe(HOLD);
    expect((await post(token.token)).status).toBe(429);
    expect(await mockSaw(a)).toBe(1);
  });

  it("a client already gone when the first attempt would start: nothing is sent, nothing charged", async () => {
    const a = mockName("a");
    const { token } = await routedProject([{ name: "a", mock: { name: a } }], { max_tokens: HOLD });
    // Gone while the gateway read its body and admitted it: its signal's abort event has fired already.
    const client = new AbortController();
    client.abort();
    const req = new Request(`${BASE}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token.token}`, "content-type": "application/json" },
      body: BODY,
      signal: client.signal,
    });
    const ctx = createExecutionContext();
    const res = await worker.fetch(req, env, ctx);
    await res.text();
    await waitOnExecutionContext(ctx);
    expect(await mockSaw(a)).toBe(0); // the upstream never did the request for nobody
    expect(await charged(token.id)).toBe(0);
  });

  it("a client that leaves while the gateway waits to retry an error answer is charged nothing: nothing was in flight", async () => {
    const a = mockName("a");
    const { token } = await routedProject([{ name: "a", mock: { name: a, status: 503 } }], {
      max_tokens: HOLD,
    });
    const client = new AbortController();
    const pending = post(token.token, client.signal).catch((err: unknown) => err);
    await eventually(async () => (await mockSaw(a)) === 1, 5_000);
    await sleep(30); // the 503 is in; the backoff before the next attempt is at least 100 ms
    client.abort();
    await pending;
    expect(await charged(token.id)).toBe(0);
    await sleep(400);
    expect(await mockSaw(a)).toBe(1); // no attempt after the client left
  });
});
