// Showcase data for the screenshots (`npm run screenshots`): projects, tokens, 30 days of hourly usage,
// audit entries and request-log events, written into the gateway's local state before it starts.
import { randomBytes, randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { wrangler } from "./gateway";

const HOUR = 3_600_000;
const q = (v: string | number | null) =>
  v === null ? "null" : typeof v === "number" ? String(v) : `'${v.replaceAll("'", "''")}'`;
const hint = () => `wt_${randomBytes(3).toString("hex").slice(0, 4)}…${randomBytes(2).toString("hex")}`;

export async function seedShowcase(stateDir: string): Promise<void> {
  const now = Date.now();
  const hourNow = Math.floor(now / HOUR) * HOUR;
  const projects = [
    {
      id: randomUUID(),
      name: "mobile-app",
      desc: "iOS and Android chat assistant",
      models: [
        ["gpt-4o-mini", 0.6],
        ["gpt-4o", 0.1],
      ],
    },
    {
      id: randomUUID(),
      name: "research-notebooks",
      desc: "Students' Jupyter notebooks",
      models: [
        ["gpt-4o", 0.25],
        ["o4-mini", 0.1],
      ],
    },
    {
      id: randomUUID(),
      name: "ci-evals",
      desc: "Nightly evaluation jobs",
      models: [
        ["gpt-4o-mini", 0.3],
        ["text-embedding-3-small", 0.2],
      ],
    },
  ] as const;
  const sql: string[] = [];
  const tokens: { id: string; projectId: string; name: string }[] = [];
  // The first project shows the project-wide caps and the defaults for new tokens.
  const defaults = JSON.stringify({
    duration_minutes: 10_080,
    max_requests: 10_000,
    rate_limit: [{ requests: 60, window_seconds: 60 }],
    allowed_models: ["gpt-4o-mini", "gpt-4o"],
  });
  projects.forEach((p, i) => {
    const caps = i === 0 ? `250000, 500, ${q(defaults)}` : "null, null, null";
    sql.push(
      `insert into projects (id, name, provider, base_url, api_key_encrypted, api_key_hint, description, max_requests, max_cost_usd, token_defaults, created_at, updated_at) values (${q(p.id)}, ${q(p.name)}, 'openai', 'https://api.openai.com/v1', 'v1:AAAA:AAAA', 'sk-p…${randomBytes(2).toString("hex")}', ${q(p.desc)}, ${caps}, ${now - 40 * 24 * HOUR}, ${now - 3 * 24 * HOUR});`,
    );
  });
  const tokenSpecs: [number, string, number, number | null, boolean][] = [
    [0, "ios-build-1482", 20 * 24 * HOUR, 10_000, false],
    [0, "android-beta", 5 * HOUR, 2_000, false],
    [0, "demo-booth", 40 * 60_000, 200, false],
    [1, "alice-notebook", 6 * 24 * HOUR, 500, false],
    [1, "bob-notebook", 18 * HOUR, 500, false],
    [1, "leaked-in-slack", 3 * 24 * HOUR, null, true],
    [2, "nightly-evals", 300 * 24 * HOUR, null, false],
  ];
  for (const [pi, name, ttl, max, revoked] of tokenSpecs) {
    const id = randomUUID();
    const projectId = projects[pi]!.id;
    tokens.push({ id, projectId, name });
    const created = now - 10 * 24 * HOUR;
    const used = Math.floor(Math.random() * (max ?? 5000) * 0.6);
    sql.push(
      `insert into tokens (id, token_hash, token_hint, project_id, name, expires_at, is_active, revoked_at, max_requests, created_at, updated_at, first_used_at, last_used_at, request_count) values (${q(id)}, ${q(randomBytes(32).toString("hex"))}, ${q(hint())}, ${q(projectId)}, ${q(name)}, ${now + ttl}, ${revoked ? 0 : 1}, ${revoked ? now - 2 * HOUR : "null"}, ${max ?? "null"}, ${created}, ${created}, ${created}, ${now - Math.floor(Math.random() * 3 * HOUR)}, ${used});`,
    );
  }
  const prices: Record<string, number> = {
    "gpt-4o-mini": 0.3,
    "gpt-4o": 6,
    "o4-mini": 2.5,
    "text-embedding-3-small": 0.02,
  };
  for (let h = 0; h < 30 * 24; h++) {
    const hour = hourNow - h * HOUR;
    const daily = 0.55 + 0.45 * Math.sin(((new Date(hour).getUTCHours() - 8) / 24) * 2 * Math.PI);
    const trend = 1 + (30 * 24 - h) / (30 * 24);
    for (const [ti, t] of tokens.entries()) {
      const p = projects.find((x) => x.id === t.projectId)!;
      const [model, share] = p.models[ti % p.models.length]!;
      const requests = Math.round(40 * share * daily * trend * (0.7 + Math.random() * 0.6));
      if (requests === 0) continue;
      const errors = Math.random() < 0.15 ? Math.ceil(requests * Math.random() * 0.08) : 0;
      const prompt = requests * (300 + Math.floor(Math.random() * 400));
      const completion = model.startsWith("text-") ? 0 : requests * (80 + Math.floor(Math.random() * 200));
      const cost = ((prompt + completion * 3) / 1e6) * prices[model]!;
      sql.push(
        `insert into usage_hourly (hour, project_id, token_id, model, requests, errors, prompt_tokens, completion_tokens, cost_usd, duration_ms_sum) values (${hour}, ${q(t.projectId)}, ${q(t.id)}, ${q(model)}, ${requests}, ${errors}, ${prompt}, ${completion}, ${cost.toFixed(6)}, ${requests * 900});`,
      );
    }
  }
  const audit: [string, string, string, string | null, string][] = [
    ["admin", "project.create", "project", projects[0]!.id, "ok"],
    ["management_token", "project.create", "project", projects[1]!.id, "ok"],
    ["admin", "token.create", "token", tokens[0]!.id, "ok"],
    ["admin", "admin.login", "session", null, "wrong_password"],
    ["admin", "token.revoke", "token", tokens[5]!.id, "ok"],
    ["management_token", "project.update", "project", projects[2]!.id, "ok"],
  ];
  audit.forEach(([actor, action, type, target, result], i) => {
    sql.push(
      `insert into audit_log (at, actor, action, target_type, target_id, result, status, ip) values (${now - (audit.length - i) * 37 * 60_000}, ${q(actor)}, ${q(action)}, ${q(type)}, ${q(target)}, ${q(result)}, ${result === "ok" ? 200 : 401}, '198.51.100.7');`,
    );
  });
  const file = join(stateDir, "seed.sql");
  await writeFile(file, sql.join("\n"));
  await wrangler(stateDir, ["d1", "execute", "DB", "--local", "--file", file]);

  const events = Array.from({ length: 14 }, (_, i) => {
    const t = tokens[i % 5]!;
    const p = projects.find((x) => x.id === t.projectId)!;
    const model = p.models[i % p.models.length]![0];
    const failed = i === 3 || i === 9;
    const stream = i % 3 !== 0;
    const prompt = 200 + i * 37;
    const completion = failed ? 0 : 60 + i * 11;
    return {
      id: randomUUID(),
      timestamp: new Date(now - i * 83_000).toISOString(),
      token_id: t.id,
      project_id: p.id,
      method: "POST",
      path: model.startsWith("text-") ? "/v1/embeddings" : "/v1/chat/completions",
      status: failed ? (i === 3 ? 429 : 502) : 200,
      duration_ms: 300 + i * 97,
      ttfb_ms: 120 + i * 13,
      stream,
      model,
      usage: failed
        ? null
        : { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
      usage_source: failed ? "none" : i === 5 ? "estimated" : "upstream",
      cost_usd: failed ? null : ((prompt + completion * 3) / 1e6) * prices[model]!,
      error: failed ? (i === 3 ? "rate_limit_exceeded" : "upstream_error") : null,
      aborted: false,
      upstream_request_id: failed ? null : `req_${randomBytes(6).toString("hex")}`,
      colo: "AMS",
      user_agent: "OpenAI/Python 1.99.0",
    };
  });
  const iso = new Date(now).toISOString();
  const key = `events/dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/showcase.jsonl`;
  const eventsFile = join(stateDir, "events.jsonl");
  await writeFile(eventsFile, `${events.map((e) => JSON.stringify(e)).join("\n")}\n`);
  await wrangler(stateDir, [
    "r2",
    "object",
    "put",
    `llm-proxy-events/${key}`,
    "--local",
    "--file",
    eventsFile,
  ]);
}
