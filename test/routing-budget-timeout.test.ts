import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { repriceFor, reserveFor } from "../src/limits/reserve";
import { json, manage } from "./helpers";
import { eventsOf } from "./support/events";
import { eventually, proxy } from "./support/proxy";
import { mockName, mockSaw, routedProject, type UpstreamSpec } from "./support/routing";

// The seam between routing and budgets (issue 13): what a request whose attempts failed is charged. An
// attempt that was sent and got no first byte in time may have been worked on by the upstream, so a
// request that ends without a served answer after such an attempt is charged conservatively (its hold);
// an attempt refused before it was sent used nothing. Every budget here fits exactly one hold (or one and
// a half), so a wrong charge shows as a request admitted or refused that should not be.

const SLOW = { timeout: 30_000 };
const MAX_OUTPUT = 50;
/** The one body every request sends, as raw bytes: its length is the prompt part of the hold. */
const BODY = JSON.stringify({
  model: "smart",
  messages: [{ role: "user", content: "Say something" }],
  max_tokens: MAX_OUTPUT,
});
/** The token hold of BODY: its bytes plus its declared maximum output. */
const HOLD_TOKENS = new TextEncoder().encode(BODY).length + MAX_OUTPUT;

/** The cost hold of BODY on a route whose targets serve these models (the priciest counts). */
function holdCost(models: string[]): number {
  const body = JSON.parse(BODY) as Record<string, unknown>;
  const reserve = reserveFor({
    path: "/chat/completions",
    model: "smart",
    body,
    bodyBytes: HOLD_TOKENS - MAX_OUTPUT,
  });
  const cost = repriceFor(reserve, models)?.costUsd;
  if (typeof cost !== "number" || cost <= 0) throw new Error("no cost hold");
  return cost;
}

const hanging = (name: string): UpstreamSpec => ({
  name: "a",
  mock: { name, "hang-ms": 5_000 },
  first_byte_timeout_ms: 300,
});
const refusing = (label: string): UpstreamSpec => ({ name: label, base_url: `${env.DEAD_UPSTREAM_URL}/v1` });

type Allowance = {
  tokens: { used: number; reserved: number } | null;
  cost_usd: { used: number; reserved: number } | null;
};

async function allowance(tokenId: string): Promise<Allowance> {
  return (await json<{ allowance: Allowance }>(await manage(`/tokens/${tokenId}`))).allowance;
}

/** Waits until every hold of the token is settled; returns what it was charged. */
async function settled(tokenId: string): Promise<{ tokens: number; costUsd: number }> {
  let last: Allowance | null = null;
  await eventually(async () => {
    last = await allowance(tokenId);
    return (last.tokens?.reserved ?? 0) === 0 && (last.cost_usd?.reserved ?? 0) === 0;
  }, 5_000);
  const a = last as unknown as Allowance;
  return { tokens: a.tokens?.used ?? 0, costUsd: a.cost_usd?.used ?? 0 };
}

const send = (token: string) =>
  proxy("/chat/completions", { token, body: BODY, headers: { "content-type": "application/json" } });

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

