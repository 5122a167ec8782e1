import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { chargeOf } from "../src/limits/charge";
import { hashToken } from "../src/tokens/secret";
import { completeRequest } from "../src/usage/record";
import { json, manage } from "./helpers";
import { eventually, mockProjectToken, proxy } from "./support/proxy";
import { draft } from "./usage-fixtures";

// Issue 10, items 3 and 7: a reservation is settled from what the gateway saw, never from the tokenizer's
// estimate (which may take a while on hostile text), and conservatively when the upstream's usage is missing.

type Live = {
  allowance: {
    tokens: { used: number; reserved: number };
    cost_usd: { used: number };
    open_reservations: number;
  };
};
const live = async (id: string) => json<Live>(await manage(`/tokens/${id}`));

describe("what a finished request is charged", () => {
  it("charges reported usage exactly, at the model's price", () => {
    const c = chargeOf(draft({ usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 } }));
    expect(c).toEqual({ totalTokens: 1500, costUsd: 0.00045, reported: true });
  });

  it("charges nothing for a request never forwarded, or answered with an error before any text", () => {
    const refused = draft({ usage: null, status: 429, ttfb_ms: null, error: "quota_exceeded" });
    refused.charge = { forwarded: false, promptBytes: 300, textBytes: 0 };
    expect(chargeOf(refused)).toEqual({ totalTokens: 0, costUsd: 0, reported: true });
    const failed = draft({ usage: null, status: 500, error: "upstream_500" });
    failed.charge = { forwarded: true, promptBytes: 300, textBytes: 0 };
    expect(chargeOf(failed)).toEqual({ totalTokens: 0, costUsd: 0, reported: true });
  });

  it("charges at least the hold, or every byte seen, when the usage never arrived", () => {
    const cut = draft({ usage: null, aborted: true, error: "stream_interrupted", model: "gpt-4o" });
    cut.charge = { forwarded: true, promptBytes: 300, textBytes: 2_000 };
    // gpt-4o: $2.50 / $10 per million.
    expect(chargeOf(cut)).toEqual({
      totalTokens: 2_300,
      costUsd: (300 * 2.5 + 2_000 * 10) / 1e6,
      reported: false,
    });
    // A fetch that failed after sending (timeout, reset before the head): nothing seen, the hold is charged.
    const lost = draft({ usage: null, status: 504, ttfb_ms: null, error: "upstream_timeout" });
    lost.charge = { forwarded: true, promptBytes: 300, textBytes: 0 };
    expect(chargeOf(lost).reported).toBe(false);
    // An upstream error status after text was streamed still charges what was seen.
    const midway = draft({ usage: null, status: 500, error: "server_error" });
    midway.charge = { forwarded: true, promptBytes: 10, textBytes: 40 };
    expect(chargeOf(midway)).toMatchObject({ totalTokens: 50, reported: false });
  });

  it("charges the hold when an earlier routed attempt timed out, whatever the last attempt got", () => {
    const timedOut = {
      upstream: "a",
      upstream_id: "u-a",
      key_id: null,
      status: null,
      error: "upstream_timeout",
      ms: 300,
    };
    // The last attempt refused (never sent): alone it would cost nothing.
    const refusedAfter = draft({ usage: null, status: 502, ttfb_ms: null, error: "upstream_error" });
    refusedAfter.charge = { forwarded: false, promptBytes: 300, textBytes: 0 };
    refusedAfter.attempt_errors = [timedOut];
    expect(chargeOf(refusedAfter)).toMatchObject({ totalTokens: 300, reported: false });
    // The last attempt answered an error, passed on as it is: alone it would cost nothing.
    const errorAfter = draft({ usage: null, status: 503, error: "upstream_503" });
    errorAfter.charge = { forwarded: true, promptBytes: 300, textBytes: 0 };
    errorAfter.attempt_errors = [timedOut];
    expect(chargeOf(errorAfter)).toMatchObject({ totalTokens: 300, reported: false });
    // Failed attempts that were refused or answered: still nothing.
    const refused = draft({ usage: null, status: 502, ttfb_ms: null, error: "upstream_error" });
    refused.charge = { forwarded: false, promptBytes: 300, textBytes: 0 };
    refused.attempt_errors = [{ ...timedOut, error: "upstream_error" }];
    expect(chargeOf(refused)).toEqual({ totalTokens: 0, costUsd: 0, reported: true });
  });

  it("charges the price a request fixed (images, speech) on a complete answer", () => {
    const image = draft({ usage: null, model: "dall-e-3", path: "/v1/images/generations" });
    image.charge = {
      forwarded: true,
      promptBytes: 80,
      textBytes: 0,
      fixed: { totalTokens: 0, costUsd: 0.08 },
    };
    expect(chargeOf(image)).toEqual({ totalTokens: 0, costUsd: 0.08, reported: true });
    const aborted = { ...image, aborted: true };
    expect(chargeOf(aborted).reported).toBe(false);
  });
});

