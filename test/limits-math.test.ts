import { describe, expect, it } from "vitest";
import { EMPTY_LEDGER, type Limits, limitRefusal, remaining, tighter, toNanos } from "../src/limits/budget";
import { declaredMaxOutput, reserveFor, utf8Length } from "../src/limits/reserve";
import { checkWindows, logCapacity, retryAfterSeconds, windowStates } from "../src/limits/windows";
import { NO_ROUTES } from "../src/routing/config";
import type { Admitted } from "../src/tokens/admission";
import { allowanceHeaders, refusalHeaders } from "../src/tokens/allowance";
import { modelAllowed } from "../src/tokens/decide";

const w = (requests: number, window_seconds: number) => ({ requests, window_seconds });

describe("rate windows (sliding log)", () => {
  it("admits N in any window and tells exactly when the next one passes", () => {
    const windows = [w(3, 10)];
    const log = [1_000, 2_000, 5_000];
    expect(checkWindows(log, windows, 5_500)).toEqual({ ok: false, window: w(3, 10), retryAfterMs: 5_500 });
    // The oldest admission (t=1000) leaves the window (t−10 s, t] at t = 11000 exactly.
    expect(checkWindows(log, windows, 10_999).ok).toBe(false);
    expect(checkWindows(log, windows, 11_000).ok).toBe(true);
  });

  it("takes the latest wait over several windows", () => {
    const windows = [w(2, 1), w(3, 60)];
    const log = [0, 30_000, 30_500];
    const check = checkWindows(log, windows, 30_600);
    expect(check.ok).toBe(false);
    // 2/1s frees at 31000; 3/60s frees at 60000: the client must wait for both.
    expect(!check.ok && check.retryAfterMs).toBe(29_400);
    expect(!check.ok && check.window).toEqual(w(3, 60));
    expect(retryAfterSeconds(29_400)).toBe(30);
    expect(retryAfterSeconds(1)).toBe(1);
  });

  it("never admits more than N in any interval of W, whatever the arrival pattern", () => {
    const windows = [w(10, 10), w(25, 60)];
    const log: number[] = [];
    let seed = 42;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let now = 0;
    for (let i = 0; i < 20_000; i++) {
      now += Math.floor(rand() * 400);
      if (checkWindows(log, windows, now).ok) log.push(now);
    }
    for (const { requests, window_seconds } of windows) {
      let lo = 0;
      for (let hi = 0; hi < log.length; hi++) {
        while ((log[lo] as number) <= (log[hi] as number) - window_seconds * 1000) lo++;
        expect(hi - lo + 1).toBeLessThanOrEqual(requests);
      }
    }
    for (const t of [now, now + 3_000, now + 30_000]) {
      for (const state of windowStates(log, windows, t)) {
        const brute = log.filter((x) => x > t - state.window_seconds * 1000 && x <= t).length;
        expect(state.used).toBe(Math.min(brute, state.requests));
      }
    }
    // And it is not over-strict: the 60 s window is the binding one, 25 per 60 s over the run.
    expect(log.length).toBeGreaterThan((now / 60_000) * 25 * 0.95);
  });

  it("reports window state and needs only max(N) entries", () => {
    expect(logCapacity([w(5, 1), w(50, 3600)])).toBe(50);
    expect(logCapacity(null)).toBe(0);
    expect(windowStates([1_000, 9_000], [w(3, 10)], 10_000)).toEqual([
      { requests: 3, window_seconds: 10, used: 2, remaining: 1, reset_seconds: 0 },
    ]);
    expect(windowStates([1_000, 2_000, 9_000], [w(3, 10)], 10_000)[0]?.reset_seconds).toBe(1);
  });
});

