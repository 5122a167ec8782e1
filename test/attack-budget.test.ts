import { describe, expect, it } from "vitest";
import { chargeOf } from "../src/limits/charge";
import { type Meter, type MeterOptions, meterFor } from "../src/limits/meter";
import { emptyObserved, observeJsonBody } from "../src/proxy/observe";
import { type RequestFacts, requestDraft } from "../src/proxy/request-facts";
import { finalizeEvent } from "../src/usage/record";
import { json, manage } from "./helpers";
import { eventsOf } from "./support/events";
import { eventually, mockProjectToken, newTag, proxy, upstreamSaw } from "./support/proxy";

// Issue 10, item 3: budgets bind every endpoint that costs money. What can be priced is reserved before it
// is forwarded and settled after; what cannot be bounded is refused for a budgeted token (403
// unpriceable_request); usage that never arrives is settled conservatively. Attacked under tiny budgets.

type Live = {
  allowance: {
    tokens: { used: number; reserved: number };
    cost_usd: { used: number; reserved?: number };
    open_reservations: number;
  };
};
const live = async (id: string) => json<Live>(await manage(`/tokens/${id}`));
const codeOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

const OPTIONS: MeterOptions = {
  defaultMaxOutputTokens: 4096,
  imageInputTokens: 40_000,
  audioBytesPerSecond: 750,
  maxBodyBytes: 32 * 1024 * 1024,
};

const meter = (endpoint: string, model: string | null, body: Record<string, unknown> | null, extra = {}) =>
  meterFor(
    {
      method: "POST",
      dialect: "openai",
      endpoint,
      model,
      json: body,
      bodyBytes: body ? JSON.stringify(body).length : null,
      form: null,
      ...extra,
    },
    OPTIONS,
  );

