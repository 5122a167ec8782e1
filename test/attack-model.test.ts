import { env } from "cloudflare:workers";
import OpenAI, { toFile } from "openai";
import { describe, expect, it } from "vitest";
import { BASE } from "./helpers";
import { mockProjectToken, newTag, proxy, upstreamSaw, workerFetch } from "./support/proxy";

// Issue 10, item 2: a restricted token (allowed models or a budget) always names an allowed model the gateway
// has read — whatever the content type, however the body is spelled — or is refused with a clear 4xx and
// nothing reaches the upstream. Attacked from outside, with raw bodies and with the official SDK.

type Envelope = { error: { type: string; code: string; param: string | null } };
const errorOf = async (res: Response) => ((await res.json()) as Envelope).error;

const chat = (model: unknown) => ({ model, messages: [{ role: "user", content: "hi" }] });

const sha256 = async (bytes: Uint8Array) =>
  [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");

const encoder = new TextEncoder();

/** A multipart/form-data body built by hand: each part a text field or a file. */
type Part = { name: string; value?: string; file?: Uint8Array; filename?: string; headers?: string };

function form(parts: Part[], boundary = "----gatewaytest1234"): { body: Uint8Array; contentType: string } {
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    const disposition = p.file
      ? `form-data; name="${p.name}"; filename="${p.filename ?? "a.wav"}"`
      : `form-data; name="${p.name}"`;
    chunks.push(encoder.encode(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.headers ?? ""}`));
    chunks.push(encoder.encode(p.file ? "Content-Type: application/octet-stream\r\n\r\n" : "\r\n"));
    chunks.push(p.file ?? encoder.encode(p.value ?? ""));
    chunks.push(encoder.encode("\r\n"));
  }
  chunks.push(encoder.encode(`--${boundary}--\r\n`));
  const size = chunks.reduce((n, c) => n + c.byteLength, 0);
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

const audio = (size: number) => new Uint8Array(size).map((_, i) => (i * 13 + 5) & 0xff);

/** A body streamed in chunks with no content-length (as a chunked upload arrives). */
function streamed(bytes: Uint8Array, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

function sdkClient(apiKey: string, tag: string) {
  return new OpenAI({
    apiKey,
    baseURL: `${BASE}/v1`,
    defaultHeaders: { "x-mock-tag": tag },
    maxRetries: 0,
    fetch: (input, init) => workerFetch(input as RequestInfo, init as RequestInit),
  });
}

describe("JSON bodies (issue 10, item 2)", () => {
  it("matches JSON media types case-insensitively with parameters: the model is read and checked", async () => {
    const { token } = await mockProjectToken({ allowed_models: ["gpt-4o-mini"] });
    const tag = newTag();
    for (const type of [
      "Application/JSON; charset=utf-8",
      "APPLICATION/JSON",
      "application/json;charset=UTF-8",
      " application/json ",
      "application/vnd.api+JSON",
    ]) {
      const denied = await proxy("/chat/completions", {
        token: token.token,
        headers: { "content-type": type, "x-mock-tag": tag },
        body: JSON.stringify(chat("gpt-4o")),
      });
      expect(denied.status, type).toBe(403);
      expect((await errorOf(denied)).code).toBe("model_not_allowed");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    const allowed = await proxy("/chat/completions", {
      token: token.token,
      headers: { "content-type": "Application/JSON; charset=utf-8", "x-mock-tag": tag },
      body: JSON.stringify(chat("gpt-4o-mini")),
    });
    expect(allowed.status).toBe(200);
    expect(await upstreamSaw(tag)).toHaveLength(1);
  });

  it("a body that is not a JSON object is refused with 400 invalid_request_error, for every token", async () => {
    const { token } = await mockProjectToken();
    const tag = newTag();
    const bodies: Array<string | Uint8Array> = [
      '{"model": "gpt-4o", ',
      '{"model": "gpt-4o-mini"} {"model": "gpt-4o"}',
      '["gpt-4o"]',
      "null",
      new Uint8Array([0x7b, 0x22, 0x6d, 0xff, 0xfe, 0x22, 0x7d]),
    ];
    for (const body of bodies) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        headers: { "content-type": "application/json", "x-mock-tag": tag },
        body,
      });
      expect(res.status).toBe(400);
      const error = await errorOf(res);
      expect(error.type).toBe("invalid_request_error");
      expect(error.code).toBe("invalid_json");
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("a model that is missing, empty or not a string is refused for a restricted token (400)", async () => {
    const { token: listed } = await mockProjectToken({ allowed_models: ["gpt-4o-mini"] });
    const { token: budgeted } = await mockProjectToken({ max_cost_usd: 1 });
    const { token: projectListed } = await mockProjectToken({}, { allowed_models: ["gpt-4o-mini"] });
    const tag = newTag();
    for (const token of [listed, budgeted, projectListed]) {
      for (const body of [{ messages: [] }, chat(""), chat(["gpt-4o"]), chat(null), chat({ id: "gpt-4o" })]) {
        const res = await proxy("/chat/completions", {
          token: token.token,
          headers: { "x-mock-tag": tag },
          json: body,
        });
        expect(res.status).toBe(400);
        expect(await errorOf(res)).toMatchObject({ code: "model_required", param: "model" });
      }
      // An empty POST body on a model endpoint: no model either.
      const empty = await proxy("/embeddings", {
        token: token.token,
        method: "POST",
        headers: { "content-type": "application/json", "x-mock-tag": tag },
      });
      expect(empty.status).toBe(400);
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("a body naming model twice (plain or spelled with escapes) is refused for a restricted token", async () => {
    // Parsers differ on which duplicate wins: the model the gateway checked must be the one the upstream reads.
    const { token } = await mockProjectToken({ allowed_models: ["gpt-4o-mini"] });
    const { token: free } = await mockProjectToken();
    const tag = newTag();
    const messages = '"messages":[{"role":"user","content":"hi"}]';
    for (const raw of [
      `{"model":"gpt-4o-mini","model":"gpt-4o",${messages}}`,
      `{"model":"gpt-4o","model":"gpt-4o-mini",${messages}}`,
      `{"model":"gpt-4o-mini","\\u006dodel":"gpt-4o",${messages}}`,
      `{"mod\\u0065l":"gpt-4o","model":"gpt-4o-mini",${messages}}`,
    ]) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        method: "POST",
        headers: { "content-type": "application/json", "x-mock-tag": tag },
        body: raw,
      });
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toMatchObject({ code: "invalid_json", param: "model" });
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
    // "model" elsewhere (in a message, a nested object) is no duplicate; an unrestricted token has nothing to check.
    const nested = `{"model":"gpt-4o-mini","metadata":{"model":"x"},"messages":[{"role":"user","content":"\\"model\\""}]}`;
    for (const t of [token, free]) {
      const ok = await proxy("/chat/completions", {
        token: t.token,
        method: "POST",
        headers: { "content-type": "application/json", "x-mock-tag": tag },
        body: nested,
      });
      expect(ok.status).toBe(200);
    }
  });

  it("a budgeted token's Gemini call must be JSON (its size bounds the reservation)", async () => {
    const { token } = await mockProjectToken(
      { max_tokens: 100_000 },
      { provider: "gemini", base_url: `${env.MOCK_UPSTREAM_URL}/v1beta` },
    );
    const tag = newTag();
    const res = await workerFetch(`${BASE}/v1beta/models/gemini-2.5-flash:generateContent`, {
      method: "POST",
      headers: { "x-goog-api-key": token.token, "content-type": "text/plain", "x-mock-tag": tag },
      body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] }),
    });
    expect(res.status).toBe(400);
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("another content type on a JSON endpoint is refused for a restricted token, never forwarded unread", async () => {
    const { token } = await mockProjectToken({ allowed_models: ["gpt-4o-mini"] });
    const tag = newTag();
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", ""]) {
      const res = await proxy("/chat/completions", {
        token: token.token,
        headers: { "content-type": type, "x-mock-tag": tag },
        body: JSON.stringify(chat("gpt-4o")),
      });
      expect(res.status, type).toBe(400);
      expect((await errorOf(res)).code).toBe("unsupported_media_type");
    }
    // Multipart is not a JSON endpoint's format either.
    const multipart = form([{ name: "model", value: "gpt-4o-mini" }]);
    const res = await proxy("/chat/completions", {
      token: token.token,
      headers: { "content-type": multipart.contentType, "x-mock-tag": tag },
      body: multipart.body,
    });
    expect(res.status).toBe(400);
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it("an unrestricted token's odd content types still pass (nothing to check)", async () => {
    const { token } = await mockProjectToken();
    const tag = newTag();
    const res = await proxy("/audio/speech", {
      token: token.token,
      headers: { "content-type": "text/plain", "x-mock-tag": tag },
      body: "hello",
    });
    expect(res.status).toBe(200);
    expect(await upstreamSaw(tag)).toHaveLength(1);
  });
});

describe("multipart bodies (issue 10, item 2)", () => {
  it("the official SDK's audio and image uploads: allowed models pass byte for byte, others are refused", async () => {
    const { token } = await mockProjectToken({ allowed_models: ["whisper-1", "dall-e-2"] });
    const tag = newTag();
    const sdk = sdkClient(token.token, tag);
    const file = audio(300_000);
    const ok = (await sdk.audio.transcriptions.create({
      file: await toFile(file, "speech.wav", { type: "audio/wav" }),
      model: "whisper-1",
    })) as OpenAI.Audio.Transcription & { sha256: string; bytes: number };
    expect(ok.text).toMatch(/^received \d+ bytes$/);
    const [first] = await upstreamSaw(tag);
    expect(first!.bodyBytes).toBeGreaterThan(file.byteLength);

    for (const call of [
      async () =>
        sdk.audio.transcriptions.create({
          file: await toFile(file, "speech.wav", { type: "audio/wav" }),
          model: "gpt-4o-transcribe",
        }),
      async () =>
        sdk.audio.translations.create({
          file: await toFile(file, "speech.wav", { type: "audio/wav" }),
          model: "gpt-4o-transcribe",
        }),
      async () =>
        sdk.images.edit({
          image: await toFile(audio(20_000), "in.png", { type: "image/png" }),
          prompt: "a cat",
          model: "gpt-image-1",
        }),
      async () =>
        sdk.images.createVariation({
          image: await toFile(audio(20_000), "in.png", { type: "image/png" }),
          model: "dall-e-3",
        }),
    ]) {
      await expect(call()).rejects.toMatchObject({ status: 403, code: "model_not_allowed" });
    }
    const edit = await sdk.images.edit({
      image: await toFile(audio(20_000), "in.png", { type: "image/png" }),
      prompt: "a cat",
      model: "dall-e-2",
    });
    expect(edit).toBeTruthy();
    expect(await upstreamSaw(tag)).toHaveLength(2);
  });

  it("a restricted token's form without a model, with two, or with a file named model is refused (400)", async () => {
    const { token } = await mockProjectToken({ allowed_models: ["whisper-1"] });
    const tag = newTag();
    const file = audio(10_000);
    const cases: Part[][] = [
      [{ name: "file", file }],
      [
        { name: "file", file },
        { name: "model", value: "" },
      ],
      [
        { name: "model", value: "whisper-1" },
        { name: "file", file },
        { name: "model", value: "gpt-4o-transcribe" },
      ],
      [
        { name: "model", file: encoder.encode("whisper-1"), filename: "m.txt" },
        { name: "file", file },
      ],
      [
        { name: "model", value: "x".repeat(5_000) },
        { name: "file", file },
      ],
    ];
    for (const parts of cases) {
      const { body, contentType } = form(parts);
      const res = await proxy("/audio/transcriptions", {
        token: token.token,
        headers: { "content-type": contentType, "x-mock-tag": tag },
        body,
      });
      expect(res.status, JSON.stringify(parts.map((p) => [p.name, p.value?.slice(0, 20)]))).toBe(400);
      expect((await errorOf(res)).param).toBe("model");
    }
    // A form whose model could be read two ways (name and name* differ) is malformed.
    const twoNames = form([
      {
        name: "model",
        value: "whisper-1",
        headers: "",
      },
    ]);
    const sneaky = new TextDecoder()
      .decode(twoNames.body)
      .replace('name="model"', "name=\"model\"; name*=UTF-8''gpt%2D4o");
    const res = await proxy("/audio/transcriptions", {
      token: token.token,
      headers: { "content-type": twoNames.contentType, "x-mock-tag": tag },
      body: sneaky,
    });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe("invalid_form_data");
    // No boundary, or a body that is not a form at all.
    for (const [type, body] of [
      ["multipart/form-data", "model=whisper-1"],
      ["Multipart/Form-Data; boundary=abc", "not a form"],
    ] as const) {
      const r = await proxy("/audio/transcriptions", {
        token: token.token,
        headers: { "content-type": type, "x-mock-tag": tag },
        body,
      });
      expect(r.status).toBe(400);
    }
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });

  it.each([
    ["with its length declared: read as far as its model, the rest streamed", true],
    ["chunked: read to its end (bounded), then sent", false],
  ])("a streamed upload %s, every byte unchanged", async (_, declared) => {
    const { token } = await mockProjectToken({ allowed_models: ["whisper-1"] });
    const tag = newTag();
    const { body, contentType } = form([
      { name: "model", value: "whisper-1" },
      { name: "file", file: audio(3 * 1024 * 1024) },
      { name: "language", value: "en" },
    ]);
    const headers: Record<string, string> = {
      authorization: `Bearer ${token.token}`,
      "content-type": contentType,
      "x-mock-tag": tag,
    };
    if (declared) headers["content-length"] = String(body.byteLength);
    const res = await workerFetch(`${BASE}/v1/audio/transcriptions`, {
      method: "POST",
      headers,
      body: streamed(body),
      // @ts-expect-error: workerd streams request bodies (undici's option)
      duplex: "half",
    });
    expect(res.status).toBe(200);
    const [seen] = await upstreamSaw(tag);
    expect(seen!.bodyBytes).toBe(body.byteLength);
    expect(seen!.bodySha256).toBe(await sha256(body));
  });

  it.each([
    ["with its length declared (streamed past the model, stopped short)", true],
    ["chunked (read to its end first)", false],
  ])("a second model after the checked one is refused, the upload %s", async (_, declared) => {
    const { token } = await mockProjectToken({ allowed_models: ["whisper-1"] });
    const tag = newTag();
    const { body, contentType } = form([
      { name: "model", value: "whisper-1" },
      { name: "file", file: audio(2 * 1024 * 1024) },
      { name: "model", value: "gpt-4o-transcribe" },
    ]);
    const headers: Record<string, string> = {
      authorization: `Bearer ${token.token}`,
      "content-type": contentType,
      "x-mock-tag": tag,
    };
    if (declared) headers["content-length"] = String(body.byteLength);
    const res = await workerFetch(`${BASE}/v1/audio/transcriptions`, {
      method: "POST",
      headers,
      body: streamed(body),
      // @ts-expect-error: workerd streams request bodies (undici's option)
      duplex: "half",
    });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe("invalid_form_data");
    // The upstream never received a whole request, so it acted on none.
    for (const seen of await upstreamSaw(tag)) {
      expect(seen.completed).toBe(false);
      expect(seen.bodyBytes).toBeLessThan(body.byteLength);
    }
  });

  it("a form larger than MAX_FORM_BODY_BYTES is refused with 413 for a restricted token", async () => {
    const { token } = await mockProjectToken({ allowed_models: ["whisper-1"] });
    const tag = newTag();
    const res = await proxy("/audio/transcriptions", {
      token: token.token,
      headers: {
        "content-type": "multipart/form-data; boundary=x",
        "content-length": String(64 * 1024 * 1024),
        "x-mock-tag": tag,
      },
      body: streamed(new Uint8Array(0)),
    }).catch(() => null);
    if (res) expect(res.status).toBe(413);
    expect(await upstreamSaw(tag)).toHaveLength(0);
  });
});