describe("budget math", () => {
  const limits: Limits = { maxRequests: null, maxTotalTokens: 1000, maxCostUsd: 0.01 };

  it("admits only when used + reserved + this reserve fits", () => {
    const ledger = { ...EMPTY_LEDGER, tokensUsed: 400, tokensReserved: 300 };
    expect(limitRefusal(limits, ledger, { tokens: 300, costNanos: 0 }, "token")).toBeNull();
    expect(limitRefusal(limits, ledger, { tokens: 301, costNanos: 0 }, "token")?.code).toBe("quota_exceeded");
    // In floats 0.006 + 0.003 + 0.001 > 0.01; in nano-dollars it fits exactly.
    const costly = { ...EMPTY_LEDGER, costUsedNanos: toNanos(0.006), costReservedNanos: toNanos(0.003) };
    expect(limitRefusal(limits, costly, { tokens: 1, costNanos: toNanos(0.001) }, "token")).toBeNull();
    expect(
      limitRefusal(limits, costly, { tokens: 1, costNanos: toNanos(0.001) + 1 }, "token")?.message,
    ).toContain("cost budget");
  });

  it("refuses a request with nothing to reserve once the budget is spent", () => {
    expect(limitRefusal(limits, { ...EMPTY_LEDGER, tokensUsed: 1000 }, null, "token")).not.toBeNull();
    expect(limitRefusal(limits, { ...EMPTY_LEDGER, tokensUsed: 999 }, null, "token")).toBeNull();
    const counted = { maxRequests: 2, maxTotalTokens: null, maxCostUsd: null };
    expect(limitRefusal(counted, { ...EMPTY_LEDGER, requests: 2 }, null, "project")?.message).toContain(
      "project",
    );
  });

  it("rounds costs up to whole nano-dollars", () => {
    expect(toNanos(0.01)).toBe(10_000_000);
    expect(toNanos(1e-10)).toBe(1);
    expect(toNanos(0.1 + 0.2)).toBe(300_000_000);
  });

  it("computes remaining allowance and the tighter of token and project", () => {
    const left = remaining(limits, {
      ...EMPTY_LEDGER,
      tokensUsed: 100,
      tokensReserved: 50,
      costUsedNanos: toNanos(0.004),
    });
    expect(left).toEqual({ requests: null, tokens: 850, costUsd: 0.006 });
    expect(tighter(left, { requests: 3, tokens: 900, costUsd: 0.001 })).toEqual({
      requests: 3,
      tokens: 850,
      costUsd: 0.001,
    });
    expect(tighter(left, null)).toBe(left);
  });
});

describe("reservations (reserveFor)", () => {
  const price = () => ({ input: 2.5, cachedInput: 1.25, output: 10 });
  const chat = (extra: Record<string, unknown> = {}) => ({
    model: "gpt-4o",
    messages: [{ role: "user", content: "Hello, wörld ✓" }],
    ...extra,
  });

  it("bounds tokens by the body's UTF-8 bytes plus the declared maximum", () => {
    const body = chat({ max_tokens: 100 });
    const r = reserveFor({ path: "/chat/completions", model: "gpt-4o", body }, { price });
    const bytes = utf8Length(JSON.stringify(body));
    expect(r?.tokens).toBe(bytes + 100);
    expect(r?.costUsd).toBeCloseTo((bytes * 2.5 + 100 * 10) / 1e6, 12);
  });

  it("prefers max_completion_tokens, reads max_output_tokens, multiplies by n", () => {
    expect(declaredMaxOutput({ max_tokens: 10, max_completion_tokens: 20 })).toBe(20);
    expect(declaredMaxOutput({ max_output_tokens: 30 })).toBe(30);
    expect(declaredMaxOutput({ max_tokens: "x" })).toBeNull();
    const body = chat({ max_completion_tokens: 50, n: 3 });
    const r = reserveFor({ path: "/chat/completions", model: "gpt-4o", body }, { price });
    expect(r?.tokens).toBe(utf8Length(JSON.stringify(body)) + 150);
  });

  it("uses the default for undeclared maximums, none for embeddings, nothing for other paths", () => {
    const body = chat();
    const r = reserveFor(
      { path: "/responses", model: "gpt-4o", body },
      { price, defaultMaxOutputTokens: 777 },
    );
    expect(r?.tokens).toBe(utf8Length(JSON.stringify(body)) + 777);
    const embed = { model: "text-embedding-3-small", input: "abc" };
    expect(reserveFor({ path: "/embeddings", model: embed.model, body: embed }, { price })?.tokens).toBe(
      utf8Length(JSON.stringify(embed)),
    );
    expect(reserveFor({ path: "/models", model: null, body: null })).toBeUndefined();
  });

  it("has no cost when the price is unknown", () => {
    const r = reserveFor(
      { path: "/chat/completions", model: "mystery", body: chat() },
      { price: () => null },
    );
    expect(r?.costUsd).toBeNull();
  });

  it("counts UTF-8 bytes like TextEncoder", () => {
    for (const s of ["", "abc", "wörld", "✓ ok", "emoji 🎉 and 𝄞", "日本語"]) {
      expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
    }
  });
});

