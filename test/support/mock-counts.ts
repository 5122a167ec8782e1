// The token counts the mock upstreams report, as pure functions both runtimes can import: the mocks (Node)
// report them, the tests (workerd) expect them in events.

type Json = Record<string, unknown>;

export function words(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/** Anthropic mock: the words of the system prompt and messages. */
export function anthropicInputTokens(json: Json): number {
  return Math.max(1, words(JSON.stringify(json.messages ?? "")) + words(JSON.stringify(json.system ?? "")));
}

/** Gemini mock: the words of the contents and system instruction. */
export function geminiPromptTokens(json: Json): number {
  return Math.max(
    1,
    words(JSON.stringify(json.contents ?? json.content ?? "")) +
      words(JSON.stringify(json.systemInstruction ?? "")),
  );
}
