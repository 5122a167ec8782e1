import { env, exports } from "cloudflare:workers";
import { BASE, createProject, createToken, type ProjectJson, type TokenJson } from "../helpers";
import type { RecordedRequest } from "./mock-types";

export const UPSTREAM_KEY = "sk-upstream-secret-key-0123456789";

/** A project whose base_url is the mock upstream, and a token of it. */
export async function mockProjectToken(
  tokenExtra: Record<string, unknown> = {},
  projectExtra: Record<string, unknown> = {},
): Promise<{ project: ProjectJson; token: TokenJson }> {
  const project = await createProject({
    base_url: `${env.MOCK_UPSTREAM_URL}/v1`,
    api_key: UPSTREAM_KEY,
    ...projectExtra,
  });
  const token = await createToken(project.id, tokenExtra);
  return { project, token };
}

/** A fetch that goes to the worker, for SDKs and raw calls alike. */
export const workerFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> =>
  exports.default.fetch(new Request(input, init));

export type ProxyInit = {
  method?: string;
  token?: string;
  headers?: Record<string, string>;
  json?: unknown;
  body?: BodyInit;
  signal?: AbortSignal;
};

/** Calls `/v1<path>` on the worker with a withering token. */
export function proxy(path: string, init: ProxyInit = {}): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers["content-type"] ??= "application/json";
  }
  return workerFetch(`${BASE}/v1${path}`, {
    method: init.method ?? (body === undefined ? "GET" : "POST"),
    headers,
    body,
    signal: init.signal,
  });
}

/** What the mock upstream received with this tag. */
export async function upstreamSaw(tag: string): Promise<RecordedRequest[]> {
  const res = await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests?tag=${encodeURIComponent(tag)}`);
  return (await res.json()) as RecordedRequest[];
}

export async function allUpstreamRequests(): Promise<RecordedRequest[]> {
  return (await (await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests`)).json()) as RecordedRequest[];
}

export const newTag = () => crypto.randomUUID();

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check` holds (the mock sees aborts a moment after the gateway acts). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error("condition not met in time");
}
