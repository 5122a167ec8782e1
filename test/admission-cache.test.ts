import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { admitToken, forgetObjects } from "../src/tokens/admission-cache";
import { hashToken } from "../src/tokens/secret";
import { json, manage } from "./helpers";
import { eventually, mockProjectToken, proxy } from "./support/proxy";
import { withTokenStubs } from "./support/token-stubs";

const objectOf = async (secret: string) => env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(secret)));

describe("admission of tokens with nothing to count", () => {
  it("reuses the object's answer in the isolate, and still counts every request", async () => {
    const { token } = await mockProjectToken();
    for (let i = 0; i < 5; i++) expect((await proxy("/models", { token: token.token })).status).toBe(200);
    // Only the first request asked the object; the other four were admitted by the isolate.
    expect((await (await objectOf(token.token)).state()).requests).toBe(1);
    // Live counters include what the isolate admitted on its own.
    const live = await json<{ request_count: number }>(await manage(`/tokens/${token.id}`));
    expect(live.request_count).toBe(5);
  });

  it("reports the isolate's count to the object when traffic stops", async () => {
    const { token } = await mockProjectToken();
    for (let i = 0; i < 3; i++) await proxy("/models", { token: token.token });
    const stub = await objectOf(token.token);
    await eventually(async () => (await stub.state()).requests === 3, 3000);
  });

  it("applies a revocation to the very next request", async () => {
    const { token } = await mockProjectToken();
    expect((await proxy("/models", { token: token.token })).status).toBe(200);
    expect((await proxy("/models", { token: token.token })).status).toBe(200);
    await manage(`/tokens/${token.id}`, { method: "DELETE" });
    const res = await proxy("/models", { token: token.token });
    expect([res.status, (await json<{ error: { code: string } }>(res)).error.code]).toEqual([
      401,
      "token_inactive",
    ]);
  });

  it("applies a project change and a new limit to the very next request", async () => {
    const { project, token } = await mockProjectToken();
    await proxy("/models", { token: token.token });
    await manage(`/projects/${project.id}`, { method: "PATCH", body: { is_active: false } });
    expect((await proxy("/models", { token: token.token })).status).toBe(403);
    await manage(`/projects/${project.id}`, { method: "PATCH", body: { is_active: true } });
    expect((await proxy("/models", { token: token.token })).status).toBe(200);
    await manage(`/tokens/${token.id}`, { method: "PATCH", body: { max_requests: 2 } });
    // Two requests served so far: the new limit refuses the next one.
    expect((await proxy("/models", { token: token.token })).status).toBe(429);
  });

  it("checks models, origins and expiry on reused answers too", async () => {
    const { token } = await mockProjectToken(
      { allowed_models: ["gpt-4o"] },
      { allowed_origins: ["https://a.example"] },
    );
    const chat = (model: string, origin = "https://a.example") =>
      proxy("/chat/completions", { token: token.token, headers: { origin }, json: { model, messages: [] } });
    expect((await chat("gpt-4o")).status).toBe(200);
    expect((await chat("gpt-5")).status).toBe(403);
    expect((await chat("gpt-4o", "https://b.example")).status).toBe(403);
  });

  it("asks the object every time with ADMISSION_CACHE_MS=0", async () => {
    const { token } = await mockProjectToken();
    const strict = { ...env, ADMISSION_CACHE_MS: "0" };
    for (let i = 0; i < 3; i++) {
      const ctx = createExecutionContext();
      const req = new Request("http://gateway.test/v1/models", {
        headers: { authorization: `Bearer ${token.token}` },
      });
      const res = await worker.fetch(req, strict, ctx);
      expect(res.status).toBe(200);
      await res.text();
      await waitOnExecutionContext(ctx);
    }
    expect((await (await objectOf(token.token)).state()).requests).toBe(3);
  });

  it("never reuses an answer to a call that was in flight when a management change forgot the token", async () => {
    // The object may answer from the old configuration just before the change reaches it, and that answer
    // may arrive after the isolate forgot the token: it serves its own request, but is not remembered.
    const { token } = await mockProjectToken();
    const key = await hashToken(token.token);
    const ctx = createExecutionContext();
    const inFlight = admitToken(env, ctx, key, {});
    expect(inFlight).toBeInstanceOf(Promise); // a cold isolate asks the object
    forgetObjects([key]); // what revoking (or any change) does in this isolate, while the answer is on its way
    expect((await inFlight).ok).toBe(true);
    const next = admitToken(env, ctx, key, {});
    expect(next).toBeInstanceOf(Promise); // asked the object again, not served from the stale answer
    expect((await next).ok).toBe(true);
    // An answer to a call made after the change is reused as usual.
    expect(admitToken(env, ctx, key, {})).not.toBeInstanceOf(Promise);
    await waitOnExecutionContext(ctx);
  });

  it("still counts what the isolate admitted when a management change forgets the entry", async () => {
    const { token } = await mockProjectToken();
    for (let i = 0; i < 4; i++) expect((await proxy("/models", { token: token.token })).status).toBe(200);
    // A change to the token (here: its name) makes this isolate forget the reused admission at once.
    await manage(`/tokens/${token.id}`, { method: "PATCH", body: { name: "renamed" } });
    const stub = await objectOf(token.token);
    await eventually(async () => (await stub.state()).requests === 4, 5000);
  });

  it("keeps the count when reporting it to the object fails, and reports it on a retry", async () => {
    const { token } = await mockProjectToken();
    const hash = await hashToken(token.token);
    // Fault injection on the real namespace: the first two countServed calls fail as a broken connection
    // would; everything else reaches the real object.
    let failures = 2;
    const faulty = withTokenStubs(env, (_stub, name) => {
      if (name !== "countServed" || failures <= 0) return undefined;
      failures--;
      return () => Promise.reject(new Error("injected: connection lost"));
    });
    const ctx = createExecutionContext();
    for (let i = 0; i < 4; i++) {
      const req = new Request("http://gateway.test/v1/models", {
        headers: { authorization: `Bearer ${token.token}` },
      });
      const res = await worker.fetch(req, faulty, ctx);
      expect(res.status).toBe(200);
      await res.text();
    }
    // The flush after the entry lapses fails twice, then its retry reports all three reused admissions.
    await waitOnExecutionContext(ctx);
    expect(failures).toBe(0);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(hash));
    expect((await stub.state()).requests).toBe(4);
  });
});
