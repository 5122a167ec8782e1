import { ApiError } from "../lib/errors";
import { isObject } from "../lib/json";
import { type ProviderSettings, providerFor } from "../providers";
import { isolateHealth } from "../routing/health";
import { modelListMatches } from "../routing/model-match";
import { aliasOf } from "../routing/resolve";
import type { Routing, UpstreamConfig } from "../routing/types";
import type { Admitted } from "../tokens/admission";
import { allowanceHeaders } from "../tokens/allowance";
import { recordRequest } from "../usage/record";
import { addCors } from "./cors";
import { upstreamKey } from "./isolate-caches";
import { type RequestFacts, requestDraft } from "./request-facts";

/** Time allowed to each upstream's own model list when the gateway builds the token's. */
const LIST_TIMEOUT_MS = 5_000;

type ModelEntry = { id: string; object: "model"; created: number; owned_by: string };
/** An entry and, from Anthropic's list, its display name (Anthropic's shape has one, OpenAI's does not). */
type Listed = ModelEntry & { displayName?: string };

/** The dialects whose clients list models at `GET /v1/models` (Gemini's listing is not forwarded). */
type ListingDialect = "openai" | "anthropic";

export const isModelListing = (path: string): boolean => path === "/models" || /^\/models\/[^/]+$/.test(path);

/** Whether the token sees the project's upstream's list as it is: one upstream serving any model, no aliases, no lists. */
function passesThrough(routing: Routing, admitted: Admitted): boolean {
  return (
    routing.upstreams.length <= 1 &&
    routing.aliases.length === 0 &&
    (routing.upstreams[0]?.models ?? null) === null &&
    admitted.allowedModels.token === null &&
    admitted.allowedModels.project === null
  );
}

const allowed = (admitted: Admitted, name: string) =>
  modelListMatches(admitted.allowedModels.token, name) &&
  modelListMatches(admitted.allowedModels.project, name);

/**
 * `GET /v1/models` answered by the gateway: what the token may use — the project's aliases and the models
 * its upstreams serve (their own lists, filtered by each upstream's `models`, or the exact ids listed), all
 * filtered by the token's and the project's allowed models. `GET /v1/models/{id}` of an alias describes the
 * alias; of a model the token was not given, it is 404 `model_not_found`. null: the request goes upstream as
 * any other (a project with one upstream serving anything, no aliases and no allowed lists gets its
 * upstream's list unchanged; an allowed model id that is not an alias). An Anthropic client's listing
 * (`anthropic-version`) is the same, from the upstreams that serve its dialect, in Anthropic's shape: a
 * restricted token's listing never passes through to an upstream that would show it every model.
 */
export async function listModels(
  env: Env,
  admitted: Admitted,
  routing: Routing,
  request: Request,
  path: string,
  dialect: ListingDialect,
): Promise<Response | null> {
  if (path !== "/models") {
    let id: string;
    try {
      id = decodeURIComponent(path.slice("/models/".length));
    } catch {
      return null;
    }
    // A model the token was not given is not described either (the upstream would tell what it is).
    if (!allowed(admitted, id)) throw notGiven(id);
    if (!aliasOf(routing, id)) return null;
    const alias: Listed = { id, object: "model", created: 0, owned_by: "llm-proxy-alias" };
    return json(dialect === "anthropic" ? anthropicModel(alias) : alias);
  }
  if (passesThrough(routing, admitted)) return null;
  // An Anthropic client's list: the upstreams that serve its dialect (none: routed as before, a 404).
  const upstreams =
    dialect === "openai"
      ? routing.upstreams
      : routing.upstreams.filter((u) => providerFor(u.provider)?.serves(dialect, "/models") === true);
  if (upstreams.length === 0) return null;
  const entries = new Map<string, Listed>();
  for (const a of routing.aliases) {
    if (allowed(admitted, a.name))
      entries.set(a.name, { id: a.name, object: "model", created: 0, owned_by: "llm-proxy-alias" });
  }
  const lists = await Promise.all(upstreams.map((u) => upstreamModels(env, u, request.signal)));
  upstreams.forEach((u, i) => {
    const listed = lists[i];
    const ids: Listed[] = listed
      ? listed.filter((m) => modelListMatches(u.models, m.id))
      : (u.models ?? [])
          .filter((m) => !m.endsWith("*"))
          .map((id) => ({ id, object: "model" as const, created: 0, owned_by: u.name }));
    for (const m of ids) if (!entries.has(m.id) && allowed(admitted, m.id)) entries.set(m.id, m);
  });
  const data = [...entries.values()];
  if (dialect === "openai") return json({ object: "list", data: data.map(({ displayName: _, ...m }) => m) });
  const models = data.map(anthropicModel);
  return json({
    data: models,
    has_more: false,
    first_id: models[0]?.id ?? null,
    last_id: models.at(-1)?.id ?? null,
  });
}

