import { Tiktoken } from "js-tiktoken/lite";
import cl100k from "js-tiktoken/ranks/cl100k_base";
import o200k from "js-tiktoken/ranks/o200k_base";
import { describe, expect, it } from "vitest";
import { countChatPrompt, encodingFor, estimateUsage, loadEncoder } from "../src/usage/estimate";
import { PRICES } from "../src/usage/prices";
import { costUsd, modelPrice } from "../src/usage/pricing";
import { finalizeEvent } from "../src/usage/record";
import { draft } from "./usage-fixtures";

// The sample conversation of OpenAI's cookbook "How to count tokens with tiktoken".
const cookbook = [
  {
    role: "system",
    content:
      "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
  },
  { role: "system", name: "example_user", content: "New synergies will help drive top-line growth." },
  {
    role: "system",
    name: "example_assistant",
    content: "Things working well together will increase revenue.",
  },
  {
    role: "system",
    name: "example_user",
    content:
      "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
  },
  {
    role: "system",
    name: "example_assistant",
    content: "Let's talk later when we're less busy about how to do better.",
  },
  {
    role: "user",
    content: "This late pivot means we don't have time to boil the ocean for the client deliverable.",
  },
];

describe("prompt estimates (OpenAI cookbook rules)", { timeout: 30_000 }, () => {
  it.each([
    ["gpt-3.5-turbo-0613", 129],
    ["gpt-4-0613", 129],
    ["gpt-4o", 124],
    ["gpt-4o-mini", 124],
  ])("counts the cookbook conversation for %s as %i tokens", async (model, expected) => {
    const usage = await estimateUsage(model, { model, messages: cookbook }, undefined);
    expect(usage?.prompt_tokens).toBe(expected);
  });

  it("picks the encoding by model family, and none for unknown models", () => {
    for (const m of [
      "gpt-4o-2024-08-06",
      "gpt-4.1-mini",
      "gpt-5",
      "o1",
      "o3-mini",
      "o4-mini",
      "gpt-4.5-preview",
    ])
      expect(encodingFor(m)).toBe("o200k_base");
    for (const m of [
      "gpt-4",
      "gpt-4-turbo",
      "gpt-3.5-turbo",
      "text-embedding-3-small",
      "text-embedding-ada-002",
    ])
      expect(encodingFor(m)).toBe("cl100k_base");
    // Issue 14: Claude and Gemini are estimated with o200k_base as an approximation (marked "estimated").
    expect(encodingFor("claude-3-opus")).toBe("o200k_base");
    expect(encodingFor("models/gemini-2.5-flash")).toBe("o200k_base");
    expect(encodingFor("llama-3.1-70b")).toBeNull();
    expect(encodingFor(null)).toBeNull();
  });

  it("counts completions prompts, embeddings input and Responses input", async () => {
    const enc = await loadEncoder("o200k_base");
    const text = "The quick brown fox jumps over the lazy dog.";
    const n = enc.count(text);
    expect((await estimateUsage("gpt-4o", { prompt: text }, undefined))?.prompt_tokens).toBe(n);
    expect((await estimateUsage("gpt-4o", { input: [text, text] }, undefined))?.prompt_tokens).toBe(2 * n);
    expect((await estimateUsage("gpt-4o", { input: [1, 2, 3] }, undefined))?.prompt_tokens).toBe(3);
    const responses = await estimateUsage(
      "gpt-4o",
      { input: [{ role: "user", content: [{ type: "input_text", text }] }] },
      undefined,
    );
    expect(responses?.prompt_tokens).toBe(3 + enc.count("user") + n);
    expect(countChatPrompt(enc, [])).toBe(3);
  });

  it("estimates streamed completion text within 2% of the true count", async () => {
    const enc = await loadEncoder("o200k_base");
    const text = Array.from(
      { length: 200 },
      (_, i) => `Sentence ${i}: tokenizers split words, numbers like ${i * 37} and punctuation!`,
    ).join(" ");
    const truth = enc.count(text);
    // The proxy hands over the text as it was streamed: in chunks, joined.
    const chunks = text.match(/.{1,7}/gs) ?? [];
    const usage = await estimateUsage("gpt-4o", undefined, chunks.join(""));
    expect(Math.abs((usage?.completion_tokens ?? 0) - truth) / truth).toBeLessThanOrEqual(0.02);
  });

  // js-tiktoken's own encoder takes seconds of CPU to build: the reason we do not use it in the worker.
  it("counts exactly what js-tiktoken encodes, for both encodings", { timeout: 60_000 }, async () => {
    const samples = [
      "Hello, world! Ünïcödé, 日本語のテキスト, emoji 🚀🔥 and numbers 1234567.",
      "  leading spaces\n\n\ttabs and\r\nnewlines  ",
      "function f(x) { return x ** 2; } // code <|endoftext|> looks special",
      "supercalifragilisticexpialidocious antidisestablishmentarianism",
      "",
    ];
    for (const [name, ranks] of [
      ["o200k_base", o200k],
      ["cl100k_base", cl100k],
    ] as const) {
      const lean = await loadEncoder(name);
      const reference = new Tiktoken(ranks);
      for (const text of samples) expect(lean.count(text)).toBe(reference.encode(text, [], []).length);
    }
  });
});

