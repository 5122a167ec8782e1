import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { ADMIN_PASSWORD, freshIp } from "./admin-helpers";
import { BASE } from "./helpers";

/** A request body that counts how much of it the gateway pulled: nothing is produced until read. */
function countedBody(totalBytes: number) {
  const pulled = { bytes: 0 };
  const chunk = new TextEncoder().encode(`password=${"a".repeat(1015)}`); // 1 KiB
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pulled.bytes >= totalBytes) return controller.close();
        pulled.bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled };
}

function login(body: BodyInit, headers: Record<string, string> = {}, ip = freshIp()) {
  return worker.fetch(
    new Request(`${BASE}/admin/login`, {
      method: "POST",
      headers: {
        origin: BASE,
        "content-type": "application/x-www-form-urlencoded",
        "cf-connecting-ip": ip,
        ...headers,
      },
      body,
      redirect: "manual",
      // @ts-expect-error: a streamed request body (workerd's RequestInit lacks `duplex`)
      duplex: "half",
    }),
    env,
    createExecutionContext(),
  );
}

describe("POST /admin/login reads little, late", () => {
  it("a body over 4 KiB is refused with 413, read no further than the limit", async () => {
    const declared = await login(`password=${"x".repeat(5000)}`);
    expect(declared.status).toBe(413);
    const { stream, pulled } = countedBody(1024 * 1024);
    const streamed = await login(stream);
    expect(streamed.status).toBe(413);
    expect(pulled.bytes).toBeLessThanOrEqual(8 * 1024);
  });

  it("checks the origin before reading anything", async () => {
    const { stream, pulled } = countedBody(1024 * 1024);
    const res = await login(stream, { origin: "https://evil.example" });
    expect(res.status).toBe(403);
    expect(pulled.bytes).toBe(0);
  });

  it("checks the lock-out before reading anything", async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) expect((await login("password=wrong", {}, ip)).status).toBe(401);
    const { stream, pulled } = countedBody(1024 * 1024);
    const locked = await login(stream, {}, ip);
    expect(locked.status).toBe(429);
    expect(pulled.bytes).toBe(0);
  });

  it("a normal login, urlencoded or multipart, still works; a body that is no form is a wrong password", async () => {
    const ok = await login(new URLSearchParams({ password: ADMIN_PASSWORD, next: "/admin/tokens" }));
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/admin/tokens");
    const form = new FormData();
    form.set("password", ADMIN_PASSWORD);
    const multipart = await worker.fetch(
      new Request(`${BASE}/admin/login`, {
        method: "POST",
        headers: { origin: BASE, "cf-connecting-ip": freshIp() },
        body: form,
        redirect: "manual",
      }),
      env,
      createExecutionContext(),
    );
    expect(multipart.status).toBe(303);
    const junk = await login('{"password": "x"}', { "content-type": "application/json" });
    expect(junk.status).toBe(401);
  });
});
