import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, cli, type Gateway, MANAGEMENT_TOKEN, ROOT, startGateway } from "./gateway";

let gw: Gateway;
let env: Record<string, string>;

beforeAll(async () => {
  gw = await startGateway();
  env = { LLM_PROXY_URL: gw.url, LLM_PROXY_MANAGEMENT_TOKEN: MANAGEMENT_TOKEN };
});
afterAll(async () => {
  await gw?.close();
});

type Project = { id: string; name: string; api_key_hint: string; is_active: boolean };
type Token = { id: string; token: string; status: string; max_requests: number | null; project_id: string };

describe("usage errors exit 2", () => {
  it("--help and --version exit 0", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Exit codes");
    expect((await cli(["--version"])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("an unknown command, a bad flag value, a missing confirmation", async () => {
    expect((await cli(["nope"], env)).code).toBe(2);
    const bad = await cli(["token", "create", "--project", "x", "--duration", "soon"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("must be a whole number");
    expect((await cli(["usage", "--group-by", "week"], env)).code).toBe(2);
    const del = await cli(["project", "delete", "00000000-0000-4000-8000-000000000000"], env);
    expect(del.code).toBe(2);
    expect(del.stderr).toContain("--yes");
  });

  it("a URL with /v1 is refused with the fix", async () => {
    const r = await cli(["project", "list", "--url", `${gw.url}/v1`], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--url ${gw.url}`);
  });
});

describe("connection errors", () => {
  it("an unreachable gateway exits 3 and says so", async () => {
    const r = await cli(["project", "list", "--url", "http://127.0.0.1:39217"], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("Cannot reach the gateway at http://127.0.0.1:39217");
    expect(r.stderr).toContain("ECONNREFUSED");
  });

  it("a wrong management token exits 1 with the API's code and a hint", async () => {
    const r = await cli(["project", "list", "--management-token", "wrong"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("401 unauthorized");
    expect(r.stderr).toContain("--management-token");
  });

  it("no token at all: the hint names the variable", async () => {
    const r = await cli(["project", "list"], { LLM_PROXY_URL: "https://gateway.invalid.example" });
    expect(r.code).toBe(3);
    const local = await cli(["project", "list"], { LLM_PROXY_URL: gw.url }, { cwd: tmpdir() });
    expect(local.code).toBe(1);
    expect(local.stderr).toContain("LLM_PROXY_MANAGEMENT_TOKEN");
  });

  it("reads MANAGEMENT_TOKEN from ./.dev.vars for a localhost gateway", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-proxy-cli-"));
    writeFileSync(join(dir, ".dev.vars"), `# local\nMANAGEMENT_TOKEN=${MANAGEMENT_TOKEN}\n`);
    const r = await cli(["project", "list", "--json"], { LLM_PROXY_URL: gw.url }, { cwd: dir });
    expect(r.code).toBe(0);
    expect(Array.isArray(r.json())).toBe(true);
  });

  it("reads url and token from a config file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-proxy-cli-"));
    const file = join(dir, "config.json");
    writeFileSync(file, JSON.stringify({ url: gw.url, management_token: MANAGEMENT_TOKEN }));
    const r = await cli(["--config", file, "project", "list", "--json"], {});
    expect(r.code).toBe(0);
  });
});

describe("projects and tokens, as an operator would", () => {
  const name = `cli-${Date.now()}`;
  let project: Project;

  it("creates a project with the key from stdin, never echoing it", async () => {
    const r = await cli(["project", "create", "--name", name, "--api-key", "-", "--json"], env, {
      input: "sk-cli-test-upstream-key-1234567890\n",
    });
    expect(r.code).toBe(0);
    project = r.json() as Project;
    expect(project.name).toBe(name);
    expect(r.stdout).not.toContain("sk-cli-test-upstream-key-1234567890");
    const table = await cli(["project", "list"], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(name);
    expect(table.stdout).toContain("│ id");
  });

  it("gets it by name and by id; a duplicate is refused with the API's message (exit 1)", async () => {
    const byName = await cli(["project", "get", name, "--json"], env);
    expect((byName.json() as Project).id).toBe(project.id);
    expect((await cli(["project", "get", project.id], env)).stdout).toContain(name);
    const dup = await cli(["project", "create", "--name", name, "--api-key", "sk-x", "--json"], env);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain("409 conflict");
    expect((dup.json() as { error: { code: string } }).error.code).toBe("conflict");
  });

  it("validation errors name the field", async () => {
    const r = await cli(["project", "update", project.id, "--base-url", "ftp://nope"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("400 validation_error");
    expect(r.stderr).toContain("base_url");
  });

  it("enables account-wide endpoints and widens the object scope, and back", async () => {
    const on = await cli(
      ["project", "update", name, "--capabilities", "files,batches", "--object-scope", "project", "--json"],
      env,
    );
    expect(on.code).toBe(0);
    expect(on.json()).toMatchObject({ capabilities: ["files", "batches"], object_scope: "project" });
    const off = await cli(
      ["project", "update", name, "--capabilities", "", "--object-scope", "token", "--json"],
      env,
    );
    expect(off.json()).toMatchObject({ capabilities: [], object_scope: "token" });
    const bad = await cli(["project", "update", name, "--capabilities", "files,everything"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("capabilities");
  });

  it("creates, lists, updates and revokes tokens", async () => {
    const created = await cli(
      [
        "token",
        "create",
        "--project",
        name,
        "--duration",
        "60",
        "--max-requests",
        "5",
        "--rate-limit",
        "10/1m",
      ],
      env,
    );
    expect(created.code).toBe(0);
    const secret = /token: (wt_\w+)/.exec(created.stdout)?.[1];
    expect(secret).toBeTruthy();
    expect(created.stderr).toContain("shown only once");

    const second = (
      await cli(["token", "create", "--project", project.id, "--name", "nb", "--json"], env)
    ).json() as Token;
    expect(second.token).toMatch(/^wt_/);

    const list = await cli(["token", "list", "--project", name, "--json"], env);
    expect((list.json() as Token[]).map((t) => t.project_id)).toEqual([project.id, project.id]);

    const upd = await cli(["token", "update", second.id, "--max-requests", "10", "--json"], env);
    expect((upd.json() as Token).max_requests).toBe(10);

    expect((await cli(["token", "revoke", second.id], env)).code).toBe(0);
    expect(((await cli(["token", "get", second.id, "--json"], env)).json() as Token).status).toBe("revoked");

    const byValue = await cli(["token", "revoke", "--value", "-"], env, { input: `${secret}\n` });
    expect(byValue.code).toBe(0);
    const active = await cli(["token", "list", "--project", name, "--status", "active", "--json"], env);
    expect(active.json()).toEqual([]);

    const notId = await cli(["token", "get", "wt_abc"], env);
    expect(notId.code).toBe(2);
  });

  it("revokes all tokens of a project, deactivates and deletes it", async () => {
    const quiet = await cli(["token", "create", "--project", name, "-q"], env);
    expect(quiet.stdout.trim()).toMatch(/^wt_[0-9A-Za-z]{48}$/);
    const r = await cli(["project", "revoke-tokens", name, "--json"], env);
    expect(r.json()).toEqual({ revoked_count: 1 });
    const off = await cli(["project", "update", name, "--deactivate", "--json"], env);
    expect((off.json() as Project).is_active).toBe(false);
    expect((await cli(["project", "delete", name, "--yes"], env)).code).toBe(0);
    const gone = await cli(["project", "get", project.id], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("404 not_found");
  });

  it("the audit log shows what was done, and how it ended", async () => {
    const r = await cli(["audit", "--target", project.id, "--json"], env);
    expect(r.code).toBe(0);
    const actions = (r.json() as { action: string; result: string }[]).map((a) => `${a.action}:${a.result}`);
    expect(actions).toContain("project.create:ok");
    expect(actions).toContain("project.delete:ok");
    expect(actions).toContain("project.update:validation_error");
    expect((await cli(["audit", "--action", "token.revoke_by_value"], env)).stdout).toContain(
      "token.revoke_by_value",
    );
  });
});

describe("upstreams and aliases, as an operator would", () => {
  const name = `cli-routes-${Date.now()}`;

  it("adds an upstream from a preset with the key from stdin, then keys, an alias and health", async () => {
    expect(
      (await cli(["project", "create", "--name", name, "--api-key", "sk-cli-default-key-000"], env)).code,
    ).toBe(0);
    const added = await cli(
      [
        "upstream",
        "add",
        "--project",
        name,
        "--name",
        "groq",
        "--preset",
        "groq",
        "--api-key",
        "-",
        "--models",
        "llama-*",
        "--json",
      ],
      env,
      { input: "gsk-cli-secret-groq-key-1234\n" },
    );
    expect(added.code).toBe(0);
    expect(added.stdout).not.toContain("gsk-cli-secret-groq-key-1234");
    const upstream = added.json() as {
      id: string;
      base_url: string;
      provider: string;
      keys: { id: string; hint: string }[];
    };
    expect(upstream).toMatchObject({
      base_url: "https://api.groq.com/openai/v1",
      provider: "openai-compatible",
    });
    expect(upstream.keys[0]!.hint).toBe("gsk-…1234");

    const list = await cli(["upstream", "list", "--project", name], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("groq");
    expect(list.stdout).toContain("default");

    const key = await cli(
      [
        "upstream",
        "key",
        "add",
        "groq",
        "--project",
        name,
        "--api-key",
        "gsk-second-key-5678",
        "--weight",
        "2",
        "--json",
      ],
      env,
    );
    expect(key.code).toBe(0);
    const keyId = (key.json() as { id: string }).id;
    const rotated = await cli(
      ["upstream", "key", "rotate", upstream.id, keyId, "--api-key", "gsk-rotated-key-9999", "--json"],
      env,
    );
    expect(rotated.json() as { hint: string; weight: number }).toMatchObject({
      hint: "gsk-…9999",
      weight: 2,
    });
    expect((await cli(["upstream", "key", "remove", upstream.id, keyId], env)).code).toBe(2);
    expect((await cli(["upstream", "key", "remove", upstream.id, keyId, "--yes"], env)).code).toBe(0);

    const alias = await cli(
      ["alias", "set", "--project", name, "smart", "groq:llama-3.3-70b", "default:gpt-4o"],
      env,
    );
    expect(alias.code).toBe(0);
    expect(alias.stdout).toContain("groq:llama-3.3-70b default:gpt-4o");
    const weighted = await cli(
      [
        "alias",
        "set",
        "--project",
        name,
        "smart",
        "groq:llama-3.3-70b=3",
        "default:gpt-4o=1",
        "--weighted",
        "--json",
      ],
      env,
    );
    expect(weighted.json()).toMatchObject({ strategy: "weighted", targets: [{ weight: 3 }, { weight: 1 }] });
    expect((await cli(["alias", "set", "--project", name, "bad", "no-colon"], env)).code).toBe(2);
    const unknown = await cli(["alias", "set", "--project", name, "bad", "nope:m"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("targets.0.upstream");

    const blocked = await cli(["upstream", "delete", "groq", "--project", name, "--yes"], env);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain("409 conflict");

    const health = await cli(["upstream", "health", "groq", "--project", name, "--json"], env);
    expect(health.code).toBe(0);
    expect(health.json()).toMatchObject({ name: "groq", requests: 0, breaker: { open: false } });

    expect((await cli(["alias", "delete", "smart", "--project", name], env)).code).toBe(0);
    expect((await cli(["upstream", "delete", "groq", "--project", name, "--yes"], env)).code).toBe(0);
  }, 120_000);

  it("a new host needs the key in the same call", async () => {
    const r = await cli(
      ["upstream", "update", "default", "--project", name, "--base-url", "https://elsewhere.example/v1"],
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("api_key");
  });
});

describe("issuing: budgets per period, batches, rotation, issuing keys, children", () => {
  const name = `cli-issuing-${Date.now()}`;
  let projectId: string;

  it("creates a token with a day budget in a time zone and tokens per minute", async () => {
    const p = await cli(
      ["project", "create", "--name", name, "--api-key", "sk-cli-issuing-1234567890", "--json"],
      env,
    );
    projectId = (p.json() as Project).id;
    const r = await cli(
      [
        "token",
        "create",
        "--project",
        name,
        "--period-budget",
        "day:cost=5,requests=100",
        "--time-zone",
        "Europe/Berlin",
        "--tpm",
        "40000/1m",
        "--json",
      ],
      env,
    );
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({
      period_budgets: [{ period: "day", max_cost_usd: 5, max_requests: 100 }],
      budget_time_zone: "Europe/Berlin",
      token_rate_limit: [{ tokens: 40000, window_seconds: 60 }],
    });
    const bad = await cli(["token", "create", "--project", name, "--period-budget", "fortnight:cost=1"], env);
    expect(bad.code).toBe(2);
  });

  it("creates 250 tokens in a batch, as CSV in a file only its owner can read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-proxy-batch-"));
    const out = join(dir, "class.csv");
    const r = await cli(
      [
        "token",
        "batch",
        "--project",
        name,
        "--count",
        "250",
        "--prefix",
        "student",
        "--max-requests",
        "10",
        "--out",
        out,
      ],
      env,
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Wrote 250 tokens");
    const lines = readFileSync(out, "utf8").trim().split("\n");
    expect(lines[0]).toBe("id,name,token,expires_at,project_id");
    expect(lines).toHaveLength(251);
    expect(lines[1]).toMatch(/^[0-9a-f-]{36},student-1,wt_[0-9A-Za-z]{48},/);
    expect(lines[250]).toContain(",student-250,");
    const { statSync } = await import("node:fs");
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const names = join(dir, "names.csv");
    writeFileSync(names, "name,email\nann,a@x\nben,b@x\n");
    const json = await cli(["token", "batch", "--project", name, "--names-file", names, "--json"], env);
    expect((json.json() as { name: string }[]).map((t) => t.name)).toEqual(["ann", "ben"]);
  });

  it("rotates a token: the new secret once, the old one for the grace", async () => {
    const t = (await cli(["token", "create", "--project", name, "--json"], env)).json() as Token;
    const r = await cli(["token", "rotate", t.id, "--grace", "15m", "-q"], env);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^wt_[0-9A-Za-z]{91}$/);
    expect(r.stdout.trim()).not.toBe(t.token);
  });

  it("an issuing key creates tokens within its ceilings and nothing else", async () => {
    const k = await cli(
      [
        "issuing-key",
        "create",
        "--project",
        name,
        "--name",
        "backend",
        "--max-duration",
        "60",
        "--max-cost",
        "2",
        "-q",
      ],
      env,
    );
    expect(k.code).toBe(0);
    const key = k.stdout.trim();
    expect(key).toMatch(/^ik_/);
    const asKey = { LLM_PROXY_URL: gw.url, LLM_PROXY_MANAGEMENT_TOKEN: key };
    const made = await cli(["token", "create", "--project", projectId, "--json"], asKey);
    expect(made.code).toBe(0);
    expect(made.json()).toMatchObject({ max_cost_usd: 2 });
    const over = await cli(["token", "create", "--project", projectId, "--max-cost", "3"], asKey);
    expect(over.code).toBe(1);
    expect(over.stderr).toContain("403 ceiling_exceeded");
    const projects = await cli(["project", "list"], asKey);
    expect(projects.code).toBe(1);
    expect(projects.stderr).toContain("403 forbidden");
    const list = await cli(["issuing-key", "list", "--project", name, "--json"], env);
    expect((list.json() as { name: string }[]).map((x) => x.name)).toEqual(["backend"]);
  });

  it("a parent token mints and lists children, paid out of its own budget", async () => {
    const parent = (
      await cli(["token", "create", "--project", name, "--max-cost", "3", "--can-mint", "--json"], env)
    ).json() as Token;
    const minted = await cli(
      ["children", "mint", "--token", "-", "--count", "3", "--max-cost", "1", "--prefix", "s"],
      env,
      {
        input: `${parent.token}\n`,
      },
    );
    expect(minted.code).toBe(0);
    expect(minted.stdout.trim().split("\n")).toHaveLength(4);
    const more = await cli(["children", "mint", "--token", parent.token, "--max-cost", "0.5"], env);
    expect(more.code).toBe(1);
    expect(more.stderr).toContain("429 quota_exceeded");
    const list = await cli(["children", "list", "--token", parent.token, "--json"], env);
    expect((list.json() as { name: string }[]).map((c) => c.name).sort()).toEqual(["s-1", "s-2", "s-3"]);
  });
});

describe("the machine's own Node (20) runs the bin too", () => {
  // npm puts the project's Node 22 first on PATH; the host's node (Node 20 in CI) is the next one.
  const hostNode = ["/usr/bin/node", "/usr/local/bin/node"].find(
    (p) => existsSync(p) && realpathSync(p) !== realpathSync(process.execPath),
  );

  it.runIf(hostNode)("lists projects with the host's node", async () => {
    const r = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        hostNode!,
        [BIN, "project", "list", "--json"],
        { env: { PATH: process.env.PATH ?? "", ...env } },
        (err, stdout) => resolve({ code: err ? Number(err.code ?? 99) : 0, stdout }),
      );
    });
    expect(r.code).toBe(0);
    expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
  });
});

describe("status and metrics", () => {
  it("status checks readiness and the management token", async () => {
    const r = await cli(["status", "--json"], env);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ status: "ready", management_token: "ok" });
  });

  it("metrics prints the Prometheus text", async () => {
    const r = await cli(["metrics"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("# TYPE llm_proxy_requests_total counter");
    expect(r.stdout).toMatch(/^llm_proxy_info\{version="[^"]+"\} 1$/m);
  });
});

describe("benchmark", () => {
  it("measures a GET endpoint and prints JSON with percentiles", async () => {
    const r = await cli(
      [
        "benchmark",
        "--target",
        gw.url,
        "--endpoint",
        "/health",
        "--method",
        "GET",
        "-n",
        "30",
        "-c",
        "3",
        "--output",
        "json",
      ],
      {},
    );
    expect(r.code).toBe(0);
    const report = r.json() as { targets: { ok: number; latency_ms: { p50: number; p99: number } }[] };
    expect(report.targets[0]!.ok).toBe(30);
    expect(report.targets[0]!.latency_ms.p99).toBeGreaterThanOrEqual(report.targets[0]!.latency_ms.p50);
  });

  it("compares two URLs, writes CSV and an SVG chart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-proxy-bench-"));
    const chart = join(dir, "latency.svg");
    const r = await cli(
      [
        "benchmark",
        "--target",
        gw.url,
        "--endpoint",
        "/health",
        "--compare",
        gw.url,
        "--compare-endpoint",
        "/health/ready",
        "--method",
        "GET",
        "-n",
        "20",
        "-c",
        "2",
        "--output",
        "csv",
        "--chart",
        chart,
      ],
      {},
    );
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split(/\r?\n/);
    expect(lines[0]).toContain("latency_p50_ms");
    expect(lines).toHaveLength(3);
    const svg = readFileSync(chart, "utf8");
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain("gateway (n=20, max ");
    expect(svg).toContain("direct (n=20, max ");
  });

  it("counts errors by status and code, exits 1 when nothing succeeded", async () => {
    const r = await cli(
      ["benchmark", "--target", gw.url, "--token", "wt_bogus", "-n", "5", "-c", "1", "--output", "json"],
      {},
    );
    expect(r.code).toBe(1);
    const report = r.json() as { targets: { errors: Record<string, number> }[] };
    expect(Object.values(report.targets[0]!.errors).reduce((a, b) => a + b, 0)).toBe(5);
  });

  it("an unreachable target exits 3", async () => {
    const r = await cli(
      ["benchmark", "--target", "http://127.0.0.1:39217", "-n", "2", "--output", "json"],
      {},
    );
    expect(r.code).toBe(3);
  });
});

describe("usage and events (once the usage API is merged)", () => {
  const HOUR = 3_600_000;
  const hour = Math.floor(Date.now() / HOUR) * HOUR;
  let hasUsageApi = false;
  const event = (id: string, at: number, status = 200) => ({
    id,
    timestamp: new Date(at).toISOString(),
    token_id: "tok-cli",
    project_id: "00000000-0000-4000-8000-0000000000c1",
    method: "POST",
    path: "/v1/chat/completions",
    status,
    duration_ms: 120,
    ttfb_ms: 40,
    stream: false,
    model: "gpt-4o-mini",
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    usage_source: "upstream",
    cost_usd: 0.0001,
    error: status >= 400 ? "upstream_error" : null,
    aborted: false,
    upstream_request_id: null,
    colo: null,
    user_agent: null,
  });
  const putEvents = async (key: string, events: ReturnType<typeof event>[]) => {
    const e = await gw.server.getWorker().getEnv();
    const day = new Date(hour).toISOString().slice(0, 10);
    const hh = new Date(hour).toISOString().slice(11, 13);
    await e.EVENTS_BUCKET.put(
      `events/dt=${day}/hour=${hh}/${key}.jsonl`,
      `${events.map((x) => JSON.stringify(x)).join("\n")}\n`,
    );
  };

  beforeAll(async () => {
    const doc = (await (await fetch(`${gw.url}/manage/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    hasUsageApi = Boolean(doc.paths["/manage/usage"] && doc.paths["/manage/events"]);
    if (!hasUsageApi) return;
    const e = await gw.server.getWorker().getEnv();
    await e.DB.prepare(
      `insert into usage_hourly (hour, project_id, token_id, model, requests, errors, prompt_tokens,
        completion_tokens, cost_usd, duration_ms_sum) values (?, '00000000-0000-4000-8000-0000000000c1', 'tok-cli', ?, ?, ?, ?, ?, ?, ?)`,
    )
      .bind(hour, "gpt-4o-mini", 4, 1, 400, 100, 0.002, 800)
      .run();
    await putEvents(`${Date.now()}-a`, [
      event("ev-1", Date.now() - 2000),
      event("ev-2", Date.now() - 1000, 502),
    ]);
  });

  it("usage groups by model, as a table with totals and as JSON", async (ctx) => {
    if (!hasUsageApi) ctx.skip();
    const json = await cli(
      [
        "usage",
        "--project",
        "00000000-0000-4000-8000-0000000000c1",
        "--group-by",
        "model",
        "--from",
        "2d",
        "--json",
      ],
      env,
    );
    expect(json.code).toBe(0);
    const rows = (json.json() as { data: { model: string; requests: number }[] }).data;
    expect(rows).toEqual([expect.objectContaining({ model: "gpt-4o-mini", requests: 4 })]);
    const table = await cli(
      ["usage", "--project", "00000000-0000-4000-8000-0000000000c1", "--group-by", "model"],
      env,
    );
    expect(table.stdout).toContain("gpt-4o-mini");
    expect(table.stdout).toContain("total");
  });

  it("events tail prints recent events; --follow prints new ones as they arrive", async (ctx) => {
    if (!hasUsageApi) ctx.skip();
    const r = await cli(
      ["events", "tail", "--project", "00000000-0000-4000-8000-0000000000c1", "--json"],
      env,
    );
    expect((r.json() as { id: string }[]).map((e) => e.id)).toEqual(["ev-2", "ev-1"]);
    const table = await cli(["events", "tail", "--project", "00000000-0000-4000-8000-0000000000c1"], env);
    expect(table.stdout).toContain("/v1/chat/completions");
    expect(table.stdout).toContain("upstream_error");
    const one = await cli(["events", "tail", "--request-id", "ev-1", "--json"], env);
    expect((one.json() as { id: string }[]).map((e) => e.id)).toEqual(["ev-1"]);

    const child: ChildProcess = spawn(
      process.execPath,
      [
        BIN,
        "events",
        "tail",
        "--project",
        "00000000-0000-4000-8000-0000000000c1",
        "--follow",
        "--interval",
        "200ms",
        "--json",
      ],
      { cwd: ROOT, env: { ...process.env, ...env } },
    );
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const waitFor = async (id: string) => {
      for (let i = 0; i < 100 && !out.includes(id); i++) await new Promise((res) => setTimeout(res, 100));
      expect(out).toContain(id);
    };
    await waitFor("ev-2");
    await putEvents(`${Date.now()}-b`, [event("ev-3", Date.now())]);
    await waitFor("ev-3");
    child.kill("SIGINT");
    const code = await new Promise((res) => child.on("exit", res));
    expect(code).toBe(0);
    const ids = out
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids).toEqual(["ev-1", "ev-2", "ev-3"]);
  });
});

describe("the response cache from the command line", () => {
  type Cached = Project & {
    cache: { ttl_seconds: number; exclude: string[]; hits_skip_rate_limits: boolean } | null;
    cache_generation: number;
  };
  const name = `cli-cache-${Date.now()}`;

  it("turns it on, changes one setting at a time, purges and turns it off", async () => {
    const created = await cli(
      [
        ...["project", "create", "--name", name, "--api-key", "sk-cli-cache-key-1234567890"],
        ...["--cache-ttl", "600", "--cache-exclude", "/embeddings", "--json"],
      ],
      env,
    );
    expect(created.code).toBe(0);
    expect((created.json() as Cached).cache).toEqual({
      ttl_seconds: 600,
      exclude: ["/embeddings"],
      hits_skip_rate_limits: false,
    });
    // One flag changes one setting: the TTL and the exclusions stay.
    const skip = await cli(["project", "update", name, "--cache-hits-skip-rate-limits", "--json"], env);
    expect((skip.json() as Cached).cache).toEqual({
      ttl_seconds: 600,
      exclude: ["/embeddings"],
      hits_skip_rate_limits: true,
    });
    const purged = await cli(["project", "purge-cache", name], env);
    expect(purged.code).toBe(0);
    expect(purged.stdout).toContain("generation 1");
    const again = await cli(["project", "purge-cache", name, "--json"], env);
    expect(again.json()).toEqual({ cache_generation: 2 });
    const bad = await cli(["project", "update", name, "--cache-exclude", "/files"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("cache.exclude");
    const off = await cli(["project", "update", name, "--cache-off", "--json"], env);
    expect((off.json() as Cached).cache).toBeNull();
    const needsTtl = await cli(["project", "update", name, "--cache-exclude", "/embeddings"], env);
    expect(needsTtl.code).toBe(2);
    expect(needsTtl.stderr).toContain("--cache-ttl");
  });

  it("denies a token the cache, and allows it again", async () => {
    type CacheToken = Token & { cache: boolean };
    const t = (
      await cli(["token", "create", "--project", name, "--no-cache", "--json"], env)
    ).json() as CacheToken;
    expect(t.cache).toBe(false);
    const allowed = await cli(["token", "update", t.id, "--cache", "--json"], env);
    expect((allowed.json() as CacheToken).cache).toBe(true);
    const plain = (await cli(["token", "create", "--project", name, "--json"], env)).json() as CacheToken;
    expect(plain.cache).toBe(true);
  });
});
