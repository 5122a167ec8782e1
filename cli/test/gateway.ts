import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createTestHarness, type TestHarness } from "wrangler";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = `${ROOT}cli/dist/llm-proxy.cjs`;
export const MANAGEMENT_TOKEN = "cli-test-management-token-0123456789ab";

export type Gateway = { url: string; server: TestHarness; close(): Promise<void> };

/** The real worker from wrangler.toml (D1, DOs, Queue, R2 in Miniflare) on a local port, migrations applied. */
export async function startGateway(): Promise<Gateway> {
  const server = createTestHarness({
    root: ROOT,
    workers: [
      {
        configPath: "./wrangler.toml",
        secrets: {
          MANAGEMENT_TOKEN,
          ENCRYPTION_KEY: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
          ADMIN_PASSWORD: "cli-test-admin-password",
          SESSION_SECRET: "cli-test-session-secret-cli-test-session-secret",
          TOKEN_SIGNING_KEY: "cli-test-token-signing-key-cli-test-token-signing-key",
        },
      },
    ],
  });
  const { url } = await server.listen();
  await server.getWorker().applyD1Migrations("DB");
  return { url: url.origin, server, close: () => server.close() };
}

export type Run = { code: number; stdout: string; stderr: string; json: () => unknown };

/** Runs the built bin in a child process (own cwd, no ambient config), like a shell would. */
export function cli(
  args: string[],
  env: Record<string, string> = {},
  opts: { input?: string; cwd?: string } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd: opts.cwd ?? ROOT,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: "/nonexistent-home",
          XDG_CONFIG_HOME: "/nonexistent-config",
          NO_COLOR: "1",
          ...env,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 99) : 0;
        resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) });
      },
    );
    child.stdin?.end(opts.input ?? "");
  });
}
