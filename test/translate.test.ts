import { describe, expect, it } from "vitest";
import * as anthropic from "../src/providers/translate/anthropic";
import { chatToMessages } from "../src/providers/translate/anthropic-request";
import * as gemini from "../src/providers/translate/gemini";
import { emptyObserved } from "../src/proxy/observe";
import { observerFor } from "../src/proxy/observe-native";
import { costUsd, modelPrice } from "../src/usage/pricing";
import * as docs from "./fixtures/provider-docs";

type Json = Record<string, unknown>;

/** Runs `text` through a translating TransformStream (in uneven pieces) and returns the chunks' JSON. */
async function translate(stream: TransformStream<Uint8Array, Uint8Array>, text: string) {
  const bytes = new TextEncoder().encode(text);
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 37) controller.enqueue(bytes.slice(i, i + 37));
      controller.close();
    },
  });
  const out = await new Response(source.pipeThrough(stream)).text();
  const events = out.split("\n\n").filter(Boolean);
  expect(events.at(-1)).toBe("data: [DONE]");
  return events.slice(0, -1).map((e) => JSON.parse(e.slice("data: ".length)) as Json);
}

const choice = (chunk: Json) => (chunk.choices as Json[])[0] as { delta: Json; finish_reason: string | null };

describe("OpenAI chat → Anthropic Messages (request)", () => {
  it("system, multi-turn, images, tools, tool results, stop, temperature, response_format", () => {
    const out = chatToMessages({
      model: "claude-sonnet-4-5",
      messages: [
        { role: "system", content: "You are terse." },
        { role: "developer", content: [{ type: "text", text: "No emojis." }] },
        {
          role: "user",
          content: [
            { type: "text", text: "What is here?" },
            { type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/4AAQ" } },
            { type: "image_url", image_url: { url: "https://example.com/a.png" } },
          ],
        },
        {
          role: "assistant",
          content: "Let me look.",
          tool_calls: [
            { id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":"x"}' } },
            { id: "call_2", type: "function", function: { name: "lookup", arguments: '{"q":"y"}' } },
          ],
        },
        { role: "tool", tool_call_id: "call_1", content: "one" },
        { role: "tool", tool_call_id: "call_2", content: [{ type: "text", text: "two" }] },
        { role: "user", content: "Thanks" },
      ],
      tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }],
      tool_choice: "required",
      parallel_tool_calls: false,
      stop: "END",
      temperature: 2,
      max_tokens: 50,
      user: "u-1",
      response_format: { type: "json_object" },
    });
    expect(out).toEqual({
      model: "claude-sonnet-4-5",
      max_tokens: 50,
      system: "You are terse.\n\nNo emojis.\n\nRespond with a single JSON object and nothing else.",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "What is here?" },
            { type: "image", source: { type: "base64", media_type: "image/jpeg", data: "/9j/4AAQ" } },
            { type: "image", source: { type: "url", url: "https://example.com/a.png" } },
          ],
        },
        {
          role: "assistant",
          content: [
            { type: "text", text: "Let me look." },
            { type: "tool_use", id: "call_1", name: "lookup", input: { q: "x" } },
            { type: "tool_use", id: "call_2", name: "lookup", input: { q: "y" } },
          ],
        },
        {
          // Both results of the parallel calls, then the user's text, in one user turn.
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "call_1", content: "one" },
            { type: "tool_result", tool_use_id: "call_2", content: "two" },
            { type: "text", text: "Thanks" },
          ],
        },
      ],
      stop_sequences: ["END"],
      temperature: 1,
      metadata: { user_id: "u-1" },
      tools: [{ name: "lookup", input_schema: { type: "object" } }],
      tool_choice: { type: "any", disable_parallel_tool_use: true },
    });
  });

  it("refuses what Claude cannot do (n > 1, audio parts) instead of dropping it", () => {
    expect(() => chatToMessages({ model: "m", messages: [], n: 2 })).toThrow(/'n' must be 1/);
    expect(() =>
      chatToMessages({
        model: "m",
        messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: "x" } }] }],
      }),
    ).toThrow(/input_audio/);
  });
});

