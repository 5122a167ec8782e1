import { env } from "cloudflare:workers";
import OpenAI from "openai";
import { CAPABILITIES } from "../../src/ownership/capabilities";
import { BASE, createToken, manage, type TokenJson } from "../helpers";
import { mockProjectToken, workerFetch } from "./proxy";

/** The official SDK with a withering token, its requests going to the worker. Never retries: a test sees each answer. */
export function sdkFor(token: string, headers: Record<string, string> = {}): OpenAI {
  return new OpenAI({
    apiKey: token,
    baseURL: `${BASE}/v1`,
    maxRetries: 0,
    defaultHeaders: headers,
    fetch: (input, init) => workerFetch(input as RequestInfo, init as RequestInit),
  });
}

export type ProjectWithTokens = { projectId: string; tokens: TokenJson[]; sdks: OpenAI[] };

/**
 * A project on the mock upstream (the same upstream key as every other such project: one upstream account,
 * shared) with every account-wide capability enabled unless told otherwise, and `n` tokens.
 */
export async function projectWith(
  n = 1,
  project: Record<string, unknown> = { capabilities: [...CAPABILITIES] },
): Promise<ProjectWithTokens> {
  const { project: p, token } = await mockProjectToken({}, project);
  const tokens = [token];
  for (let i = 1; i < n; i++) tokens.push(await createToken(p.id));
  return { projectId: p.id, tokens, sdks: tokens.map((t) => sdkFor(t.token)) };
}

export async function patchProject(id: string, body: Record<string, unknown>): Promise<void> {
  const res = await manage(`/projects/${id}`, { method: "PATCH", body });
  if (res.status !== 200) throw new Error(`patch: ${res.status} ${await res.text()}`);
}

/** The status an SDK call ended with (200 when it resolved). */
export async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err.status ?? 0;
    throw err;
  }
}

/** The error envelope of a failed SDK call. */
export async function errorOf(
  call: Promise<unknown>,
): Promise<{ status: number; code: unknown; param: unknown; message: string }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof OpenAI.APIError) {
      const e = err.error as { code?: unknown; param?: unknown } | undefined;
      return { status: err.status ?? 0, code: e?.code, param: e?.param, message: err.message };
    }
    throw err;
  }
  throw new Error("the call succeeded");
}

export const registryStub = (projectId: string) =>
  env.OBJECT_REGISTRY.get(env.OBJECT_REGISTRY.idFromName(projectId));
