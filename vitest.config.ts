import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { writeRanks } from "./scripts/tiktoken-ranks.mjs";

// Tests run inside workerd against the real local D1, Durable Objects, Queue and R2 of wrangler.toml.
// A mock OpenAI upstream (a real Node HTTP server, test/support/mock-upstream.ts) is started once by the
// global setup; its URL reaches the tests as the MOCK_UPSTREAM_URL binding.
export default defineConfig(async () => {
  // The tokenizer's rank tables live beside the source as separate modules (see wrangler.toml).
  writeRanks();
  const migrations = await readD1Migrations("./migrations");
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // A second, empty D1 for the migration test (test/migrations.test.ts): migrations applied step by step.
          d1Databases: { MIGRATION_TEST_DB: "migration-test" },
          // The usage queue's consumer as in wrangler.toml, but a batch waits 1 s for company instead of 5:
          // many tests wait for their events in R2, and the suite's wall time is mostly that waiting.
          queueConsumers: {
            "llm-proxy-usage": {
              maxBatchSize: 100,
              maxBatchTimeout: 1,
              maxRetries: 5,
              retryDelay: 10,
              deadLetterQueue: "llm-proxy-usage-dlq",
            },
          },
          bindings: {
            TEST_MIGRATIONS: migrations,
            MOCK_UPSTREAM_URL: inject("mockUpstreamUrl"),
            DEAD_UPSTREAM_URL: inject("deadUpstreamUrl"),
            MANAGEMENT_TOKEN: "test-management-token-0123456789abcdef",
            // 32 zero-bytes-but-one key, base64: only for tests.
            ENCRYPTION_KEY: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
            ADMIN_PASSWORD: "test-admin-password",
            SESSION_SECRET: "test-session-secret-test-session-secret",
            TOKEN_SIGNING_KEY: "test-token-signing-key-test-token-signing-key",
            // A small response-cache entry limit, so the test of it needs no megabyte answers.
            CACHE_MAX_ENTRY_BYTES: "65536",
          },
        },
      })),
    ],
    test: {
      // Three files at a time on two cores: most of a test's time is waiting (for the queue's batches, the
      // mock upstream's timeouts, a cool-down), so Vitest's default here (cores − 1 = one file at a time)
      // left the machine two-thirds idle — the suite took 11.5 min at one, 5 at three.
      maxWorkers: 3,
      globalSetup: ["./test/global-setup.ts"],
      setupFiles: ["./test/setup.ts"],
      include: ["test/**/*.test.ts"],
    },
  };
});
