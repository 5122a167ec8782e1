import { defineConfig } from "vitest/config";

// Real-browser tests of the admin pages: Node drives Debian's Chromium (playwright-core) against the
// gateway under `wrangler dev`. Separate from the workerd suite (`npm test`); run by `npm run test:browser`.
export default defineConfig({
  test: {
    include: ["test-browser/**/*.test.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