describe("allowed models", () => {
  it("matches exact ids, dated snapshots of an id, and prefixes ending in *", () => {
    expect(modelAllowed(null, "anything")).toBe(true);
    expect(modelAllowed(["gpt-4o"], "gpt-4o")).toBe(true);
    expect(modelAllowed(["gpt-4o"], "gpt-4o-2024-08-06")).toBe(true);
    expect(modelAllowed(["gpt-4"], "gpt-4-0613")).toBe(true);
    expect(modelAllowed(["gpt-4o"], "gpt-4o-mini")).toBe(false);
    expect(modelAllowed(["gpt-4o"], "gpt-4o-mini-2024-07-18")).toBe(false);
    expect(modelAllowed(["gpt-4o*"], "gpt-4o-mini")).toBe(true);
    expect(modelAllowed(["gpt-4o-2024-08-06"], "gpt-4o")).toBe(false);
    expect(modelAllowed([], "gpt-4o")).toBe(false);
  });
});

describe("allowance headers", () => {
  const admitted: Admitted = {
    ok: true,
    tokenId: "t",
    projectId: "p",
    routing: NO_ROUTES,
    routingVersion: NO_ROUTES.version,
    allowedOrigins: null,
    allowedModels: { token: null, project: null },
    objects: { capabilities: [], scope: "token" },
    remainingRequests: 7,
    allowance: {
      requests: 7,
      tokens: 1234.5,
      costUsd: 0.0049999,
      window: { requests: 10, window_seconds: 60, used: 4, remaining: 6, reset_seconds: 0 },
      expiresAt: Date.UTC(2030, 0, 1),
    },
  };

  it("uses our own names only, never x-ratelimit-*", () => {
    const h = allowanceHeaders(admitted);
    expect(h).toEqual({
      "x-llm-proxy-requests-remaining": "7",
      "x-llm-proxy-tokens-remaining": "1234",
      "x-llm-proxy-cost-remaining-usd": "0.005",
      "x-llm-proxy-ratelimit-limit": "10;w=60",
      "x-llm-proxy-ratelimit-remaining": "6",
      "x-llm-proxy-ratelimit-reset": "0",
      "x-llm-proxy-token-expires": "2030-01-01T00:00:00.000Z",
    });
    expect(Object.keys(h).some((k) => k.startsWith("x-ratelimit"))).toBe(false);
  });

  it("omits unlimited allowances and gives retry headers for a full window", () => {
    const open = {
      ...admitted,
      remainingRequests: null,
      allowance: { ...admitted.allowance, requests: null, tokens: null, costUsd: null, window: null },
    };
    expect(Object.keys(allowanceHeaders(open))).toEqual(["x-llm-proxy-token-expires"]);
    const refused = {
      ok: false as const,
      status: 429 as const,
      code: "rate_limit_exceeded" as const,
      message: "",
      retryAfterSeconds: 3,
      retryAfterMs: 2_400.2,
    };
    expect(refusalHeaders(refused)).toEqual({ "retry-after": "3", "retry-after-ms": "2401" });
  });
});