/** An entry in Anthropic's shape (`GET /v1/models` with `anthropic-version`). */
function anthropicModel(m: Listed) {
  const createdAt = new Date(m.created * 1000).toISOString().replace(".000Z", "Z");
  return { type: "model", id: m.id, display_name: m.displayName ?? m.id, created_at: createdAt };
}

/** An upstream's own model list, or null when it could not be had (no provider, breaker open, failure). */
async function upstreamModels(
  env: Env,
  upstream: UpstreamConfig,
  client: AbortSignal | undefined,
): Promise<Listed[] | null> {
  const provider = providerFor(upstream.provider);
  // An upstream that speaks OpenAI's or Anthropic's API natively lists its models in that API's shape.
  const native = provider?.dialect;
  if (!provider || (native !== "openai" && native !== "anthropic")) return null;
  const now = Date.now();
  const breaker = isolateHealth.peekBreaker(upstream.id);
  if (breaker?.isOpen && now < breaker.openUntil) return null;
  const key = isolateHealth.chooseKey(upstream, now, null);
  if (key === undefined) return null;
  try {
    const apiKey = key ? await upstreamKey(env, key.keyEncrypted) : "";
    const signals = [AbortSignal.timeout(LIST_TIMEOUT_MS), ...(client ? [client] : [])];
    const res = await provider.send(
      {
        upstreamId: upstream.id,
        keyId: key?.id ?? null,
        baseUrl: upstream.baseUrl,
        apiKey,
        settings: upstream.settings as ProviderSettings | null,
      },
      {
        method: "GET",
        dialect: native,
        path: "/models",
        // Anthropic's list comes in pages of 20 unless asked for more (1000 is its most).
        search: native === "anthropic" ? "?limit=1000" : "",
        headers: new Headers({ accept: "application/json" }),
        body: null,
        json: null,
        model: null,
        signal: AbortSignal.any(signals),
      },
    );
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    const body: unknown = await res.json();
    if (!isObject(body) || !Array.isArray(body.data)) return null;
    return body.data.flatMap((m): Listed[] => {
      if (!isObject(m) || typeof m.id !== "string") return [];
      // OpenAI's `created` (seconds) or Anthropic's `created_at` (RFC 3339).
      const at = typeof m.created_at === "string" ? Date.parse(m.created_at) / 1000 : Number.NaN;
      const created = typeof m.created === "number" ? m.created : Number.isFinite(at) ? Math.floor(at) : 0;
      const entry: Listed = {
        id: m.id,
        object: "model",
        created,
        owned_by: typeof m.owned_by === "string" ? m.owned_by : upstream.name,
      };
      if (typeof m.display_name === "string") entry.displayName = m.display_name;
      return [entry];
    });
  } catch {
    return null;
  }
}

const notGiven = (id: string) =>
  new ApiError(404, "model_not_found", `The model '${id}' does not exist or this token may not use it.`, {
    param: "model",
  });

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });
}

/** The gateway's model answer, with the request's headers and event like any other answer. */
export function finishListing(
  res: Response,
  ex: {
    env: Env;
    ctx: ExecutionContext;
    facts: RequestFacts;
    admitted: Admitted;
    objectKey: string;
    origin: string | null;
  },
): Response {
  const allowance = allowanceHeaders(ex.admitted);
  res.headers.set("x-request-id", ex.facts.requestId);
  for (const name in allowance) res.headers.set(name, allowance[name]!);
  addCors(res.headers, ex.origin, Object.keys(allowance));
  const outcome = { status: res.status, error: null, ttfbMs: Date.now() - ex.facts.started, aborted: false };
  recordRequest(ex.env, ex.ctx, requestDraft(ex.facts, outcome), ex.objectKey);
  return res;
}
