import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ApiError } from "../src/lib/errors";
import { SseParser } from "../src/lib/sse-parser";
import { checkAllowed, compileAllowlist, DEFAULT_ALLOWLIST } from "../src/proxy/allowlist";
import { presentedCredential, tokenHashOf } from "../src/proxy/auth";
import { downstreamResponseHeaders, upstreamRequestHeaders } from "../src/proxy/headers";
import { isProxyPath } from "../src/proxy/index";
import { normaliseUsage, type Observed, openAiObserver } from "../src/proxy/observe";
import { parseApiPath } from "../src/proxy/path";
import { usageFromTail } from "../src/proxy/respond/json";
import type { TapResult } from "../src/proxy/respond/relay";
import { sseTap } from "../src/proxy/respond/sse";
import { generateLegacyTokenSecret } from "../src/tokens/secret";

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof ApiError ? `${err.status} ${err.code}` : String(err);
  }
}

describe("path normaliser", () => {
  it("accepts API paths and decodes each segment once", () => {
    expect(parseApiPath("/v1/chat/completions")).toEqual({
      raw: "/chat/completions",
      segments: ["chat", "completions"],
      canonical: "/chat/completions",
    });
    expect(parseApiPath("/v1/files/file%20x/content").segments).toEqual(["files", "file x", "content"]);
  });

  it("re-encodes the decoded segments one canonical way (issue 10: one path for every decision)", () => {
    expect(parseApiPath("/v1/chat/completion%73").canonical).toBe("/chat/completions");
    expect(parseApiPath("/v1/%63hat/%43ompletions").canonical).toBe("/chat/Completions");
    expect(parseApiPath("/v1/files/file%20x/content").canonical).toBe("/files/file%20x/content");
    expect(parseApiPath("/v1/files/a%3Ab%40c%7E").canonical).toBe("/files/a:b@c~");
    expect(parseApiPath("/v1/files/%C3%A9t%C3%A9").canonical).toBe("/files/%C3%A9t%C3%A9");
    expect(parseApiPath("/v1/files/a%3fb%23c").canonical).toBe("/files/a%3Fb%23c");
  });

  it.each([
    "/v1/../manage/projects",
    "/v1/chat/../../manage",
    "/v1/./models",
    "/v1/%2e%2e/manage",
    "/v1/%2E%2E/manage",
    "/v1/.%2e/manage",
    "/v1/files%2f..%2fmanage",
    "/v1/files%2F..",
    "/v1/files%5c..",
    "/v1/files\\..\\manage",
    "/v1//models",
    "/v1/models//x",
    "/v1/models/",
    "/v1/models/a%00b",
    "/v1/models/%252e%252e",
    "/v1/models/%zz",
    "/v1",
    "/v1/",
    "/manage/projects",
    "/v10/models",
  ])("refuses %s with 404", (path) => {
    expect(codeOf(() => parseApiPath(path))).toBe("404 endpoint_not_found");
  });

  it("names the fix for a doubled /v1", () => {
    try {
      parseApiPath("/v1/v1/chat/completions");
      expect.unreachable();
    } catch (err) {
      expect((err as ApiError).code).toBe("endpoint_not_found");
      expect((err as ApiError).message).toContain("repeats /v1");
      expect((err as ApiError).message).toContain("base URL");
    }
  });

  it("dispatches /v1 and only /v1 to the proxy", () => {
    expect(isProxyPath("http://h/v1/models")).toBe(true);
    expect(isProxyPath("http://h/v1")).toBe(true);
    expect(isProxyPath("http://h/v1?x")).toBe(true);
    expect(isProxyPath("http://h/v10/models")).toBe(false);
    expect(isProxyPath("http://h/manage/v1")).toBe(false);
    expect(isProxyPath("http://h/")).toBe(false);
  });
});

describe("allowlist", () => {
  const list = compileAllowlist(DEFAULT_ALLOWLIST);
  const check = (method: string, path: string) => codeOf(() => checkAllowed(list, method, path.split("/")));

  it.each([
    ["POST", "chat/completions"],
    ["GET", "chat/completions/abc"],
    ["POST", "completions"],
    ["POST", "responses"],
    ["GET", "responses/resp_1"],
    ["GET", "responses/resp_1/input_items"],
    ["POST", "responses/resp_1/cancel"],
    ["POST", "embeddings"],
    ["GET", "models"],
    ["GET", "models/gpt-4o"],
    ["POST", "moderations"],
    ["POST", "audio/transcriptions"],
    ["POST", "audio/speech"],
    ["POST", "images/generations"],
    ["POST", "files"],
    ["GET", "files/file-1/content"],
    ["POST", "uploads/up_1/parts"],
    ["POST", "batches/b_1/cancel"],
    ["GET", "vector_stores/vs_1/files"],
  ])("allows %s %s", (method, path) => {
    expect(check(method, path)).toBeNull();
  });

  it("404s unknown paths and 405s wrong methods with Allow", () => {
    // Fine-tuning is forwardable (a project capability, src/ownership/); the Assistants API is not.
    expect(check("POST", "assistants")).toBe("404 endpoint_not_found");
    expect(check("GET", "organization/users")).toBe("404 endpoint_not_found");
    expect(check("DELETE", "embeddings")).toBe("405 method_not_allowed");
    try {
      checkAllowed(list, "PUT", ["models"]);
    } catch (err) {
      expect((err as ApiError).options.headers?.allow).toBe("GET, OPTIONS");
    }
  });

  it("compiles custom rules", () => {
    const custom = compileAllowlist(["POST chat/completions", "GET,DELETE things/*", "POST deep/**"]);
    expect(codeOf(() => checkAllowed(custom, "DELETE", ["things", "1"]))).toBeNull();
    expect(codeOf(() => checkAllowed(custom, "POST", ["deep", "a", "b"]))).toBeNull();
    expect(codeOf(() => checkAllowed(custom, "POST", ["deep"]))).toBe("404 endpoint_not_found");
    expect(codeOf(() => checkAllowed(custom, "GET", ["models"]))).toBe("404 endpoint_not_found");
    expect(() => compileAllowlist(["nonsense"])).toThrow();
  });
});

