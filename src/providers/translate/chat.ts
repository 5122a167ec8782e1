// The OpenAI chat completions side of a translation: request reading helpers, and the answer built in
// OpenAI's shapes (a `chat.completion`, its `chat.completion.chunk` stream, the error envelope), so the
// `openai` SDK reads a Claude or Gemini answer as it reads GPT's.

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
export const num = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) ? v : undefined;

/** A request the target provider cannot express: answered 400 before any upstream call. */
export class Untranslatable extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}

/** A message's text: a string, or the text parts of an array of content parts. */
export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((p) => (isObject(p) && typeof p.text === "string" ? p.text : typeof p === "string" ? p : ""))
    .join("");
}

/** `data:image/png;base64,AAAA` → its media type and data; null for any other URL. */
export function dataUrl(url: string): { mediaType: string; data: string } | null {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return m ? { mediaType: m[1]!, data: m[2]! } : null;
}

export function stopList(stop: unknown): string[] | undefined {
  if (typeof stop === "string") return [stop];
  if (Array.isArray(stop)) return stop.filter((s): s is string => typeof s === "string");
  return undefined;
}

export function maxOutput(json: Json): number | undefined {
  return num(json.max_completion_tokens) ?? num(json.max_tokens);
}

/** `arguments` of a tool call as the object the other providers want (an unparsable string is wrapped). */
export function parseArguments(args: unknown): Json {
  if (isObject(args)) return args;
  if (typeof args !== "string" || !args.trim()) return {};
  try {
    const value: unknown = JSON.parse(args);
    return isObject(value) ? value : { value };
  } catch {
    return { arguments: args };
  }
}

export type ChatUsage = {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
  completion_tokens_details?: { reasoning_tokens: number };
};

export type ToolCall = { id: string; type: "function"; function: { name: string; arguments: string } };

export type Finish = "stop" | "length" | "tool_calls" | "content_filter";

export function completion(
  id: string,
  model: string,
  content: string | null,
  toolCalls: ToolCall[],
  finish: Finish,
  usage: ChatUsage | null,
): Json {
  const message: Json = { role: "assistant", content, refusal: null };
  if (toolCalls.length) message.tool_calls = toolCalls;
  const body: Json = {
    id,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
  };
  if (usage) body.usage = usage;
  return body;
}

const encoder = new TextEncoder();

/** Writes `chat.completion.chunk` events: `"usage": null` on each when the client asked for usage, as OpenAI does. */
export class ChunkWriter {
  id = `chatcmpl-${crypto.randomUUID()}`;
  model: string;
  readonly created = Math.floor(Date.now() / 1000);
  private started = false;
  ended = false;

  constructor(
    model: string,
    private readonly includeUsage: boolean,
    private readonly out: TransformStreamDefaultController<Uint8Array>,
  ) {
    this.model = model;
  }

  private write(data: Json): void {
    this.out.enqueue(encoder.encode(`data: ${JSON.stringify(data)}\n\n`));
  }

  chunk(delta: Json, finish: Finish | null = null): void {
    if (!this.started) {
      this.started = true;
      delta = { role: "assistant", ...delta };
    }
    const data: Json = {
      id: this.id,
      object: "chat.completion.chunk",
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    };
    if (this.includeUsage) data.usage = null;
    this.write(data);
  }

  /** The last chunks: the usage-only one when asked, then `[DONE]`. */
  end(usage: ChatUsage | null): void {
    if (this.ended) return;
    this.ended = true;
    if (this.includeUsage && usage) {
      this.write({
        id: this.id,
        object: "chat.completion.chunk",
        created: this.created,
        model: this.model,
        choices: [],
        usage,
      });
    }
    this.out.enqueue(encoder.encode("data: [DONE]\n\n"));
  }

  error(message: string, type: string, code: string | null): void {
    this.ended = true;
    this.write({ error: { message, type, param: null, code } });
  }
}

export function openAiError(message: string, type: string, code: string | null): Json {
  return { error: { message, type, param: null, code } };
}