describe("Anthropic Messages → OpenAI chat (response), on the documented examples", () => {
  it("a text message and a tool_use message", () => {
    expect(anthropic.messageToChat(docs.anthropicMessage, "claude-sonnet-4-5")).toMatchObject({
      id: "chatcmpl-msg_013Zva2CMHLNnXjNJJKqJ2EF",
      object: "chat.completion",
      model: "claude-sonnet-4-5-20250929",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "Hi! My name is Claude." },
          finish_reason: "stop",
        },
      ],
      usage: { prompt_tokens: 2095, completion_tokens: 503, total_tokens: 2598 },
    });
    const tool = anthropic.messageToChat(docs.anthropicToolUse, "x");
    expect(tool.choices).toEqual([
      {
        index: 0,
        logprobs: null,
        finish_reason: "tool_calls",
        message: {
          role: "assistant",
          refusal: null,
          content: "I'll check the current weather in San Francisco for you.",
          tool_calls: [
            {
              id: "toolu_01A09q90qw90lq917835lq9",
              type: "function",
              function: {
                name: "get_weather",
                arguments: '{"location":"San Francisco, CA","unit":"celsius"}',
              },
            },
          ],
        },
      },
    ]);
    // Prompt = uncached + cache writes + cache reads; the reads are OpenAI's cached_tokens.
    expect(tool.usage).toEqual({
      prompt_tokens: 384 + 120 + 2000,
      completion_tokens: 89,
      total_tokens: 384 + 120 + 2000 + 89,
      prompt_tokens_details: { cached_tokens: 2000 },
    });
  });

  it("the basic stream: role first, text deltas, finish, usage chunk only when asked", async () => {
    const chunks = await translate(anthropic.streamToChat("claude-opus-4-6", true), docs.anthropicStream);
    expect(chunks.map((c) => choice(c)?.delta ?? null)).toEqual([
      { role: "assistant", content: "" },
      { content: "Hello" },
      { content: "!" },
      {},
      null,
    ]);
    expect(choice(chunks[3]!).finish_reason).toBe("stop");
    expect(chunks.slice(0, 4).every((c) => c.usage === null && c.object === "chat.completion.chunk")).toBe(
      true,
    );
    expect(chunks[4]).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 25, completion_tokens: 15, total_tokens: 40 },
    });
    expect(new Set(chunks.map((c) => c.id))).toEqual(
      new Set(["chatcmpl-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"]),
    );

    const plain = await translate(anthropic.streamToChat("claude-opus-4-6", false), docs.anthropicStream);
    expect(plain).toHaveLength(4);
    expect(plain.every((c) => !("usage" in c))).toBe(true);
  });

  it("the tool-use stream: the call's id and name, then its arguments as they arrive", async () => {
    const chunks = await translate(anthropic.streamToChat("m", false), docs.anthropicToolStream);
    const deltas = chunks.map((c) => choice(c).delta);
    expect(deltas[1]).toEqual({ content: "Okay, let's check the weather" });
    expect(deltas[2]).toEqual({
      tool_calls: [
        {
          index: 0,
          id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
          type: "function",
          function: { name: "get_weather", arguments: "" },
        },
      ],
    });
    const args = deltas
      .flatMap((d) => (d.tool_calls as { function: { arguments?: string } }[] | undefined) ?? [])
      .map((t) => t.function.arguments ?? "")
      .join("");
    expect(JSON.parse(args)).toEqual({ location: "San Francisco, CA" });
    expect(choice(chunks.at(-1)!).finish_reason).toBe("tool_calls");
  });

  it("errors keep their message and type", () => {
    expect(anthropic.errorToChat(docs.anthropicError, 404)).toEqual({
      error: {
        message: "The requested resource could not be found.",
        type: "not_found_error",
        param: null,
        code: "not_found_error",
      },
    });
  });

  it("the observer reads the documented usage exactly (cache writes and reads apart)", () => {
    const seen = emptyObserved();
    observerFor("anthropic").jsonBody(seen, docs.anthropicToolUse);
    expect(seen.usage).toEqual({
      prompt_tokens: 2504,
      completion_tokens: 89,
      total_tokens: 2593,
      cached_tokens: 2000,
      cache_creation_tokens: 120,
    });
    expect(costUsd("claude-sonnet-4-5-20250929", seen.usage)).toBeCloseTo(
      (384 * 3 + 120 * 3.75 + 2000 * 0.3 + 89 * 15) / 1e6,
      10,
    );
  });
});

