import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

// Migrations applied one by one to an empty D1 with data in between, as a deployed database meets them.
describe("migrations", () => {
  it("0005_routing turns each project's provider, base URL, settings and key into its `default` upstream", async () => {
    const db = env.MIGRATION_TEST_DB;
    const before = env.TEST_MIGRATIONS.filter((m) => !m.name.includes("routing"));
    const rest = env.TEST_MIGRATIONS.filter((m) => m.name.includes("routing"));
    expect(rest).toHaveLength(1);
    await applyD1Migrations(db, before);
    await db.batch([
      db
        .prepare(
          "insert into projects (id, name, provider, base_url, api_key_encrypted, api_key_hint) values (?, ?, ?, ?, ?, ?)",
        )
        .bind("p1", "one", "openai", "https://api.openai.com/v1", "v1:iv:sealed-one", "sk-o…0001"),
      db
        .prepare(
          "insert into projects (id, name, provider, base_url, api_key_encrypted, api_key_hint) values (?, ?, ?, ?, ?, ?)",
        )
        .bind("p2", "two", "openai-compatible", "http://127.0.0.1:11434/v1", "v1:iv:sealed-two", "sk-t…0002"),
      db
        .prepare(
          "insert into tokens (id, token_hash, token_hint, project_id, expires_at) values (?, ?, ?, ?, ?)",
        )
        .bind("t1", "hash", "hint", "p1", Date.now() + 60_000),
    ]);
    await applyD1Migrations(db, rest);

    const upstreams = (
      await db.prepare("select * from upstreams order by project_id").all<Record<string, unknown>>()
    ).results;
    expect(upstreams).toEqual([
      expect.objectContaining({
        project_id: "p1",
        name: "default",
        provider: "openai",
        base_url: "https://api.openai.com/v1",
        position: 0,
        is_active: 1,
      }),
      expect.objectContaining({
        project_id: "p2",
        name: "default",
        provider: "openai-compatible",
        base_url: "http://127.0.0.1:11434/v1",
      }),
    ]);
    for (const u of upstreams)
      expect(String(u.id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const keys = (
      await db
        .prepare(
          "select u.project_id, k.* from upstream_keys k join upstreams u on u.id = k.upstream_id order by u.project_id",
        )
        .all<Record<string, unknown>>()
    ).results;
    // Ciphertexts and hints copied as they are: the same ENCRYPTION_KEY opens them.
    expect(keys).toEqual([
      expect.objectContaining({
        project_id: "p1",
        key_encrypted: "v1:iv:sealed-one",
        key_hint: "sk-o…0001",
        weight: 1,
        is_active: 1,
        failing_at: null,
      }),
      expect.objectContaining({ project_id: "p2", key_encrypted: "v1:iv:sealed-two", key_hint: "sk-t…0002" }),
    ]);
    const columns = (await db.prepare("pragma table_info(projects)").all<{ name: string }>()).results.map(
      (c) => c.name,
    );
    expect(columns).not.toContain("api_key_encrypted");
    expect(columns).not.toContain("base_url");
    expect(columns).not.toContain("provider_settings");
    // Nothing else went: the token is still there.
    expect((await db.prepare("select count(*) as n from tokens").first<{ n: number }>())?.n).toBe(1);
  });
});
