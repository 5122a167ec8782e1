import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { usageError } from "./errors";

export const DEFAULT_URL = "http://localhost:8787";

/** ~/.config/llm-proxy/config.json (or $XDG_CONFIG_HOME/llm-proxy/config.json). */
export type ConfigFile = { url?: string; management_token?: string };

export type Connection = {
  url: string;
  token: string | undefined;
  /** Where the token came from, for error hints. */
  tokenSource: string;
};

export type GlobalOptions = {
  url?: string;
  managementToken?: string;
  config?: string;
  json?: boolean;
};

export function configPath(explicit?: string): string {
  if (explicit) return explicit;
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(base, "llm-proxy", "config.json");
}

function readConfigFile(path: string, explicit: boolean): ConfigFile {
  if (!existsSync(path)) {
    if (explicit) throw usageError(`Config file not found: ${path}`);
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new Error("not an object");
    return parsed as ConfigFile;
  } catch (err) {
    throw usageError(`Cannot read config file ${path}: ${(err as Error).message}`);
  }
}

/** MANAGEMENT_TOKEN from ./.dev.vars, the file `npm run dev` writes with the local gateway's secrets. */
export function devVarsToken(cwd = process.cwd()): string | undefined {
  const path = join(cwd, ".dev.vars");
  if (!existsSync(path)) return undefined;
  const line = readFileSync(path, "utf8")
    .split(/\r?\n/)
    .find((l) => /^\s*MANAGEMENT_TOKEN\s*=/.test(l));
  const value = line
    ?.slice(line.indexOf("=") + 1)
    .trim()
    .replace(/^(["'])(.*)\1$/, "$2");
  return value || undefined;
}

export function isLocal(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === "localhost" || host === "127.0.0.1" || host === "[::1]" || host === "::1";
  } catch {
    return false;
  }
}

/** Flags win over environment variables, which win over the config file; .dev.vars only for localhost. */
export function resolveConnection(opts: GlobalOptions, env = process.env): Connection {
  const file = readConfigFile(configPath(opts.config), Boolean(opts.config));
  const url = (opts.url ?? env.LLM_PROXY_URL ?? file.url ?? DEFAULT_URL).replace(/\/+$/, "");
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error();
  } catch {
    throw usageError(`Not an http(s) URL: '${url}'`, "Use e.g. --url https://llm-proxy.example.workers.dev");
  }
  if (/\/(v1|manage)$/.test(url)) {
    throw usageError(
      `--url is the gateway's origin, without /v1 or /manage: '${url}'`,
      `Use --url ${url.replace(/\/(v1|manage)$/, "")}`,
    );
  }
  if (opts.managementToken) return { url, token: opts.managementToken, tokenSource: "--management-token" };
  if (env.LLM_PROXY_MANAGEMENT_TOKEN) {
    return { url, token: env.LLM_PROXY_MANAGEMENT_TOKEN, tokenSource: "LLM_PROXY_MANAGEMENT_TOKEN" };
  }
  if (file.management_token) {
    return { url, token: file.management_token, tokenSource: configPath(opts.config) };
  }
  const local = isLocal(url) ? devVarsToken() : undefined;
  if (local) return { url, token: local, tokenSource: "./.dev.vars" };
  return { url, token: undefined, tokenSource: "none" };
}
