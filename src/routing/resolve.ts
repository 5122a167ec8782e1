import { modelListMatches } from "./model-match";
import type { AliasConfig, Routing, Target, UpstreamConfig } from "./types";

/** Whether an upstream's provider can serve this request (its dialect and endpoint): the proxy decides. */
export type Serves = (upstream: UpstreamConfig) => boolean;

const everything: Serves = () => true;

const aliasIndex = new WeakMap<Routing, Map<string, AliasConfig>>();
const upstreamIndex = new WeakMap<Routing, Map<string, UpstreamConfig>>();

/** The alias of that name, looked up in a map built once per routing table. */
export function aliasOf(routing: Routing, name: string): AliasConfig | undefined {
  if (routing.aliases.length === 0) return undefined;
  let index = aliasIndex.get(routing);
  if (!index) {
    index = new Map(routing.aliases.map((a) => [a.name, a]));
    aliasIndex.set(routing, index);
  }
  return index.get(name);
}

function upstreamNamed(routing: Routing, name: string): UpstreamConfig | undefined {
  let index = upstreamIndex.get(routing);
  if (!index) {
    index = new Map(routing.upstreams.map((u) => [u.name, u]));
    upstreamIndex.set(routing, index);
  }
  return index.get(name);
}

/**
 * Items in a weighted random order without replacement (Efraimidis–Spirakis: sort by u^(1/w)): the first is
 * picked with probability weight / total, the next among the rest likewise. Weight 0 comes last, in order.
 */
export function weightedOrder<T>(
  items: readonly T[],
  weight: (item: T) => number,
  random: () => number,
): T[] {
  if (items.length <= 1) return [...items];
  const keyed = items.map((item, i) => {
    const w = weight(item);
    return { item, i, key: w > 0 ? random() ** (1 / w) : -1 };
  });
  keyed.sort((a, b) => b.key - a.key || a.i - b.i);
  return keyed.map((k) => k.item);
}

/**
 * Where a request for `model` may go, in the order to try: an alias's targets (in order, or by weight),
 * else every upstream whose models match, by position (the first serves, the others are fallbacks). A
 * request that names no model (files, model listings, unread bodies) goes to the first upstream that
 * serves it and nowhere else: what it refers to lives on that upstream. Upstreams whose provider cannot
 * serve the request are left out; an empty list means no route.
 */
export function resolveRoute(
  routing: Routing,
  model: string | null,
  serves: Serves = everything,
  random: () => number = Math.random,
): Target[] {
  if (model === null) {
    const first = routing.upstreams.find(serves);
    return first ? [{ upstream: first, model: null }] : [];
  }
  const alias = aliasOf(routing, model);
  if (alias) {
    const targets =
      alias.strategy === "weighted"
        ? weightedOrder(alias.targets, (t) => t.weight ?? 1, random)
        : alias.targets;
    const out: Target[] = [];
    for (const t of targets) {
      const upstream = upstreamNamed(routing, t.upstream);
      if (upstream && serves(upstream)) out.push({ upstream, model: t.model });
    }
    return out;
  }
  const out: Target[] = [];
  for (const upstream of routing.upstreams) {
    if (serves(upstream) && modelListMatches(upstream.models, model)) out.push({ upstream, model });
  }
  return out;
}

/**
 * The models a request for `model` may be served by (an alias's target models, else the model itself), or
 * null when no upstream or alias target could serve it. Used where the provider is not known (the token's
 * object): to refuse an unroutable model before counting, and to reserve for the priciest target.
 */
export function routeModels(routing: Routing, model: string): string[] | null {
  const alias = aliasOf(routing, model);
  if (alias) {
    const models = alias.targets.filter((t) => upstreamNamed(routing, t.upstream)).map((t) => t.model);
    return models.length > 0 ? [...new Set(models)] : null;
  }
  return routing.upstreams.some((u) => modelListMatches(u.models, model)) ? [model] : null;
}

/** Every model name a project's routing can serve by name: alias names and the exact ids upstreams list. */
export function listedNames(routing: Routing): { aliases: string[]; exact: string[] } {
  const exact = new Set<string>();
  for (const u of routing.upstreams) {
    for (const m of u.models ?? []) if (!m.endsWith("*")) exact.add(m);
  }
  return { aliases: routing.aliases.map((a) => a.name), exact: [...exact] };
}