describe("credentials", () => {
  // The format check alone (a signed token's MAC is checked after it, asynchronously): a legacy token's
  // checksum, which the format check covers.
  const token = generateLegacyTokenSecret();
  /** The token the proxy reads from the headers, after the format check `tokenHashOf` makes. */
  const credentialOf = (headers: Headers) => {
    const hashing = tokenHashOf(headers, env);
    if (hashing instanceof Promise) hashing.catch(() => {});
    return presentedCredential(headers);
  };
  it("reads Bearer, then api-key, then x-api-key", () => {
    expect(credentialOf(new Headers({ authorization: `Bearer ${token}` }))).toBe(token);
    expect(credentialOf(new Headers({ authorization: `bearer ${token}` }))).toBe(token);
    expect(credentialOf(new Headers({ "api-key": token }))).toBe(token);
    expect(credentialOf(new Headers({ "x-api-key": token }))).toBe(token);
    expect(credentialOf(new Headers({ authorization: `Bearer ${token}`, "x-api-key": "other" }))).toBe(token);
  });

  it("refuses none, other schemes and malformed tokens with invalid_token", () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: "Basic abc" },
      { authorization: "Bearer sk-real-openai-key" },
      { "api-key": `${token.slice(0, -1)}${token.endsWith("x") ? "y" : "x"}` },
    ]) {
      expect(codeOf(() => credentialOf(new Headers(headers)))).toBe("401 invalid_token");
    }
  });
});

describe("header filter", () => {
  it("drops credentials, hop-by-hop, client IPs, cf-* and cookies; keeps the rest", () => {
    const client = new Headers({
      authorization: "Bearer wt_x",
      "api-key": "wt_x",
      "x-api-key": "wt_x",
      connection: "keep-alive, x-custom-hop",
      "x-custom-hop": "1",
      "keep-alive": "timeout=5",
      "transfer-encoding": "chunked",
      "x-forwarded-for": "1.2.3.4",
      "x-forwarded-proto": "https",
      "x-real-ip": "1.2.3.4",
      "cf-connecting-ip": "1.2.3.4",
      "cf-ipcountry": "FR",
      "true-client-ip": "1.2.3.4",
      forwarded: "for=1.2.3.4",
      cookie: "a=b",
      host: "gateway.example",
      "content-type": "application/json",
      "content-length": "12",
      "openai-organization": "org",
      "openai-project": "proj",
      "openai-beta": "x",
      "user-agent": "OpenAI/JS",
    });
    const out = upstreamRequestHeaders(client, true);
    expect([...out.keys()].sort()).toEqual([
      "content-length",
      "content-type",
      "openai-beta",
      "openai-organization",
      "openai-project",
      "user-agent",
    ]);
    expect(upstreamRequestHeaders(client, false).has("content-length")).toBe(false);
  });

  it("moves the upstream's request id aside and drops hop-by-hop and cookies downstream", () => {
    const up = new Headers({
      "x-request-id": "req_up",
      "x-ratelimit-remaining-tokens": "10",
      "set-cookie": "__cf_bm=x",
      connection: "close",
      "content-type": "application/json",
      "content-length": "10",
    });
    const out = downstreamResponseHeaders(up, "gw-id", true);
    expect(out.get("x-request-id")).toBe("gw-id");
    expect(out.get("x-upstream-request-id")).toBe("req_up");
    expect(out.get("x-ratelimit-remaining-tokens")).toBe("10");
    expect(out.has("set-cookie")).toBe(false);
    expect(out.has("connection")).toBe(false);
    expect(out.get("content-length")).toBe("10");
    expect(downstreamResponseHeaders(up, "gw-id", false).has("content-length")).toBe(false);
  });
});

describe("SSE parser", () => {
  it("handles events split anywhere, CRLF, comments and a missing final blank line", () => {
    const text = ': hi\r\nevent: a\r\ndata: {"x":1}\r\n\r\ndata: line1\ndata: line2\n\ndata: tail';
    for (let cut = 0; cut <= text.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      const last = parser.finish();
      if (last) events.push(last);
      expect(events.map((e) => [e.event, e.data])).toEqual([
        ["a", '{"x":1}'],
        [null, "line1\nline2"],
        [null, "tail"],
      ]);
      expect(events.map((e) => e.raw).join("")).toBe(text);
    }
  });
});