describe("finalizeEvent", () => {
  it("keeps the upstream's usage and prices it", async () => {
    const usage = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500, cached_tokens: 400 };
    const e = await finalizeEvent(draft({ model: "gpt-4o-2024-08-06", usage }));
    expect(e.usage_source).toBe("upstream");
    expect(e.usage).toEqual(usage);
    // 600 × 2.50 + 400 × 1.25 + 500 × 10 per million
    expect(e.cost_usd).toBeCloseTo(0.007, 10);
  });

  it("estimates a cut-off stream from the request and the streamed text", async () => {
    const e = await finalizeEvent(
      draft({
        model: "gpt-4o-mini",
        usage: null,
        aborted: true,
        estimate: { request: { model: "gpt-4o-mini", messages: cookbook }, completionText: "Hello there" },
      }),
    );
    expect(e.usage_source).toBe("estimated");
    expect(e.usage?.prompt_tokens).toBe(124);
    expect(e.usage?.completion_tokens).toBeGreaterThan(0);
    expect(e.cost_usd).not.toBeNull();
    expect(e).not.toHaveProperty("estimate");
  });

  it("says none when there is nothing to go on, and never prices an unknown model", async () => {
    expect((await finalizeEvent(draft({ usage: null }))).usage_source).toBe("none");
    const e = await finalizeEvent(
      draft({ model: "my-local-llama", usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }),
    );
    expect(e.cost_usd).toBeNull();
  });
});

describe("pricing", () => {
  it("matches dated snapshots to the longest known id, and only by a date suffix", () => {
    expect(modelPrice("gpt-4o-2024-08-06")).toBe(PRICES["gpt-4o"]);
    expect(modelPrice("gpt-4o-mini-2024-07-18")).toBe(PRICES["gpt-4o-mini"]);
    expect(modelPrice("gpt-4o-2024-05-13")).toBe(PRICES["gpt-4o-2024-05-13"]);
    expect(modelPrice("gpt-4.1-mini-2025-04-14")).toBe(PRICES["gpt-4.1-mini"]);
    expect(modelPrice("gpt-3.5-turbo-0125")).toBe(PRICES["gpt-3.5-turbo"]);
    expect(modelPrice("gpt-3.5-turbo-0613")).toBe(PRICES["gpt-3.5-turbo-0613"]);
    expect(modelPrice("gpt-4-0613")).toBe(PRICES["gpt-4"]);
    expect(modelPrice("o3-mini-2025-01-31")).toBe(PRICES["o3-mini"]);
    expect(modelPrice("GPT-5")).toBe(PRICES["gpt-5"]);
    for (const unknown of [
      "gpt-4o-realtime-preview",
      "ft:gpt-4o-mini-2024-07-18:org::abc",
      "gpt-5-turbo-x",
      "llama-3",
      "",
      null,
    ])
      expect(modelPrice(unknown)).toBeNull();
  });

  it("prices cached tokens at the cached rate and reasoning tokens as output", () => {
    const usage = {
      prompt_tokens: 2000,
      completion_tokens: 3000,
      total_tokens: 5000,
      cached_tokens: 1000,
      reasoning_tokens: 2500,
    };
    // o3: 1000 × 2 + 1000 × 0.5 + 3000 × 8 per million
    expect(costUsd("o3", usage)).toBeCloseTo(0.0265, 10);
    // A model without a cached rate bills cached tokens at the input rate.
    expect(
      costUsd("gpt-4", { prompt_tokens: 10, completion_tokens: 0, total_tokens: 10, cached_tokens: 10 }),
    ).toBeCloseTo(0.0003, 10);
    expect(
      costUsd("text-embedding-3-small", {
        prompt_tokens: 1_000_000,
        completion_tokens: 0,
        total_tokens: 1_000_000,
      }),
    ).toBe(0.02);
    expect(costUsd("gpt-4o", null)).toBeNull();
  });
});

describe("event size", () => {
  it("clips client-controlled strings so an event always fits a queue message", async () => {
    const e = await finalizeEvent(
      draft({
        model: "m".repeat(1_000_000),
        user_agent: "u".repeat(100_000),
        path: `/v1/${"p".repeat(50_000)}`,
      }),
    );
    expect(JSON.stringify(e).length).toBeLessThan(8_000);
    expect(e.model).toHaveLength(256);
    expect(e.cost_usd).toBeNull();
  });
});

