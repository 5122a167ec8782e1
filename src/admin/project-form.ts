import { CACHEABLE_ENDPOINTS } from "../cache/settings";
import { CAPABILITIES } from "../ownership/capabilities";
import type { ProjectWithUpstream as Project } from "../projects/repo";
import type { RateWindow } from "../storage/schema";
import {
  type Form,
  fieldErrors,
  jsonObject,
  list,
  num,
  numValue,
  rateWindows,
  rateWindowValues,
  text,
} from "./forms";

/** The editable fields of the project form, as the management API's body (null clears). */
export function projectFields(f: Form) {
  return {
    name: text(f, "name"),
    provider: text(f, "provider"),
    base_url: text(f, "base_url"),
    // {} when empty: the provider's defaults, and no change when the project has none set.
    provider_settings: jsonObject(f, "provider_settings") ?? {},
    // On the edit form: a new key, needed when the base URL moves to another host. Empty keeps the key.
    api_key: text(f, "api_key"),
    description: text(f, "description") ?? null,
    metadata: jsonObject(f, "metadata") ?? null,
    allowed_models: list(f, "allowed_models") ?? null,
    allowed_origins: list(f, "allowed_origins") ?? null,
    max_requests: num(f, "max_requests") ?? null,
    max_tokens: num(f, "max_tokens") ?? null,
    max_cost_usd: num(f, "max_cost_usd") ?? null,
    token_defaults: tokenDefaults(f),
    cache: cacheSettings(f),
    // One checkbox per capability (`cap_<name>`): unchecked ones are not posted at all.
    capabilities: CAPABILITIES.filter((c) => f[`cap_${c}`] === "on"),
    object_scope: text(f, "object_scope") ?? "token",
  };
}

/** Form prefix of the response cache's fields. */
const CACHE = "cache_";

/** The form field of an endpoint's "keep out of the cache" checkbox, e.g. `cache_exclude_chat_completions`. */
export const excludeField = (endpoint: string) => `${CACHE}exclude${endpoint.replace(/\W/g, "_")}`;

/** The cacheable endpoints with their checkbox names, for the form view (views import no domain values). */
export const cacheChoices = CACHEABLE_ENDPOINTS.map((endpoint) => ({
  endpoint,
  field: excludeField(endpoint),
}));

/** The response cache: on when a TTL is typed in (empty = off). */
function cacheSettings(f: Form) {
  const ttl = num(f, `${CACHE}ttl_seconds`);
  if (ttl === undefined) return null;
  return {
    ttl_seconds: ttl,
    exclude: CACHEABLE_ENDPOINTS.filter((e) => f[excludeField(e)] === "on"),
    hits_skip_rate_limits: f[`${CACHE}hits_skip_rate_limits`] === "on",
  };
}

/** Form prefix of the `token_defaults` fields, so their errors land beside them. */
const TD = "td_";

/** The defaults for new tokens; only the fields typed in (empty = no default), null when none is. */
function tokenDefaults(f: Form) {
  const d = {
    duration_minutes: num(f, `${TD}duration_minutes`),
    max_requests: num(f, `${TD}max_requests`),
    rate_limit: rateWindows(f, TD),
    max_tokens: num(f, `${TD}max_tokens`),
    max_cost_usd: num(f, `${TD}max_cost_usd`),
    allowed_models: list(f, `${TD}allowed_models`),
  };
  const set = Object.entries(d).filter(([, v]) => v !== undefined);
  return set.length ? Object.fromEntries(set) : null;
}

/** A stored number field of `token_defaults` as a form value. */
const defaultNum = (d: Record<string, unknown> | null, k: string) => {
  const v = d?.[k];
  return typeof v === "number" ? String(v) : "";
};

/** The edit form filled with the project's current values. */
export function projectValues(p: Project): Form {
  const d = p.tokenDefaults;
  const windows = Array.isArray(d?.rate_limit) ? (d.rate_limit as RateWindow[]) : null;
  return {
    name: p.name,
    provider: p.upstream?.provider ?? "openai",
    base_url: p.upstream?.baseUrl ?? "",
    provider_settings:
      p.upstream?.settings && Object.keys(p.upstream.settings).length
        ? JSON.stringify(p.upstream.settings)
        : "",
    description: p.description ?? "",
    metadata: p.metadata ? JSON.stringify(p.metadata, null, 2) : "",
    allowed_models: (p.allowedModels ?? []).join("\n"),
    allowed_origins: (p.allowedOrigins ?? []).join("\n"),
    max_requests: numValue(p.maxRequests),
    max_tokens: numValue(p.maxTotalTokens),
    max_cost_usd: numValue(p.maxCostUsd),
    [`${TD}duration_minutes`]: defaultNum(d, "duration_minutes"),
    [`${TD}max_requests`]: defaultNum(d, "max_requests"),
    [`${TD}max_tokens`]: defaultNum(d, "max_tokens"),
    [`${TD}max_cost_usd`]: defaultNum(d, "max_cost_usd"),
    [`${TD}allowed_models`]: Array.isArray(d?.allowed_models) ? d.allowed_models.join("\n") : "",
    ...rateWindowValues(windows, TD),
    ...cacheValues(p),
    ...Object.fromEntries(p.capabilities.map((c) => [`cap_${c}`, "on"])),
    object_scope: p.objectScope,
  };
}

function cacheValues(p: Project): Form {
  if (!p.cache) return {};
  const out: Form = { [`${CACHE}ttl_seconds`]: String(p.cache.ttl_seconds) };
  for (const e of p.cache.exclude) out[excludeField(e)] = "on";
  if (p.cache.hits_skip_rate_limits) out[`${CACHE}hits_skip_rate_limits`] = "on";
  return out;
}

export const formErrors = (err: unknown) => fieldErrors(err, { token_defaults: TD, cache: CACHE });
