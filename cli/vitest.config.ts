import { defineConfig } from "vitest/config";

// The command line's tests run in Node (not workerd): they start the gateway from wrangler.toml on a
// local port and run the built `llm-proxy` bin against it, as an operator would.
export default defineConfig({
  test: {
    root: "cli",
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 90_000,
    fileParallelism: false,
  },
});