describe("tool definitions", () => {
  it("adds the cookbook's approximation for tools to a chat prompt", async () => {
    const enc = await loadEncoder("o200k_base");
    const messages = [{ role: "user", content: "What's the weather like in San Francisco?" }];
    const tools = [
      {
        type: "function",
        function: {
          name: "get_current_weather",
          description: "Get the current weather in a given location",
          parameters: {
            type: "object",
            properties: {
              location: { type: "string", description: "The city and state, e.g. San Francisco, CA" },
              unit: {
                type: "string",
                description: "The unit of temperature to return",
                enum: ["celsius", "fahrenheit"],
              },
            },
            required: ["location"],
          },
        },
      },
    ];
    const without = (await estimateUsage("gpt-4o", { messages }, undefined))!.prompt_tokens;
    const withTools = (await estimateUsage("gpt-4o", { messages, tools }, undefined))!.prompt_tokens;
    const expected =
      7 +
      enc.count("get_current_weather:Get the current weather in a given location") +
      3 +
      3 +
      enc.count("location:string:The city and state, e.g. San Francisco, CA") +
      3 -
      3 +
      3 +
      enc.count("celsius") +
      3 +
      enc.count("fahrenheit") +
      enc.count("unit:string:The unit of temperature to return") +
      12;
    expect(withTools - without).toBe(expected);
  });
});

describe("cooperative tokenizer", () => {
  it("lets the isolate's other work run while it loads and counts", { timeout: 60_000 }, async () => {
    const { TokenCounter } = await import("../src/usage/bpe");
    let ticks = 0;
    let running = true;
    const tick = () => {
      ticks++;
      if (running) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    const counter = await TokenCounter.load(o200k);
    const afterLoad = ticks;
    const text = "Some streamed words, again and again. ".repeat(20_000);
    // Issue 10 bounds the default budget (16 k characters): an unbounded budget counts all 760 k exactly.
    const n = await counter.countAll([text], Number.POSITIVE_INFINITY);
    running = false;
    // Other tasks ran between the slices: ~40 during the load, more while counting.
    expect(afterLoad).toBeGreaterThan(20);
    expect(ticks).toBeGreaterThan(afterLoad + 10);
    expect(n).toBe(counter.count(text));
    // Past the character budget the rest is extrapolated from evenly spaced windows.
    const approx = await counter.countAll([text], 100_000);
    expect(Math.abs(approx - n) / n).toBeLessThan(0.02);
    const bounded = await counter.countAll([text]);
    expect(Math.abs(bounded - n) / n).toBeLessThan(0.05);
  });
});

// A randomised corpus against js-tiktoken: letters of many scripts, marks, emoji, digits, spaces and
// punctuation, in words from one character to hundreds long (the heap merge of long pieces included;
// js-tiktoken's own merge is quadratic, so the reference cannot take longer ones in reasonable time).
describe("lean BPE against js-tiktoken on random Unicode", () => {
  const alphabet = [
    ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    ..."äöüßéèçñøåæ",
    ..."абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ..."日本語のテキスト漢字中文한국어",
    ..."अआइईउऊएऐओऔकखगघ",
    ..."ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    ..."0123456789",
    ..." \t\n\r  ",
    ..."!@#$%^&*()_+-=[]{};':\",./<>?`~",
    "\u0301",
    "\u200d",
    "🚀",
    "👍🏽",
    "🇩🇪",
  ];
  let seed = 7;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const word = (len: number) => {
    let w = "";
    const pool = alphabet.slice(Math.floor(random() * 4) * 10, Math.floor(random() * 4) * 10 + 40);
    for (let i = 0; i < len; i++) w += pool[Math.floor(random() * pool.length)] ?? "a";
    return w;
  };

  it("counts 160 random texts token for token like js-tiktoken", { timeout: 120_000 }, async () => {
    for (const [name, ranks] of [
      ["o200k_base", o200k],
      ["cl100k_base", cl100k],
    ] as const) {
      const lean = await loadEncoder(name);
      const reference = new Tiktoken(ranks);
      for (let i = 0; i < 80; i++) {
        const parts: string[] = [];
        const words = 1 + Math.floor(random() * 20);
        for (let k = 0; k < words; k++) {
          const r = random();
          // Mostly short words, some long runs, now and then one character repeated hundreds of times.
          if (r < 0.05)
            parts.push(
              (alphabet[Math.floor(random() * alphabet.length)] ?? "a").repeat(
                30 + Math.floor(random() * 300),
              ),
            );
          else if (r < 0.15) parts.push(word(25 + Math.floor(random() * 200)));
          else parts.push(word(1 + Math.floor(random() * 12)));
        }
        const text = parts.join(random() < 0.5 ? " " : "");
        expect(lean.count(text), `${name} #${i}`).toBe(reference.encode(text, [], []).length);
      }
    }
  });
});