describe("routing × budgets: a timed-out attempt is charged conservatively", SLOW, () => {
  it("a token budget of one hold: the timed-out request is charged the hold, the next is refused", async () => {
    const a = mockName("a");
    const { token } = await routedProject([hanging(a)], { max_tokens: HOLD_TOKENS });
    const first = await send(token.token);
    expect(first.status).toBe(504);
    expect(await codeOf(first)).toBe("upstream_timeout");
    // Its only target, tried again after a backoff: three attempts, one reservation.
    expect(await mockSaw(a)).toBe(3);
    expect((await settled(token.id)).tokens).toBe(HOLD_TOKENS);
    // Charged nothing, the budget would still hold a second request: it must not.
    const second = await send(token.token);
    expect(second.status).toBe(429);
    expect(await codeOf(second)).toBe("quota_exceeded");
    expect(await mockSaw(a)).toBe(3);
    const [event] = (await eventsOf([first.headers.get("x-request-id")!])).values();
    expect(event).toMatchObject({ status: 504, error: "upstream_timeout", upstream: "a", attempts: 3 });
  });

  it("a cost budget of one and a half holds: the timed-out request is charged its hold, the next is refused", async () => {
    const a = mockName("a");
    const hold = holdCost(["gpt-4o-mini"]);
    const { token } = await routedProject([hanging(a)], { max_cost_usd: hold * 1.5 });
    const first = await send(token.token);
    expect(first.status).toBe(504);
    const charged = await settled(token.id);
    expect(charged.costUsd).toBeCloseTo(hold, 9);
    const second = await send(token.token);
    expect(second.status).toBe(429);
    expect(await codeOf(second)).toBe("quota_exceeded");
    expect(await mockSaw(a)).toBe(3);
  });

  it("an attempt that timed out still counts when a later one was refused (502 upstream_error at the end)", async () => {
    const a = mockName("a");
    const { token } = await routedProject([hanging(a), refusing("b")], { max_tokens: HOLD_TOKENS });
    const first = await send(token.token);
    expect(first.status).toBe(502);
    expect(await codeOf(first)).toBe("upstream_error");
    const [event] = (await eventsOf([first.headers.get("x-request-id")!])).values();
    expect(event).toMatchObject({ status: 502, upstream: "b", attempts: 3 });
    expect(event!.attempt_errors?.[0]).toMatchObject({ upstream: "a", error: "upstream_timeout" });
    expect((await settled(token.id)).tokens).toBe(HOLD_TOKENS);
    expect((await send(token.token)).status).toBe(429);
    expect(await mockSaw(a)).toBe(1);
  });

  it("an attempt that timed out still counts when a later one got an error answer, passed on as it is", async () => {
    const a = mockName("a");
    const b = mockName("b");
    const { token } = await routedProject([hanging(a), { name: "b", mock: { name: b, status: 503 } }], {
      max_tokens: HOLD_TOKENS,
    });
    const first = await send(token.token);
    expect(first.status).toBe(503);
    expect(await codeOf(first)).toBe("mock_error");
    expect((await settled(token.id)).tokens).toBe(HOLD_TOKENS);
    expect((await send(token.token)).status).toBe(429);
    expect(await mockSaw(a)).toBe(1);
    expect(await mockSaw(b)).toBe(2);
  });

  it("a refused attempt before a timed-out last one: charged the hold once, not twice", async () => {
    const b = mockName("b");
    const { token } = await routedProject(
      [refusing("a"), { name: "b", mock: { name: b, "hang-ms": 5_000 }, first_byte_timeout_ms: 300 }],
      { max_tokens: HOLD_TOKENS * 2 },
    );
    const first = await send(token.token);
    expect(first.status).toBe(504);
    expect((await settled(token.id)).tokens).toBe(HOLD_TOKENS);
    // One hold left: a second request fits, a third does not.
    expect((await send(token.token)).status).toBe(504);
    expect((await settled(token.id)).tokens).toBe(HOLD_TOKENS * 2);
    expect((await send(token.token)).status).toBe(429);
  });

  it("a timed-out attempt before a served one: charged what served, exactly (the failed attempt costs nothing)", async () => {
    const a = mockName("a");
    const b = mockName("b");
    const { token } = await routedProject([hanging(a), { name: "b", mock: { name: b } }], {
      max_tokens: HOLD_TOKENS,
    });
    const res = await send(token.token);
    expect(res.status).toBe(200);
    await res.text();
    const [event] = (await eventsOf([res.headers.get("x-request-id")!])).values();
    expect(event).toMatchObject({ upstream: "b", attempts: 2 });
    expect(event!.attempt_errors).toMatchObject([{ upstream: "a", error: "upstream_timeout" }]);
    expect((await settled(token.id)).tokens).toBe(event!.usage!.total_tokens);
  });
});

describe("routing × budgets: an attempt refused before it was sent costs nothing", SLOW, () => {
  it("a budget of one hold admits request after request to a refused upstream, none charged", async () => {
    const hold = holdCost(["gpt-4o-mini"]);
    const { token } = await routedProject([refusing("a")], {
      max_tokens: HOLD_TOKENS,
      max_cost_usd: hold * 1.5,
    });
    // Three requests fail on the refused upstream (three attempts each); the third opens its breaker, so the
    // next are answered 503 upstream_unavailable without a try. Charged anything, the second would be a 429.
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await send(token.token);
      codes.push(`${res.status} ${await codeOf(res)}`);
      expect(await settled(token.id)).toEqual({ tokens: 0, costUsd: 0 });
    }
    expect(codes).toEqual([
      "502 upstream_error",
      "502 upstream_error",
      "502 upstream_error",
      "503 upstream_unavailable",
      "503 upstream_unavailable",
    ]);
    const live = await json<{ request_count: number }>(await manage(`/tokens/${token.id}`));
    expect(live.request_count).toBe(5);
  });

  it("a refused attempt before a served one: charged what served, exactly", async () => {
    const b = mockName("b");
    const { token } = await routedProject([refusing("a"), { name: "b", mock: { name: b } }], {
      max_tokens: HOLD_TOKENS,
    });
    const res = await send(token.token);
    expect(res.status).toBe(200);
    await res.text();
    const [event] = (await eventsOf([res.headers.get("x-request-id")!])).values();
    expect(event!.attempt_errors).toMatchObject([{ upstream: "a", error: "upstream_error" }]);
    expect((await settled(token.id)).tokens).toBe(event!.usage!.total_tokens);
  });

  it("under concurrency: 8 requests to a refused upstream on a budget of one hold, none charged", async () => {
    const { token } = await routedProject([refusing("a")], { max_tokens: HOLD_TOKENS });
    // One hold fits at a time, so a request may be refused (429) while another holds it; once every hold is
    // released nothing may be left charged, which is what a wrong charge would break.
    const statuses = await Promise.all(
      Array.from({ length: 8 }, async () => (await send(token.token)).status),
    );
    expect(statuses.every((s) => s === 502 || s === 503 || s === 429)).toBe(true);
    expect(statuses).toContain(502);
    expect(await settled(token.id)).toEqual({ tokens: 0, costUsd: 0 });
    const after = await send(token.token);
    expect(after.status).not.toBe(429);
  });
});