describe("what each endpoint may cost (limits/meter.ts)", () => {
  it("prices images by model, quality, size and n; unknown sizes and 'auto' at the dearest", () => {
    const m = meter("/images/generations", "dall-e-3", {
      model: "dall-e-3",
      quality: "hd",
      size: "1792x1024",
      n: 2,
    });
    expect(m.reserve).toEqual({ tokens: null, costUsd: 0.24 });
    expect(m.fixed).toEqual({ totalTokens: 0, costUsd: 0.24 });
    expect(meter("/images/generations", "dall-e-3", { quality: "auto", size: "auto" }).reserve?.costUsd).toBe(
      0.12,
    );
    // A key named like an Object.prototype member is no price.
    expect(meter("/images/generations", "dall-e-3", { quality: "constructor" }).reserve?.costUsd).toBe(0.12);
    // Token-billed gpt-image-1: reserved at the worst per-image price plus the prompt's tokens.
    const g = meter("/images/generations", "gpt-image-1", { prompt: "a cat", quality: "high", n: 1 });
    expect(g.reserve!.costUsd!).toBeGreaterThanOrEqual(0.25);
    expect(g.reserve!.tokens).toBeGreaterThanOrEqual(6240);
    // An image model the gateway has no price for: unpriced in dollars (a cost budget refuses it).
    expect(meter("/images/generations", "dall-e-9", {}).reserve).toEqual({ tokens: null, costUsd: null });
  });

  it("prices speech per character and transcription per second of the longest audio the bytes can hold", () => {
    const speech = meter("/audio/speech", "tts-1", { model: "tts-1", input: "x".repeat(1000) });
    expect(speech.reserve).toEqual({ tokens: null, costUsd: 0.015 });
    const whisper = meter("/audio/transcriptions", "whisper-1", null, { bodyBytes: 75_000 });
    // 75 000 bytes at 750 bytes/s (6 kbit/s): at most 100 s, $0.0001 a second.
    expect(whisper.reserve?.costUsd).toBeCloseTo(0.01, 10);
    expect(whisper.perSecondUsd).toBe(0.0001);
    // Unknown length: the largest body the gateway forwards.
    expect(meter("/audio/transcriptions", "whisper-1", null).reserve!.costUsd).toBeGreaterThan(4);
    const tokens = meter("/audio/transcriptions", "gpt-4o-transcribe", null, { bodyBytes: 10 });
    expect(tokens.reserve).toEqual({ tokens: 18_000, costUsd: (16_000 * 6 + 2_000 * 10) / 1e6 });
  });

  it("reserves embeddings and text in tokens and dollars; free endpoints reserve nothing", () => {
    const e = meter("/embeddings", "text-embedding-3-small", {
      model: "text-embedding-3-small",
      input: "hi",
    });
    expect(e.reserve!.tokens).toBeGreaterThan(0);
    expect(e.reserve!.costUsd).toBeGreaterThan(0);
    for (const free of ["/moderations", "/files", "/responses/input_tokens", "/batches/b1/cancel"])
      expect(meter(free, null, {})).toEqual({} satisfies Meter);
  });

  it("calls unbounded what the gateway cannot size", () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["/batches", { input_file_id: "file-1", endpoint: "/v1/chat/completions" }, "input_file_id"],
      ["/responses", { model: "gpt-4o-mini", input: "hi", background: true }, "background"],
      [
        "/responses",
        { model: "gpt-4o-mini", input: "hi", previous_response_id: "resp_1" },
        "previous_response_id",
      ],
      ["/responses", { model: "gpt-4o-mini", input: "hi", conversation: "conv_1" }, "conversation"],
      ["/responses", { model: "gpt-4o-mini", prompt: { id: "pmpt_1" } }, "prompt"],
      [
        "/responses",
        { model: "gpt-4o-mini", input: [{ role: "user", content: [{ type: "input_file", file_id: "f" }] }] },
        "input",
      ],
      [
        "/chat/completions",
        {
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: [{ type: "file", file: { file_id: "f" } }] }],
        },
        "input",
      ],
      ["/responses", { model: "gpt-4o-mini", input: "hi", tools: [{ type: "web_search" }] }, "tools"],
      ["/vector_stores", { name: "x" }, "null"],
    ];
    for (const [endpoint, body, param] of cases) {
      const m = meter(endpoint, typeof body.model === "string" ? body.model : null, body);
      expect(m.unbounded, `${endpoint} ${param}`).toBeDefined();
      expect(String(m.unbounded!.param)).toBe(param);
    }
  });
});

describe("settling what a media answer reports", () => {
  it("a transcription is charged the duration its answer reports, and the event prices it", async () => {
    for (const body of [
      { text: "hello", usage: { type: "duration", seconds: 42 } },
      { text: "hello", duration: 42, language: "en" },
    ]) {
      const seen = emptyObserved();
      observeJsonBody(seen, body);
      expect(seen.audioSeconds).toBe(42);
      const facts: RequestFacts = {
        requestId: crypto.randomUUID(),
        started: Date.now(),
        method: "POST",
        path: "/v1/audio/transcriptions",
        userAgent: null,
        colo: null,
        tokenId: null,
        projectId: null,
        model: "whisper-1",
        stream: false,
        json: null,
        reservationId: "r1",
        bodyBytes: 30_000,
        meter: meter("/audio/transcriptions", "whisper-1", null, { bodyBytes: 30_000 }),
      };
      const draft = requestDraft(facts, { ...seen, status: 200, ttfbMs: 10, error: null, aborted: false });
      expect(chargeOf(draft)).toEqual({ totalTokens: 0, costUsd: 42 * 0.0001, reported: true });
      expect((await finalizeEvent(draft)).cost_usd).toBeCloseTo(0.0042, 10);
    }
  });
});