const enc = new TextEncoder();
const dec = new TextDecoder();

async function runTap(
  strip: boolean,
  chunks: string[],
): Promise<{ out: string; result: Observed & { aborted: boolean } }> {
  let result: TapResult | undefined;
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(enc.encode(chunk));
      c.close();
    },
  });
  const out = await new Response(
    source.pipeThrough(sseTap(strip, (r) => (result = r), openAiObserver)),
  ).text();
  return { out, result: { ...result!.observed(), aborted: result!.aborted } };
}

const chunk = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 };
const chatStream = [
  chunk({
    id: "c",
    model: "gpt-x",
    choices: [{ index: 0, delta: { role: "assistant", content: "Hel" } }],
    usage: null,
  }),
  chunk({
    id: "c",
    model: "gpt-x",
    choices: [{ index: 0, delta: { content: "lo" }, finish_reason: "stop" }],
    usage: null,
  }),
  chunk({ id: "c", model: "gpt-x", choices: [], usage }),
  "data: [DONE]\n\n",
];

describe("SSE tap", () => {
  it("passes bytes unchanged and learns model, usage and text, whatever the chunking", async () => {
    const whole = chatStream.join("");
    for (const size of [1, 3, 17, whole.length]) {
      const pieces: string[] = [];
      for (let i = 0; i < whole.length; i += size) pieces.push(whole.slice(i, i + size));
      const { out, result } = await runTap(false, pieces);
      expect(out).toBe(whole);
      expect(result).toMatchObject({ model: "gpt-x", usage, text: "Hello", aborted: false });
    }
  });

  it("strips exactly the usage-only chunk, whatever the chunking", async () => {
    const whole = chatStream.join("");
    // As without include_usage: no usage-only chunk, and no `"usage":null` on the others.
    const expected = [chatStream[0], chatStream[1], chatStream[3]].join("").replaceAll(',"usage":null', "");
    for (const size of [1, 5, 64, whole.length]) {
      const pieces: string[] = [];
      for (let i = 0; i < whole.length; i += size) pieces.push(whole.slice(i, i + size));
      const { out, result } = await runTap(true, pieces);
      expect(out).toBe(expected);
      expect(result.usage).toEqual(usage);
    }
  });

  it("keeps a usage: null that is not the chunk's last member, and content that merely mentions it", async () => {
    const odd = `data: {"usage":null,"choices":[{"delta":{"content":"x\\",\\"usage\\":null}"}}]}\n\n`;
    const { out } = await runTap(true, [odd]);
    expect(out).toBe(odd);
  });

  it("tolerates choices: null, usage beside choices and no [DONE]", async () => {
    const { result } = await runTap(false, [
      chunk({ model: "m", choices: null }),
      chunk({
        model: "m",
        choices: [{ delta: { content: "a" } }],
        usage: { prompt_tokens: 1, completion_tokens: 1 },
      }),
    ]);
    expect(result.usage).toEqual({ prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 });
    expect(result.text).toBe("a");
  });

  it("reads Responses API usage from response.completed, incomplete and failed", async () => {
    const ev = (type: string, data: Record<string, unknown>) =>
      `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const responseUsage = {
      input_tokens: 10,
      output_tokens: 4,
      total_tokens: 14,
      input_tokens_details: { cached_tokens: 3 },
      output_tokens_details: { reasoning_tokens: 2 },
    };
    for (const [type, error] of [
      ["response.completed", null],
      ["response.incomplete", "response_incomplete"],
      ["response.failed", "response_failed"],
    ] as const) {
      const { result } = await runTap(false, [
        ev("response.created", { response: { model: "gpt-r", usage: null } }),
        ev("response.output_text.delta", { delta: "Hi" }),
        ev(type, { response: { model: "gpt-r", usage: responseUsage } }),
      ]);
      expect(result).toMatchObject({ model: "gpt-r", text: "Hi", error });
      expect(result.usage).toEqual({
        prompt_tokens: 10,
        completion_tokens: 4,
        total_tokens: 14,
        cached_tokens: 3,
        reasoning_tokens: 2,
      });
    }
  });

  it("notes an error event and finds usage at the tail of a huge JSON body", async () => {
    const { result } = await runTap(false, [chunk({ error: { message: "boom", code: "server_error" } })]);
    expect(result.error).toBe("server_error");
    expect(
      usageFromTail(`xxxx"text":"y"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"x":{"a":1}}}`),
    ).toEqual({
      usage: { prompt_tokens: 3, completion_tokens: 1, x: { a: 1 } },
    });
    expect(normaliseUsage({ prompt_tokens: 4, total_tokens: 4 })).toEqual({
      prompt_tokens: 4,
      completion_tokens: 0,
      total_tokens: 4,
    });
    expect(dec.decode(enc.encode("é"))).toBe("é");
  });
});
