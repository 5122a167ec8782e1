import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { EMPTY_LEDGER } from "../src/limits/budget";
import { decide } from "../src/tokens/decide";
import { hashToken } from "../src/tokens/secret";
import type { TokenConfig } from "../src/tokens/token-config";
import { createProject, createToken, manage } from "./helpers";

const baseConfig: TokenConfig = {
  tokenId: "t",
  projectId: "p",
  expiresAt: Date.now() + 60_000,
  isActive: true,
  revokedAt: null,
  maxRequests: null,
  rateLimits: null,
  maxTotalTokens: null,
  maxCostUsd: null,
  allowedModels: null,
  renewing: { periodBudgets: null, timeZone: null, tokenWindows: null },
  secrets: [],
  canMint: false,
  project: {
    version: 1,
    isActive: true,
    allowedOrigins: null,
    allowedModels: null,
    limits: null,
    renewing: null,
    capabilities: [],
    objectScope: "token",
    routing: {
      version: 1,
      upstreams: [
        {
          id: "u",
          name: "default",
          provider: "openai",
          baseUrl: "https://api.openai.com/v1",
          models: null,
          settings: null,
          firstByteTimeoutMs: null,
          retryOn: null,
          keys: [{ id: "k", keyEncrypted: "v1:x:y", weight: 1 }],
        },
      ],
      aliases: [],
    },
  },
};
const fresh = { ledger: EMPTY_LEDGER, windowLog: [] };

describe("admission decision", () => {
  const now = Date.now();
  it.each([
    ["unknown token", null, {}, "token_not_found"],
    ["revoked", { ...baseConfig, isActive: false, revokedAt: now }, {}, "token_inactive"],
    ["deactivated", { ...baseConfig, isActive: false }, {}, "token_inactive"],
    ["expired", { ...baseConfig, expiresAt: now - 1 }, {}, "token_expired"],
    [
      "project off",
      { ...baseConfig, project: { ...baseConfig.project, isActive: false } },
      {},
      "project_inactive",
    ],
    [
      "origin",
      { ...baseConfig, project: { ...baseConfig.project, allowedOrigins: ["https://a.example"] } },
      { origin: "https://b.example" },
      "origin_not_allowed",
    ],
    ["model", { ...baseConfig, allowedModels: ["gpt-4o"] }, { model: "gpt-5" }, "model_not_allowed"],
    ["quota", { ...baseConfig, maxRequests: 0 }, {}, "quota_exceeded"],
  ] as [string, TokenConfig | null, { model?: string; origin?: string }, string][])(
    "refuses: %s",
    (_name, config, input, code) => {
      expect(decide(config, fresh, input, now)?.code).toBe(code);
    },
  );

  it("checks in the documented order: revoked wins over expired", () => {
    const config = { ...baseConfig, isActive: false, revokedAt: now, expiresAt: now - 1 };
    expect(decide(config, fresh, {}, now)?.code).toBe("token_inactive");
  });

  it("admits a healthy token", () => {
    expect(decide(baseConfig, fresh, { model: "gpt-4o", origin: "https://x.example" }, now)).toBeNull();
  });
});

describe("token Durable Object", () => {
  it("admits exactly max_requests out of 200 concurrent attempts", async () => {
    const project = await createProject();
    const token = await createToken(project.id, { max_requests: 50 });
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(token.token)));
    const results = await Promise.all(Array.from({ length: 200 }, () => stub.admit({})));
    const admitted = results.filter((r) => r.ok).length;
    expect(admitted).toBe(50);
    expect(results.filter((r) => !r.ok && r.code === "quota_exceeded")).toHaveLength(150);
    expect((await stub.state()).requests).toBe(50);
  });

  it("stops admitting at once when revoked", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(token.token)));
    expect((await stub.admit({})).ok).toBe(true);
    expect((await manage(`/tokens/${token.id}`, { method: "DELETE" })).status).toBe(204);
    const after = await stub.admit({});
    expect(after.ok).toBe(false);
    expect(!after.ok && after.code).toBe("token_inactive");
  });

  it("applies a project deactivation to used tokens on their next request", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(token.token)));
    expect((await stub.admit({})).ok).toBe(true);
    await manage(`/projects/${project.id}`, { method: "PATCH", body: { is_active: false } });
    const after = await stub.admit({});
    expect(!after.ok && after.code).toBe("project_inactive");
  });

  it("does not create an object when a token is created or revoked unused", async () => {
    const project = await createProject();
    const token = await createToken(project.id);
    await manage(`/tokens/${token.id}`, { method: "DELETE" });
    const row = await env.DB.prepare("select first_used_at from tokens where id = ?").bind(token.id).first();
    expect(row?.first_used_at).toBeNull();
  });
});
