import OpenAI, { toFile } from "openai";
import { describe, expect, it } from "vitest";
import { BASE } from "./helpers";
import { mockProjectToken, newTag, upstreamSaw, workerFetch } from "./support/proxy";

/** The official SDK, its requests going to the worker; counts the calls it makes. */
function client(apiKey: string, headers: Record<string, string> = {}) {
  const calls = { count: 0 };
  const sdk = new OpenAI({
    apiKey,
    baseURL: `${BASE}/v1`,
    defaultHeaders: headers,
    fetch: (input, init) => {
      calls.count++;
      return workerFetch(input as RequestInfo, init as RequestInit);
    },
  });
  return { sdk, calls };
}

const messages = [{ role: "user" as const, content: "Say something" }];

describe("the official OpenAI SDK through the gateway", () => {
  it("chat completions, plain and streamed (no usage chunk it did not ask for)", async () => {
    const { token } = await mockProjectToken();
    const { sdk } = client(token.token);
    const plain = await sdk.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(plain.choices[0]?.message.content).toBe("tok0 tok1 tok2 ");
    expect(plain.usage?.total_tokens).toBeGreaterThan(0);
    expect(plain._request_id).toMatch(/^[0-9a-f-]{36}$/);

    const stream = await sdk.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    let text = "";
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.choices.length).toBeGreaterThan(0);
      expect(chunk.usage ?? null).toBeNull();
      text += chunk.choices[0]?.delta.content ?? "";
    }
    expect(text).toBe("tok0 tok1 tok2 ");
    expect(chunks).toBe(4);

    const withUsage = await sdk.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of withUsage) usage = chunk.usage ?? usage;
    expect(usage?.completion_tokens).toBe(3);
  });

  it("Responses API, plain and streamed", async () => {
    const { token } = await mockProjectToken();
    const { sdk } = client(token.token);
    const plain = await sdk.responses.create({ model: "gpt-4o-mini", input: "hi" });
    expect(plain.output_text).toBe("tok0 tok1 tok2 ");
    expect(plain.usage?.input_tokens_details.cached_tokens).toBe(2);

    const stream = await sdk.responses.create({ model: "gpt-4o-mini", input: "hi", stream: true });
    const types: string[] = [];
    let text = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    expect(types.at(-1)).toBe("response.completed");
    expect(text).toBe("tok0 tok1 tok2 ");
  });

  it("embeddings (base64 by default in the SDK) and models", async () => {
    const { token } = await mockProjectToken();
    const { sdk } = client(token.token);
    const emb = await sdk.embeddings.create({ model: "text-embedding-3-small", input: "hello" });
    expect(emb.data[0]?.embedding).toEqual([0.25, -0.5, 0.125, 1]);
    const ids: string[] = [];
    for await (const model of sdk.models.list()) ids.push(model.id);
    expect(ids).toContain("gpt-4o-mini");
    expect((await sdk.models.retrieve("gpt-4o")).id).toBe("gpt-4o");
  });

  it("audio transcription upload reaches the upstream byte for byte", async () => {
    const { token } = await mockProjectToken();
    const tag = newTag();
    const { sdk } = client(token.token, { "x-mock-tag": tag });
    const audio = new Uint8Array(50_000).map((_, i) => (i * 13) & 0xff);
    const result = (await sdk.audio.transcriptions.create({
      file: await toFile(audio, "speech.wav", { type: "audio/wav" }),
      model: "whisper-1",
    })) as OpenAI.Audio.Transcription & { bytes: number };
    const [seen] = await upstreamSaw(tag);
    expect(result.text).toBe(`received ${seen?.bodyBytes} bytes`);
    expect(seen?.headers["content-type"]).toContain("multipart/form-data");
    expect(seen?.bodyBytes).toBeGreaterThan(audio.byteLength);
  });

  it("maps gateway errors to the SDK's classes, without retrying what cannot succeed", async () => {
    const { token } = await mockProjectToken({ allowed_models: ["gpt-4o-mini"], max_requests: 1 });

    const bad = client("wt_not-a-real-token");
    await expect(bad.sdk.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    expect(bad.calls.count).toBe(1);

    const c = client(token.token);
    const forbidden = c.sdk.chat.completions.create({ model: "gpt-5", messages });
    await expect(forbidden).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    await expect(forbidden).rejects.toMatchObject({ code: "model_not_allowed" });

    const missing = c.sdk.get("/fine_tuning/jobs");
    await expect(missing).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    await c.sdk.models.list();
    const before = c.calls.count;
    const tag = newTag();
    const quota = client(token.token, { "x-mock-tag": tag });
    const exhausted = quota.sdk.chat.completions.create({ model: "gpt-4o-mini", messages });
    await expect(exhausted).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await expect(exhausted).rejects.toMatchObject({ code: "quota_exceeded", status: 429 });
    expect(quota.calls.count).toBe(1);
    expect(await upstreamSaw(tag)).toHaveLength(0);
    expect(c.calls.count).toBe(before);
  });
});