describe("OpenAI chat ↔ Gemini generateContent", () => {
  it("request: system instruction, roles, inline images, tools, tool results by name, generation config", () => {
    const out = gemini.chatToGemini({
      model: "gemini-2.5-flash",
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "Describe" },
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBOR" } },
          ],
        },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "c1", type: "function", function: { name: "schedule_meeting", arguments: '{"a":1}' } },
          ],
        },
        { role: "tool", tool_call_id: "c1", content: "done" },
      ],
      tools: [
        {
          type: "function",
          function: { name: "schedule_meeting", description: "d", parameters: { type: "object" } },
        },
      ],
      tool_choice: { type: "function", function: { name: "schedule_meeting" } },
      max_completion_tokens: 100,
      n: 2,
      stop: ["x"],
      response_format: { type: "json_object" },
    });
    expect(out).toEqual({
      systemInstruction: { parts: [{ text: "Be brief." }] },
      contents: [
        {
          role: "user",
          parts: [{ text: "Describe" }, { inlineData: { mimeType: "image/png", data: "iVBOR" } }],
        },
        { role: "model", parts: [{ functionCall: { id: "c1", name: "schedule_meeting", args: { a: 1 } } }] },
        {
          role: "user",
          parts: [
            { functionResponse: { id: "c1", name: "schedule_meeting", response: { content: "done" } } },
          ],
        },
      ],
      generationConfig: {
        maxOutputTokens: 100,
        stopSequences: ["x"],
        candidateCount: 2,
        responseMimeType: "application/json",
      },
      tools: [
        {
          functionDeclarations: [
            { name: "schedule_meeting", description: "d", parametersJsonSchema: { type: "object" } },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["schedule_meeting"] } },
    });
  });

  it("response: text with thinking tokens, function calls with cached tokens (documented examples)", () => {
    expect(gemini.geminiToChat(docs.geminiText, "gemini-2.5-flash")).toMatchObject({
      id: "chatcmpl-rlHXaPzMBo-nz7IPyr3N0Qg",
      model: "gemini-2.5-flash",
      choices: [{ message: { content: "AI learns patterns from data." }, finish_reason: "stop" }],
      usage: {
        prompt_tokens: 8,
        completion_tokens: 830,
        total_tokens: 838,
        completion_tokens_details: { reasoning_tokens: 824 },
      },
    });
    const call = gemini.geminiToChat(docs.geminiFunctionCall, "gemini-2.5-flash");
    expect(call).toMatchObject({
      choices: [
        {
          finish_reason: "tool_calls",
          message: {
            content: null,
            tool_calls: [
              {
                id: "call_0",
                type: "function",
                function: {
                  name: "schedule_meeting",
                  arguments:
                    '{"attendees":["Bob","Alice"],"date":"2025-03-27","time":"10:00","topic":"Q3 planning"}',
                },
              },
            ],
          },
        },
      ],
      usage: { prompt_tokens: 112, prompt_tokens_details: { cached_tokens: 64 } },
    });
    expect(gemini.errorToChat(docs.geminiError, 400)).toEqual({
      error: {
        message: "API key not valid. Please pass a valid API key.",
        type: "invalid_request_error",
        param: null,
        code: "INVALID_ARGUMENT",
      },
    });
  });

  it("stream: deltas as they come, finish and usage (thinking included) at the end", async () => {
    const chunks = await translate(gemini.streamToChat("gemini-2.5-flash", true), docs.geminiStream);
    expect(chunks.slice(0, 3).map((c) => choice(c).delta)).toEqual([
      { role: "assistant", content: "Once upon" },
      { content: " a time" },
      { content: "." },
    ]);
    expect(choice(chunks[3]!).finish_reason).toBe("stop");
    expect(chunks[4]).toMatchObject({
      choices: [],
      usage: {
        prompt_tokens: 8,
        completion_tokens: 32,
        total_tokens: 40,
        completion_tokens_details: { reasoning_tokens: 28 },
      },
    });
  });

  it("the observer reads usageMetadata (thinking billed as output, cached apart) and prices it", () => {
    const seen = emptyObserved();
    observerFor("gemini").jsonBody(seen, docs.geminiFunctionCall);
    expect(seen.usage).toEqual({
      prompt_tokens: 112,
      completion_tokens: 31,
      total_tokens: 143,
      cached_tokens: 64,
    });
    expect(costUsd("gemini-2.5-flash", seen.usage)).toBeCloseTo((48 * 0.3 + 64 * 0.03 + 31 * 2.5) / 1e6, 10);
  });
});

describe("pricing per provider", () => {
  it("dated and versioned ids take their model's price; unknown ids cost null", () => {
    expect(modelPrice("claude-sonnet-4-5-20250929")).toEqual(modelPrice("claude-sonnet-4-5"));
    expect(modelPrice("claude-3-5-haiku-latest")?.input).toBe(0.8);
    expect(modelPrice("gemini-2.0-flash-001")?.input).toBe(0.1);
    expect(modelPrice("models/gemini-2.5-pro")?.output).toBe(10);
    expect(modelPrice("claude-sonnet-4-5-experimental")).toBeNull();
    expect(costUsd("claude-unknown", { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 })).toBeNull();
  });

  it("1-hour cache writes at 2× input; Gemini Pro's long-prompt rates apply to the whole request", () => {
    const usage = {
      prompt_tokens: 1000,
      completion_tokens: 0,
      total_tokens: 1000,
      cache_creation_tokens: 1000,
      cache_creation_1h_tokens: 400,
    };
    expect(costUsd("claude-opus-4-5", usage)).toBeCloseTo((600 * 6.25 + 400 * 10) / 1e6, 10);
    const long = { prompt_tokens: 300_000, completion_tokens: 1000, total_tokens: 301_000 };
    expect(costUsd("gemini-2.5-pro", long)).toBeCloseTo((300_000 * 2.5 + 1000 * 15) / 1e6, 8);
    const short = { prompt_tokens: 100_000, completion_tokens: 1000, total_tokens: 101_000 };
    expect(costUsd("gemini-2.5-pro", short)).toBeCloseTo((100_000 * 1.25 + 1000 * 10) / 1e6, 8);
  });
});
