import { env } from "cloudflare:workers";
import {
  createProject,
  createToken,
  json,
  manage,
  type ProjectJson,
  type TokenJson,
  uniqueName,
} from "../helpers";
import { upstreamBase } from "./mock-types";

export type UpstreamSpec = {
  name: string;
  /** Mock behaviour (see upstreamBase), or a full base URL. */
  mock?: Record<string, string | number>;
  base_url?: string;
  api_key?: string;
  keys?: { api_key: string; weight?: number }[];
  models?: string[] | null;
  first_byte_timeout_ms?: number;
  retry_on?: number[];
  provider?: string;
};

export type UpstreamJson = {
  id: string;
  name: string;
  keys: { id: string; hint: string; failing: boolean }[];
};

/** A per-test name for the mock's upstream, so counts of what reached it are this test's alone. */
export const mockName = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;

export const mockBase = (behaviour: Record<string, string | number>) =>
  upstreamBase(env.MOCK_UPSTREAM_URL, behaviour);

/** Adds an upstream to a project through the management API. */
export async function addUpstream(projectId: string, spec: UpstreamSpec): Promise<UpstreamJson> {
  const { mock, ...rest } = spec;
  const body = {
    provider: "openai-compatible",
    base_url: mock ? mockBase(mock) : undefined,
    ...(rest.keys ? {} : { api_key: "sk-upstream-secret-key-0123456789" }),
    ...rest,
  };
  const res = await manage(`/projects/${projectId}/upstreams`, { method: "POST", body });
  if (res.status !== 201) throw new Error(`addUpstream: ${res.status} ${await res.text()}`);
  return json<UpstreamJson>(res);
}

export async function addAlias(
  projectId: string,
  name: string,
  targets: { upstream: string; model: string; weight?: number }[],
  strategy: "ordered" | "weighted" = "ordered",
): Promise<{ id: string }> {
  const res = await manage(`/projects/${projectId}/aliases`, {
    method: "POST",
    body: { name, targets, strategy },
  });
  if (res.status !== 201) throw new Error(`addAlias: ${res.status} ${await res.text()}`);
  return json<{ id: string }>(res);
}

/**
 * A project whose upstreams are the given ones (its `default` upstream is removed), an alias `smart`
 * over them in order (first model gpt-4o-mini, second gpt-4o), and a token.
 */
export async function routedProject(
  upstreams: UpstreamSpec[],
  tokenExtra: Record<string, unknown> = {},
  alias: { name: string; models?: string[] } = { name: "smart" },
): Promise<{ project: ProjectJson; token: TokenJson; upstreams: UpstreamJson[] }> {
  const project = await createProject({
    name: uniqueName("routed"),
    base_url: `${env.MOCK_UPSTREAM_URL}/v1`,
  });
  const list = await json<{ data: { id: string }[] }>(await manage(`/projects/${project.id}/upstreams`));
  const added: UpstreamJson[] = [];
  for (const spec of upstreams) added.push(await addUpstream(project.id, spec));
  await manage(`/upstreams/${list.data[0]!.id}`, { method: "DELETE" });
  const models = alias.models ?? ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"];
  await addAlias(
    project.id,
    alias.name,
    upstreams.map((u, i) => ({ upstream: u.name, model: models[i] ?? "gpt-4o-mini" })),
  );
  const token = await createToken(project.id, tokenExtra);
  return { project, token, upstreams: added };
}

export async function mockSaw(upstream: string): Promise<number> {
  const res = await fetch(
    `${env.MOCK_UPSTREAM_URL}/__mock/requests?upstream=${encodeURIComponent(upstream)}`,
  );
  return ((await res.json()) as unknown[]).length;
}
