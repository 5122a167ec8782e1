import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { reserveFor } from "../src/limits/reserve";
import { TokenLog } from "../src/limits/token-log";
import type { Admission } from "../src/tokens/admission";
import type { TokenState } from "../src/tokens/durable";
import { hashToken } from "../src/tokens/secret";
import { createProject, createToken, json, manage } from "./helpers";
import { mockProjectToken, newTag, proxy, upstreamSaw } from "./support/proxy";

vi.setConfig({ testTimeout: 60_000 });

async function stubOf(secret: string) {
  return env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(secret)));
}

const ok = (rs: Admission[]) => rs.filter((r) => r.ok);

describe("token log running sums", () => {
  it("agrees with a naive sum over random adds, settles, removals, trims and window spans", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    const stub = await stubOf(token.token);
    await runInDurableObject(stub, (_i: TokenState, state) => {
      state.storage.sql.exec("drop table if exists token_log");
      const log = new TokenLog(state.storage.sql);
      const naive = new Map<string, { at: number; tokens: number }>();
      let now = 1_000_000;
      let seed = 7;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      for (let step = 0; step < 3000; step++) {
        now += rand(2_000);
        const op = rand(10);
        const ids = [...naive.keys()];
        if (op < 5) {
          const id = `r${step}`;
          const tokens = rand(1000);
          log.add(id, now, tokens);
          naive.set(id, { at: now, tokens });
        } else if (op < 8 && ids.length) {
          const id = ids[rand(ids.length)] as string;
          const tokens = rand(1000);
          log.settle(id, tokens);
          (naive.get(id) as { tokens: number }).tokens = tokens;
        } else if (op < 9 && ids.length) {
          const id = ids[rand(ids.length)] as string;
          log.remove(id);
          naive.delete(id);
        }
        log.trim(now, 120_000);
        for (const [id, e] of naive) if (e.at <= now - 120_000) naive.delete(id);
        for (const span of [1_000, 60_000, 120_000]) {
          let expected = 0;
          for (const e of naive.values()) if (e.at > now - span) expected += e.tokens;
          expect(log.used(span, now), `step ${step} span ${span}`).toBe(expected);
        }
      }
    });
  });
});

describe("tokens per minute", () => {
  it("admits exactly what fits 10 000 tokens per minute under 100 concurrent requests, then settles and renews", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { token_rate_limit: { tokens: 10_000, window_seconds: 60 } });
    const stub = await stubOf(token.token);
    expect((await stub.admit({})).ok).toBe(true); // loads the object
    const t0 = Date.now();
    let now = t0;
    await runInDurableObject(stub, (instance: TokenState) => {
      instance.clock = () => now;
    });
    const first = await Promise.all(
      Array.from({ length: 100 }, () => stub.admit({ reserve: { tokens: 500, costUsd: null } })),
    );
    const admitted = ok(first);
    expect(admitted).toHaveLength(20);
    for (const r of first) {
      if (r.ok) continue;
      expect(r.code).toBe("rate_limit_exceeded");
      // Nothing leaves the window before the first admission is 60 s old.
      expect(r.retryAfterMs).toBe(60_000);
      expect(r.retryAfterSeconds).toBe(60);
    }
    // The requests used less than they held: the window makes room for more at once.
    for (const r of admitted)
      if (r.ok) await stub.settle(r.reservationId as string, { totalTokens: 100, costUsd: null });
    now = t0 + 10_000;
    const second = await Promise.all(
      Array.from({ length: 100 }, () => stub.admit({ reserve: { tokens: 500, costUsd: null } })),
    );
    expect(ok(second)).toHaveLength(16);
    const state = await stub.state();
    expect(state.tokenWindows[0]).toMatchObject({
      tokens: 10_000,
      window_seconds: 60,
      used: 10_000,
      remaining: 0,
    });
    // A request larger than the whole window is refused for good, not told to wait.
    const huge = await stub.admit({ reserve: { tokens: 20_000, costUsd: null } });
    expect(!huge.ok && [huge.code, huge.retryAfterSeconds]).toEqual(["quota_exceeded", undefined]);
    // 60 s after the first burst, only the second burst counts.
    now = t0 + 60_001;
    expect((await stub.state()).tokenWindows[0]?.used).toBe(8_000);
    now = t0 + 70_001;
    expect((await stub.state()).tokenWindows[0]?.used).toBe(0);
    expect(
      ok(
        await Promise.all(
          Array.from({ length: 30 }, () => stub.admit({ reserve: { tokens: 500, costUsd: null } })),
        ),
      ),
    ).toHaveLength(20);
  });

  it("through the proxy: 40 concurrent chat requests against 3 000 tokens per minute, the rest told when to retry", async () => {
    const { token } = await mockProjectToken({ token_rate_limit: { tokens: 3_000, window_seconds: 60 } });
    const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }], max_tokens: 400 };
    const each =
      reserveFor({
        path: "/chat/completions",
        model: chat.model,
        body: chat,
        bodyBytes: JSON.stringify(chat).length,
      })?.tokens ?? 0;
    const tag = newTag();
    const responses = await Promise.all(
      Array.from({ length: 40 }, () =>
        proxy("/chat/completions", { token: token.token, headers: { "x-mock-tag": tag }, json: chat }),
      ),
    );
    const passed = responses.filter((r) => r.status === 200);
    expect(passed).toHaveLength(Math.floor(3_000 / each));
    for (const r of responses.filter((x) => x.status === 429)) {
      expect(r.headers.get("x-should-retry")).not.toBe("false");
      const seconds = Number(r.headers.get("retry-after"));
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeLessThanOrEqual(60);
      expect((await json<{ error: { code: string } }>(r)).error.code).toBe("rate_limit_exceeded");
    }
    await Promise.all(passed.map((r) => r.arrayBuffer()));
    expect(await upstreamSaw(tag)).toHaveLength(passed.length);
    // The live state shows the window.
    const got = await json<{ allowance: { token_windows: { used: number; tokens: number }[] } }>(
      await manage(`/tokens/${token.id}`),
    );
    expect(got.allowance.token_windows[0]?.tokens).toBe(3_000);
    expect(got.allowance.token_windows[0]?.used).toBeGreaterThan(0);
  });

  it("a project-wide token window holds across all its tokens", async () => {
    const project = await createProject({ token_rate_limit: { tokens: 2_000, window_seconds: 60 } });
    const tokens = await Promise.all([1, 2, 3, 4].map(() => createToken(project.id)));
    const stubs = await Promise.all(tokens.map((t) => stubOf(t.token)));
    const results = await Promise.all(
      stubs.flatMap((s) =>
        Array.from({ length: 10 }, () => s.admit({ reserve: { tokens: 100, costUsd: null } })),
      ),
    );
    expect(ok(results)).toHaveLength(20);
    // The others are told whose window is full, and when to retry.
    for (const r of results) {
      if (r.ok) continue;
      expect([r.status, r.code]).toEqual([429, "rate_limit_exceeded"]);
      expect(r.retryAfterSeconds).toBeGreaterThanOrEqual(59);
      expect(r.message).toBe(
        `The project's limit of 2000 tokens per 60 s is reached; retry in ${r.retryAfterSeconds} s.`,
      );
    }
  });
});
