// The upstream the gateway forwards to in the browser walk: the proxy work's mock OpenAI server when the
// checkout has it (test/support/mock-upstream.ts), else a minimal stand-in answering chat completions.
import { existsSync } from "node:fs";
import { createServer } from "node:http";

export type Upstream = { url: string; close(): Promise<void> };

const SHARED = new URL("../test/support/mock-upstream.ts", import.meta.url);

export async function startUpstream(): Promise<Upstream> {
  if (existsSync(SHARED)) {
    const mod = (await import(SHARED.href)) as { startMockUpstream(): Promise<Upstream> };
    return mod.startMockUpstream();
  }
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "x-request-id": "req_mock" });
      res.end(
        JSON.stringify({
          id: "chatcmpl-mock",
          object: "chat.completion",
          created: 1_700_000_000,
          model: "gpt-4o-mini",
          choices: [{ index: 0, message: { role: "assistant", content: "Hello!" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}
