declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** An empty D1 for test/migrations.test.ts. */
    MIGRATION_TEST_DB: D1Database;
    /** The mock upstream of test/support/mock-upstream.ts, e.g. `http://127.0.0.1:41234` (no `/v1`). */
    MOCK_UPSTREAM_URL: string;
    /** A loopback URL where nothing listens: connections to it are refused. */
    DEAD_UPSTREAM_URL: string;
  }
}

/** Vite's build-time file glob, as test/admin-structure.test.ts uses it: sources read as text. */
interface ImportMeta {
  glob<T>(pattern: string, options: { query: "?raw"; import: "default"; eager: true }): Record<string, T>;
}