describe("budgets through the proxy, from outside (issue 10, item 3)", () => {
  it("images are reserved and charged at their price; the budget is never overshot", async () => {
    const { token } = await mockProjectToken({ max_cost_usd: 0.1 });
    const tag = newTag();
    const image = { model: "dall-e-3", prompt: "a cat", size: "1024x1024", quality: "standard" };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await proxy("/images/generations", {
        token: token.token,
        headers: { "x-mock-tag": tag },
        json: image,
      });
      statuses.push(res.status);
      await res.body?.cancel();
      await eventually(async () => (await live(token.id)).allowance.open_reservations === 0);
    }
    // $0.04 each: two fit in $0.10, the third would pass it.
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect(await upstreamSaw(tag)).toHaveLength(2);
    expect((await live(token.id)).allowance.cost_usd.used).toBeCloseTo(0.08, 9);
    // Several at once: `n` multiplies the price.
    const many = await proxy("/images/generations", {
      token: token.token,
      headers: { "x-mock-tag": tag },
      json: { ...image, n: 3 },
    });
    expect(many.status).toBe(429);
  });

  it("20 concurrent image requests under a $0.10 budget: exactly the two that fit reach the upstream", async () => {
    const { token } = await mockProjectToken({ max_cost_usd: 0.1 });
    const tag = newTag();
    const image = { model: "dall-e-3", prompt: "a cat", size: "1024x1024", quality: "standard" };
    const results = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await proxy("/images/generations", {
          token: token.token,
          headers: { "x-mock-tag": tag },
          json: image,
        });
        await res.body?.cancel();
        return res.status;
      }),
    );
    expect(results.filter((s) => s === 200)).toHaveLength(2);
    expect(await upstreamSaw(tag)).toHaveLength(2);
    await eventually(async () => (await live(token.id)).allowance.open_reservations === 0);
    expect((await live(token.id)).allowance.cost_usd.used).toBeLessThanOrEqual(0.1);
  });

  it("what the gateway cannot price or bound is refused for a budgeted token, nothing forwarded", async () => {
    // Every account-wide capability on: the budget, not the project's endpoints, is what refuses here.
    const open = { capabilities: ["files", "batches", "vector_stores", "fine_tuning", "conversations"] };
    const { token: costly } = await mockProjectToken({ max_cost_usd: 5 }, open);
    const { token: counted } = await mockProjectToken({ max_tokens: 1_000_000 }, open);
    const tag = newTag();
    const attempts: Array<[string, unknown, string, string[]]> = [
      [
        "/batches",
        { input_file_id: "file-1", endpoint: "/v1/chat/completions", completion_window: "24h" },
        "unpriceable_request",
        ["cost", "tokens"],
      ],
      [
        "/responses",
        { model: "gpt-4o-mini", input: "hi", background: true },
        "unpriceable_request",
        ["cost", "tokens"],
      ],
      [
        "/responses",
        { model: "gpt-4o-mini", input: "hi", previous_response_id: "resp_1" },
        "unpriceable_request",
        ["cost", "tokens"],
      ],
      [
        "/responses",
        { model: "gpt-4o-mini", input: "hi", conversation: "conv_1" },
        "unpriceable_request",
        ["cost", "tokens"],
      ],
      [
        "/responses",
        {
          model: "gpt-4o-mini",
          input: [{ role: "user", content: [{ type: "input_file", file_id: "file-1" }] }],
        },
        "unpriceable_request",
        ["cost", "tokens"],
      ],
      ["/images/generations", { model: "dall-e-9", prompt: "a cat" }, "model_not_allowed", ["cost"]],
      ["/images/generations", { model: "dall-e-3", prompt: "a cat" }, "unpriceable_request", ["tokens"]],
      [
        "/audio/speech",
        { model: "tts-1", input: "hello", voice: "alloy" },
        "unpriceable_request",
        ["tokens"],
      ],
      ["/audio/speech", { model: "tts-9", input: "hello", voice: "alloy" }, "model_not_allowed", ["cost"]],
      [
        "/chat/completions",
        { model: "my-finetune-xyz", messages: [{ role: "user", content: "hi" }] },
        "model_not_allowed",
        ["cost"],
      ],
      ["/vector_stores", { name: "x" }, "unpriceable_request", ["cost", "tokens"]],
    ];
    for (const [path, body, code, budgets] of attempts) {
      for (const [kind, token] of [
        ["cost", costly],
        ["tokens", counted],
      ] as const) {
        if (!budgets.includes(kind)) continue;
        const res = await proxy(path, { token: token.token, headers: { "x-mock-tag": tag }, json: body });
        expect(res.status, `${kind} ${path} ${JSON.stringify(body)}`).toBe(403);
        expect(await codeOf(res)).toBe(code);
      }
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    expect((await live(costly.id)).allowance.open_reservations).toBe(0);
  });

  it("speech is reserved per character and charged on the answer", async () => {
    const { token } = await mockProjectToken({ max_cost_usd: 0.01 });
    const tag = newTag();
    const long = await proxy("/audio/speech", {
      token: token.token,
      headers: { "x-mock-tag": tag },
      json: { model: "tts-1", voice: "alloy", input: "x".repeat(1_000) },
    });
    expect(long.status).toBe(429);
    const short = await proxy("/audio/speech", {
      token: token.token,
      headers: { "x-mock-tag": tag },
      json: { model: "tts-1", voice: "alloy", input: "x".repeat(100) },
    });
    expect(short.status).toBe(200);
    await short.arrayBuffer();
    await eventually(async () => (await live(token.id)).allowance.open_reservations === 0);
    expect((await live(token.id)).allowance.cost_usd.used).toBeCloseTo(0.0015, 9);
    expect(await upstreamSaw(tag)).toHaveLength(1);
  });

  it("a transcription is reserved for the longest audio its upload can hold (the whole form is read)", async () => {
    const { token } = await mockProjectToken({ max_cost_usd: 0.01 });
    const tag = newTag();
    const upload = (size: number) => {
      const form = new FormData();
      form.append("file", new File([new Uint8Array(size)], "a.ogg", { type: "audio/ogg" }));
      form.append("model", "whisper-1");
      return form;
    };
    // 300 000 bytes: up to 400 s at 6 kbit/s = $0.04 > $0.01.
    const big = await proxy("/audio/transcriptions", {
      token: token.token,
      headers: { "x-mock-tag": tag },
      body: upload(300_000),
    });
    expect(big.status).toBe(429);
    const small = await proxy("/audio/transcriptions", {
      token: token.token,
      headers: { "x-mock-tag": tag },
      body: upload(30_000),
    });
    expect(small.status).toBe(200);
    await small.arrayBuffer();
    await eventually(async () => (await live(token.id)).allowance.open_reservations === 0);
    // No duration in the answer: charged its hold, never zero.
    expect((await live(token.id)).allowance.cost_usd.used).toBeGreaterThan(0);
    expect((await live(token.id)).allowance.cost_usd.used).toBeLessThanOrEqual(0.01);
    expect(await upstreamSaw(tag)).toHaveLength(1);
  });

  it("a stream the upstream cuts records the completion text it streamed, estimated, and charges it", async () => {
    const { token } = await mockProjectToken({ max_tokens: 100_000 });
    const res = await proxy("/chat/completions", {
      token: token.token,
      json: {
        model: "gpt-4o-mini",
        stream: true,
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 50,
      },
      headers: { "x-mock-chunks": "5", "x-mock-reset": "after", "x-mock-interval-ms": "100" },
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = "";
    const decoder = new TextDecoder();
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          text += decoder.decode(value, { stream: true });
        }
      })(),
    ).rejects.toThrow();
    // The client got text before the cut.
    expect(text).toContain("tok0");
    const id = res.headers.get("x-request-id")!;
    const event = (await eventsOf([id])).get(id)!;
    expect(event).toMatchObject({ aborted: true, usage_source: "estimated", error: "stream_interrupted" });
    expect(event.usage!.completion_tokens).toBeGreaterThan(0);
    await eventually(async () => (await live(token.id)).allowance.open_reservations === 0);
    // Settled conservatively: never below what was seen, never zero.
    expect((await live(token.id)).allowance.tokens.used).toBeGreaterThanOrEqual(event.usage!.total_tokens);
  }, 30_000);
});
