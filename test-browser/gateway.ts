// Starts the gateway under `wrangler dev` (workerd with local D1, Durable Objects, Queue and R2) on a free
// loopback port, with its own throw-away state and secrets, for the browser tests.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = new URL("..", import.meta.url).pathname;
const WRANGLER = join(ROOT, "node_modules/.bin/wrangler");
// Wrangler reads these to skip its telemetry and update checks: only loopback network here.
const ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1" };

export const SECRETS = {
  MANAGEMENT_TOKEN: "browser-test-management-token-0123456789",
  ENCRYPTION_KEY: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
  ADMIN_PASSWORD: "browser-test-password",
  SESSION_SECRET: "browser-test-session-secret-0123456789abcdef",
  TOKEN_SIGNING_KEY: "browser-test-token-signing-key-0123456789abcdef",
};

export type Gateway = { url: string; stateDir: string; stop(): Promise<void> };

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a wrangler command against the gateway's local state (migrations, seeding). */
export async function wrangler(stateDir: string, args: string[]): Promise<string> {
  const { stdout } = await run(WRANGLER, [...args, "--persist-to", stateDir], { cwd: ROOT, env: ENV });
  return stdout;
}

export async function startGateway(
  opts: { beforeStart?: (stateDir: string) => Promise<void> } = {},
): Promise<Gateway> {
  const stateDir = await mkdtemp(join(tmpdir(), "llm-proxy-browser-"));
  await wrangler(stateDir, ["d1", "migrations", "apply", "DB", "--local"]);
  await opts.beforeStart?.(stateDir);
  const port = await freePort();
  const vars = Object.entries(SECRETS).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const child: ChildProcess = spawn(
    WRANGLER,
    [
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(await freePort()),
      "--persist-to",
      stateDir,
      "--show-interactive-dev-session=false",
      "--log-level",
      "warn",
      ...vars,
    ],
    { cwd: ROOT, env: ENV, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      await new Promise((r) => child.once("exit", r));
    }
    await rm(stateDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${output}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return { url, stateDir, stop };
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`wrangler dev did not answer within 60 s:\n${output}`);
}