describe("settling through the token's object", () => {
  it("charges the hold when the upstream's usage never arrived (hold larger than the text seen)", async () => {
    const { token } = await mockProjectToken({ max_tokens: 100_000 });
    const hash = await hashToken(token.token);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(hash));
    const r = await stub.admit({ reserve: { tokens: 4_000, costUsd: null } });
    if (!r.ok || !r.reservationId) throw new Error("not admitted");
    const cut = draft({
      usage: null,
      aborted: true,
      error: "client_closed",
      token_id: token.id,
      model: "gpt-test",
    });
    cut.reservationId = r.reservationId;
    cut.charge = { forwarded: true, promptBytes: 100, textBytes: 40 };
    await completeRequest(env, cut, hash);
    const state = await stub.state();
    expect(state.ledger.tokensUsed).toBe(4_000);
    expect(state.ledger.tokensReserved).toBe(0);
  });

  it("charges the bytes seen when they exceed the hold (a long answer without a declared maximum)", async () => {
    const { token } = await mockProjectToken({ max_tokens: 100_000 });
    const hash = await hashToken(token.token);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(hash));
    const r = await stub.admit({ reserve: { tokens: 1_000, costUsd: null } });
    if (!r.ok || !r.reservationId) throw new Error("not admitted");
    const cut = draft({ usage: null, aborted: true, error: "stream_interrupted", token_id: token.id });
    cut.reservationId = r.reservationId;
    cut.charge = { forwarded: true, promptBytes: 100, textBytes: 5_000 };
    await completeRequest(env, cut, hash);
    expect((await stub.state()).ledger.tokensUsed).toBe(5_100);
  });

  it("settles before the event's estimate is done: a hostile body cannot hold the budget back", async () => {
    const { token } = await mockProjectToken({ max_tokens: 1_000_000 });
    const hash = await hashToken(token.token);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(hash));
    const r = await stub.admit({ reserve: { tokens: 50_000, costUsd: null } });
    if (!r.ok || !r.reservationId) throw new Error("not admitted");
    const hostile = draft({ usage: null, aborted: true, token_id: token.id, model: "gpt-4o" });
    hostile.reservationId = r.reservationId;
    hostile.charge = { forwarded: true, promptBytes: 1_000_000, textBytes: 0 };
    hostile.estimate = {
      request: { model: "gpt-4o", messages: [{ role: "user", content: "ā".repeat(500_000) }] },
      completionText: "x".repeat(32_000),
    };
    let done = false;
    const finishing = completeRequest(env, hostile, hash).then(() => {
      done = true;
    });
    await eventually(async () => (await stub.state()).ledger.tokensUsed > 0, 10_000);
    const settledFirst = !done;
    await finishing;
    expect(settledFirst).toBe(true);
    expect((await stub.state()).ledger.tokensUsed).toBe(1_000_000);
  });

  it("charges a client-aborted stream without usage its whole hold, through the worker", async () => {
    const { token } = await mockProjectToken({ max_tokens: 100_000 });
    const body = {
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      max_tokens: 700,
    };
    const res = await proxy("/chat/completions", {
      token: token.token,
      json: body,
      headers: { "x-mock-chunks": "50", "x-mock-interval-ms": "50", "x-mock-no-usage": "1" },
    });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await eventually(async () => (await live(token.id)).allowance.open_reservations === 0, 10_000);
    // The hold: the body's bytes (prompt bound) + the declared maximum.
    expect((await live(token.id)).allowance.tokens.used).toBe(JSON.stringify(body).length + 700);
  });
});
