import { exports } from "cloudflare:workers";

export const MANAGEMENT_TOKEN = "test-management-token-0123456789abcdef";
export const BASE = "http://gateway.test";

type Init = { method?: string; body?: unknown; headers?: Record<string, string>; rawBody?: string };

/** Calls the worker through its default export, like a client would. */
export async function call(path: string, init: Init = {}): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined = init.rawBody;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers["content-type"] ??= "application/json";
  }
  return exports.default.fetch(
    new Request(`${BASE}${path}`, { method: init.method ?? "GET", headers, body }),
  );
}

/** Calls the management API with the management token. */
export function manage(path: string, init: Init = {}): Promise<Response> {
  return call(`/manage${path}`, {
    ...init,
    headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, ...init.headers },
  });
}

export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

let counter = 0;
export const uniqueName = (prefix = "project") => `${prefix}-${Date.now()}-${++counter}`;

export type ProjectJson = { id: string; name: string; api_key_hint: string; is_active: boolean };
export type TokenJson = {
  id: string;
  token: string;
  token_hint: string;
  status: string;
  expires_at: string;
  request_count: number;
  remaining_requests: number | null;
};

export async function createProject(extra: Record<string, unknown> = {}): Promise<ProjectJson> {
  const res = await manage("/projects", {
    method: "POST",
    body: { name: uniqueName(), api_key: "sk-test-upstream-key-1234567890", ...extra },
  });
  if (res.status !== 201) throw new Error(`createProject: ${res.status} ${await res.text()}`);
  return json<ProjectJson>(res);
}

export async function createToken(
  projectId: string,
  extra: Record<string, unknown> = {},
): Promise<TokenJson> {
  const res = await manage("/tokens", { method: "POST", body: { project_id: projectId, ...extra } });
  if (res.status !== 201) throw new Error(`createToken: ${res.status} ${await res.text()}`);
  return json<TokenJson>(res);
}
