import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { constantTimeEquals, decryptSecret, encryptSecret, maskSecret } from "../src/lib/crypto";
import {
  generateLegacyTokenSecret,
  generateTokenSecret,
  hashToken,
  isWellFormedToken,
  TOKEN_PREFIX,
  tokenFormat,
  tokenHint,
  verifySigned,
} from "../src/tokens/secret";
import { BASE, json, MANAGEMENT_TOKEN } from "./helpers";

const KEY = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

describe("upstream key encryption", () => {
  it("round-trips with a version prefix and a fresh IV each time", async () => {
    const a = await encryptSecret("sk-live-secret", KEY);
    const b = await encryptSecret("sk-live-secret", KEY);
    expect(a.startsWith("v1:")).toBe(true);
    expect(a).not.toBe(b);
    expect(a).not.toContain("sk-live-secret");
    expect(await decryptSecret(a, KEY)).toBe("sk-live-secret");
  });

  it("refuses a tampered ciphertext and an unknown version", async () => {
    const sealed = await encryptSecret("sk-live-secret", KEY);
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith("A") ? "B" : "A"}A`;
    await expect(decryptSecret(tampered, KEY)).rejects.toThrow();
    await expect(decryptSecret(sealed.replace("v1:", "v9:"), KEY)).rejects.toThrow(/version/);
  });

  it("masks keys for display", () => {
    expect(maskSecret("sk-proj-abcdefghijklmnop")).toBe("sk-p…mnop");
  });

  it("compares in constant time", async () => {
    expect(await constantTimeEquals("abc", "abc")).toBe(true);
    expect(await constantTimeEquals("abc", "abd")).toBe(false);
    expect(await constantTimeEquals("abc", "abcd")).toBe(false);
  });
});

describe("token secrets", () => {
  it("have the prefix, a checksum and ≥128 bits of URL-safe randomness", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const t = await generateTokenSecret(env);
      expect(t.startsWith(TOKEN_PREFIX)).toBe(true);
      expect(t).toMatch(/^[A-Za-z0-9_]+$/);
      expect(isWellFormedToken(t)).toBe(true);
      seen.add(t);
    }
    expect(seen.size).toBe(200);
    // 32 base62 characters of randomness: 32 * log2(62) ≈ 190 bits.
    expect(32 * Math.log2(62)).toBeGreaterThan(128);
  });

  // Legacy (CRC32) tokens are refused for a typo by their format alone; signed ones by their MAC (below).
  it("rejects typos through the checksum", () => {
    const t = generateLegacyTokenSecret();
    const typo = t.slice(0, 10) + (t[10] === "a" ? "b" : "a") + t.slice(11);
    expect(isWellFormedToken(typo)).toBe(false);
    expect(isWellFormedToken("sk-not-ours")).toBe(false);
    expect(isWellFormedToken(`${t}x`)).toBe(false);
  });

  it("are signed: a changed character, another key or a legacy checksum fails the MAC", async () => {
    const t = await generateTokenSecret(env);
    expect(t).toHaveLength(51);
    expect(await verifySigned(t, env)).toBe(true);
    for (const at of [3, 20, 34, 35, 50]) {
      const typo = t.slice(0, at) + (t[at] === "a" ? "b" : "a") + t.slice(at + 1);
      expect(await verifySigned(typo, env)).toBe(false);
    }
    expect(await verifySigned(t, { TOKEN_SIGNING_KEY: "another-key" })).toBe(false);
    // During a rotation the previous key still verifies what it signed.
    expect(
      await verifySigned(t, {
        TOKEN_SIGNING_KEY: "new-key",
        TOKEN_SIGNING_KEY_PREVIOUS: env.TOKEN_SIGNING_KEY,
      }),
    ).toBe(true);
    expect(tokenFormat(generateLegacyTokenSecret())).toBe("legacy");
    expect(tokenFormat(t)).toBe("signed");
    await expect(generateTokenSecret({ TOKEN_SIGNING_KEY: "" })).rejects.toMatchObject({ status: 503 });
  });

  it("hash to SHA-256 hex and show only a hint", async () => {
    const t = await generateTokenSecret(env);
    expect(await hashToken(t)).toMatch(/^[0-9a-f]{64}$/);
    const hint = tokenHint(t);
    expect(hint.startsWith("wt_")).toBe(true);
    expect(hint.endsWith(t.slice(-4))).toBe(true);
    expect(hint.length).toBeLessThan(15);
  });
});

describe("a missing or broken ENCRYPTION_KEY", () => {
  const post = (key: string | undefined) =>
    worker.fetch(
      new Request(`${BASE}/manage/projects`, {
        method: "POST",
        headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: `enc-${crypto.randomUUID()}`, api_key: "sk-test-upstream-key-123456" }),
      }),
      { ...env, ENCRYPTION_KEY: key as string },
      createExecutionContext(),
    );

  it.each([
    ["unset", undefined],
    ["empty", ""],
    ["too short", "c2hvcnQ="],
    ["not base64", "%%%%"],
  ])("is a clear 503, not a 500 (%s)", async (_name, key) => {
    const res = await post(key);
    expect(res.status).toBe(503);
    const body = await json<{ error: { code: string; message: string } }>(res);
    expect(body.error.code).toBe("encryption_key_invalid");
    expect(body.error.message).toContain("ENCRYPTION_KEY");
  });
});
