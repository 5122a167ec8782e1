declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** The mock upstream of test/support/mock-upstream.ts, e.g. `http://127.0.0.1:41234` (no `/v1`). */
    MOCK_UPSTREAM_URL: string;
    /** A loopback URL where nothing listens: connections to it are refused. */
    DEAD_UPSTREAM_URL: string;
  }
}
