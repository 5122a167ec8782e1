import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readiness } from "../src/health/readiness";
import worker from "../src/index";
import { allowlistFor, allowlistProblem } from "../src/proxy/allowlist";
import { adminCall, login } from "./admin-helpers";
import { json } from "./helpers";
import { mockProjectToken } from "./support/proxy";

const at = (path: string, e: Partial<Env>, init: RequestInit = {}) =>
  worker.fetch(new Request(`http://gateway.test${path}`, init), { ...env, ...e }, createExecutionContext());

type Ready = { status: string; checks: Record<string, string> };

/** A real D1 binding whose queries fail, as an unreachable database would. */
const brokenDb = new Proxy(env.DB, {
  get(target, p) {
    if (p === "prepare") {
      return () => {
        throw new Error("D1_ERROR: no such table: projects: SQLITE_ERROR at offset 14 (secret internals)");
      };
    }
    return Reflect.get(target, p, target);
  },
});

const SECRET_NAMES = ["MANAGEMENT_TOKEN", "ENCRYPTION_KEY", "ADMIN_PASSWORD", "SESSION_SECRET"];

describe("/health/ready tells an outsider nothing", () => {
  it("ready: every part checked, nothing else", async () => {
    const res = await at("/health/ready", {});
    expect(res.status).toBe(200);
    expect((await json<Ready>(res)).checks).toEqual({ database: "ok", secrets: "ok", allowlist: "ok" });
  });

  it("no D1 error text, no secret names, whatever is wrong", async () => {
    for (const broken of [
      { DB: brokenDb },
      { MANAGEMENT_TOKEN: "" },
      { MANAGEMENT_TOKEN: "short" },
      { ENCRYPTION_KEY: "not-a-key" },
      { ENCRYPTION_KEY_PREVIOUS: "also-not-a-key" },
      { ADMIN_PASSWORD: "short-password" },
      { SESSION_SECRET: "" },
    ] as Partial<Env>[]) {
      const res = await at("/health/ready", broken);
      expect(res.status, JSON.stringify(Object.keys(broken))).toBe(503);
      const text = await res.text();
      for (const word of [...SECRET_NAMES, "D1_ERROR", "SQLITE", "no such table", "short"]) {
        expect(text, `${Object.keys(broken)}: ${word}`).not.toContain(word);
      }
      expect(JSON.parse(text).status).toBe("not_ready");
    }
    // Both admin secrets unset: the admin pages are off by choice, the gateway is ready.
    expect((await at("/health/ready", { ADMIN_PASSWORD: "", SESSION_SECRET: "" })).status).toBe(200);
  });

  it("is cheap: an isolate reuses its answer for a few seconds", async () => {
    const e = { ...env };
    const first = await worker.fetch(
      new Request("http://gateway.test/health/ready"),
      e,
      createExecutionContext(),
    );
    let queries = 0;
    const counting = new Proxy(env.DB, {
      get(t, p) {
        if (p === "prepare") queries++;
        return Reflect.get(t, p, t);
      },
    });
    Object.assign(e, { DB: counting });
    for (let i = 0; i < 20; i++) {
      const res = await worker.fetch(
        new Request("http://gateway.test/health/ready"),
        e,
        createExecutionContext(),
      );
      expect(res.status).toBe(first.status);
    }
    expect(queries).toBe(0);
    // Unit: the uncached check queries once.
    await readiness({ ...env, DB: counting });
    expect(queries).toBe(1);
  });
});

describe("an invalid PROXY_ALLOWLIST", () => {
  const bad = ["not json", '{"POST": "chat/completions"}', '["POST"]', '["GET models/**/x"]', "[1, 2]"];

  it("makes /health/ready fail with the reason, and /v1 answer 503 (not 500, not a wider list)", async () => {
    const { token } = await mockProjectToken();
    for (const PROXY_ALLOWLIST of bad) {
      const ready = await at("/health/ready", { PROXY_ALLOWLIST });
      expect(ready.status).toBe(503);
      const body = await json<Ready>(ready);
      expect(body.checks.allowlist, PROXY_ALLOWLIST).toMatch(/^invalid: PROXY_ALLOWLIST/);
      expect(body.checks.database).toBe("ok");
      const res = await at(
        "/v1/chat/completions",
        { PROXY_ALLOWLIST },
        {
          method: "POST",
          headers: { authorization: `Bearer ${token.token}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "gpt-4o-mini", messages: [] }),
        },
      );
      expect(res.status).toBe(503);
      expect(res.headers.get("x-should-retry")).toBe("false");
      expect((await json<{ error: { code: string } }>(res)).error.code).toBe("gateway_misconfigured");
    }
  });

  it("is parsed once per isolate, not per request", () => {
    const source = '["POST chat/completions", "GET"]';
    const parse = JSON.parse;
    let parsed = 0;
    JSON.parse = ((text: string, reviver?: (k: string, v: unknown) => unknown) => {
      if (text === source) parsed++;
      return parse(text, reviver);
    }) as typeof JSON.parse;
    try {
      for (let i = 0; i < 50; i++) expect(() => allowlistFor(source)).toThrow();
      expect(allowlistProblem(source)).toContain("is not 'METHODS path'");
    } finally {
      JSON.parse = parse;
    }
    expect(parsed).toBe(1);
  });
});

describe("secrets shorter than their minimum refuse their surface", () => {
  it("MANAGEMENT_TOKEN under 32 characters: the management API is disabled, saying why", async () => {
    const short = "x".repeat(31);
    const res = await at(
      "/manage/projects",
      { MANAGEMENT_TOKEN: short },
      { headers: { authorization: `Bearer ${short}` } },
    );
    expect(res.status).toBe(503);
    const body = await json<{ error: { code: string; message: string } }>(res);
    expect(body.error.code).toBe("management_disabled");
    expect(body.error.message).toContain("shorter than 32 characters");
    const ok = "y".repeat(32);
    expect(
      (await at("/manage/projects", { MANAGEMENT_TOKEN: ok }, { headers: { authorization: `Bearer ${ok}` } }))
        .status,
    ).toBe(200);
  });

  it("ADMIN_PASSWORD under 16 or SESSION_SECRET under 32: the login is disabled and sessions end", async () => {
    const admin = await login();
    for (const [e, why] of [
      [{ ADMIN_PASSWORD: "fifteen-chars!!" }, "ADMIN_PASSWORD secret is shorter than 16 characters"],
      [{ SESSION_SECRET: "s".repeat(31) }, "SESSION_SECRET secret is shorter than 32 characters"],
    ] as const) {
      const page = await at("/admin/login", e);
      expect(page.status).toBe(503);
      expect(await page.text()).toContain(why);
      const post = await at("/admin/login", e, {
        method: "POST",
        headers: { origin: "http://gateway.test", "content-type": "application/x-www-form-urlencoded" },
        body: `password=${encodeURIComponent(e.ADMIN_PASSWORD ?? "")}`,
      });
      expect(post.status).toBe(503);
      // A session made before is no longer accepted.
      const res = await worker.fetch(
        new Request("http://gateway.test/admin/tokens", {
          headers: { cookie: admin.cookie },
          redirect: "manual",
        }),
        { ...env, ...e },
        createExecutionContext(),
      );
      expect(res.status).toBe(303);
    }
    expect((await adminCall("/admin/tokens", {}, admin)).status).toBe(200);
  });
});
