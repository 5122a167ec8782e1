import { z } from "zod";
import { iso, ModelList } from "../lib/schemas";
import { PROVIDER_NAMES, SettingsInput } from "../providers/settings";
import type { ModelAlias, UpstreamKey as UpstreamKeyRow, Upstream as UpstreamRow } from "../storage/schema";

/** Providers an upstream may speak (src/providers has one `Provider` per name). */
export const PROVIDERS = PROVIDER_NAMES;

export const DEFAULT_BASE_URL = "https://api.openai.com/v1";

/** Bounds that keep a project's routing table small: it travels in its tokens' objects. */
export const MAX_UPSTREAMS = 50;
export const MAX_KEYS = 20;
export const MAX_ALIASES = 200;
export const MAX_TARGETS = 10;

export const BaseUrl = z
  .url({ protocol: /^https?$/, message: "must be an http(s) URL" })
  .max(2000)
  .refine((u) => !/[?#]/.test(u), "must not have a query or fragment")
  .transform((u) => u.replace(/\/+$/, ""));

export const ApiKey = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(4096, "must be at most 4096 characters");

/** Upstream names: referenced by alias targets, the CLI and events, so kept simple. */
export const UpstreamName = z
  .string()
  .trim()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
  );

/** Model names as clients send them (OpenRouter's `vendor/model`, Ollama's `model:tag`, …). */
export const ModelName = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(200, "must be at most 200 characters")
  .refine((s) => !/[\s\p{Cc}\p{Cs}]/u.test(s), "must not contain spaces or control characters");

const Weight = z.number().int().min(1).max(1000);

const RetryOn = z
  .array(
    z
      .number()
      .int()
      .min(401)
      .max(599)
      .refine(
        (s) => s === 408 || s === 409 || s === 429 || s >= 500,
        "only 408, 409, 429 and 5xx can be retried",
      ),
  )
  .max(20)
  .refine((list) => new Set(list).size === list.length, "must not repeat a status")
  .describe(
    "Upstream statuses retried on another key or target (default 429, 500, 502, 503, 504, 529; 400 never)",
  );

/** Checked per provider by the service (src/providers/settings.ts: parseSettings). */
const Settings = SettingsInput.refine(
  (s) => JSON.stringify(s).length <= 16_384,
  "must serialise to at most 16 KiB of JSON",
);

const KeyInput = z.strictObject({ api_key: ApiKey, weight: Weight.optional() });

const upstreamFields = {
  provider: z.enum(PROVIDERS),
  base_url: BaseUrl,
  models: ModelList.nullable().describe("Model ids it serves, exact or `prefix*`; null = any"),
  settings: Settings.nullable(),
  first_byte_timeout_ms: z
    .number()
    .int()
    .min(100)
    .max(600_000)
    .nullable()
    .describe("No first byte within this time: the attempt fails (null = UPSTREAM_TIMEOUT_MS)"),
  retry_on: RetryOn.nullable(),
  position: z
    .number()
    .int()
    .min(0)
    .max(10_000)
    .describe("Order among the project's upstreams (lowest first)"),
  is_active: z.boolean(),
};

export const UpstreamCreate = z
  .strictObject({
    name: UpstreamName,
    ...upstreamFields,
    provider: upstreamFields.provider.default("openai"),
    base_url: BaseUrl.optional().describe(
      "Default per provider: openai https://api.openai.com/v1, anthropic https://api.anthropic.com/v1, " +
        "gemini https://generativelanguage.googleapis.com/v1beta; azure: the resource endpoint (required)",
    ),
    api_key: ApiKey.optional().describe("One key; stored encrypted, never returned"),
    keys: z.array(KeyInput).min(1).max(MAX_KEYS).optional().describe("Several keys with weights"),
  })
  .partial({
    models: true,
    settings: true,
    first_byte_timeout_ms: true,
    retry_on: true,
    position: true,
    is_active: true,
  })
  .refine((u) => u.api_key === undefined || u.keys === undefined, {
    message: "give either api_key or keys, not both",
    path: ["keys"],
  });
export type UpstreamCreate = z.infer<typeof UpstreamCreate>;

export const UpstreamPatch = z
  .strictObject({
    name: UpstreamName,
    ...upstreamFields,
    api_key: ApiKey.describe(
      "Replaces all the upstream's keys with this one (required when base_url moves to another host)",
    ),
  })
  .partial()
  .refine((p) => Object.keys(p).length > 0, "the patch has no fields to change");
export type UpstreamPatch = z.infer<typeof UpstreamPatch>;

export const KeyCreate = z.strictObject({
  api_key: ApiKey.describe("The upstream's API key; stored encrypted, never returned"),
  weight: Weight.default(1),
  is_active: z.boolean().default(true),
});
export type KeyCreate = z.infer<typeof KeyCreate>;

export const KeyPatch = z
  .strictObject({
    weight: Weight,
    is_active: z.boolean().describe("true also clears a failing mark (the key is tried again)"),
  })
  .partial()
  .refine((p) => Object.keys(p).length > 0, "the patch has no fields to change");
export type KeyPatch = z.infer<typeof KeyPatch>;

export const KeyRotate = z.strictObject({
  api_key: ApiKey.describe("The new value; the key keeps its id and weight, its failing mark is cleared"),
});

const AliasTarget = z.strictObject({
  upstream: UpstreamName.describe("Name of one of the project's upstreams"),
  model: ModelName.describe("The model to ask that upstream for"),
  weight: z.number().int().min(0).max(1000).optional().describe("For strategy `weighted` (default 1)"),
});

export const AliasCreate = z.strictObject({
  name: ModelName.describe("The model name clients send"),
  strategy: z.enum(["ordered", "weighted"]).default("ordered"),
  targets: z.array(AliasTarget).min(1).max(MAX_TARGETS),
});
export type AliasCreate = z.infer<typeof AliasCreate>;

export const AliasPatch = z
  .strictObject({
    name: ModelName,
    strategy: z.enum(["ordered", "weighted"]),
    targets: z.array(AliasTarget).min(1).max(MAX_TARGETS),
  })
  .partial()
  .refine((p) => Object.keys(p).length > 0, "the patch has no fields to change");
export type AliasPatch = z.infer<typeof AliasPatch>;

export const UpstreamKey = z.object({
  id: z.uuid(),
  hint: z.string().describe("A masked hint of the key"),
  weight: z.number(),
  is_active: z.boolean(),
  failing: z.boolean().describe("The upstream refused it (401/403): not used until rotated or re-enabled"),
  failing_at: z.string().nullable(),
  failing_reason: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type UpstreamKey = z.infer<typeof UpstreamKey>;

export const Upstream = z.object({
  id: z.uuid(),
  project_id: z.uuid(),
  name: z.string(),
  provider: z.string(),
  base_url: z.string(),
  models: z.array(z.string()).nullable(),
  settings: z.record(z.string(), z.unknown()).nullable(),
  first_byte_timeout_ms: z.number().nullable(),
  retry_on: z.array(z.number()).nullable(),
  position: z.number(),
  is_active: z.boolean(),
  keys: z.array(UpstreamKey),
  created_at: z.string(),
  updated_at: z.string(),
});
export type Upstream = z.infer<typeof Upstream>;

export const Alias = z.object({
  id: z.uuid(),
  project_id: z.uuid(),
  name: z.string(),
  strategy: z.enum(["ordered", "weighted"]),
  targets: z.array(z.object({ upstream: z.string(), model: z.string(), weight: z.number().optional() })),
  created_at: z.string(),
  updated_at: z.string(),
});
export type Alias = z.infer<typeof Alias>;

export function toUpstreamKey(k: UpstreamKeyRow): UpstreamKey {
  return {
    id: k.id,
    hint: k.keyHint,
    weight: k.weight,
    is_active: k.isActive,
    failing: k.failingAt !== null,
    failing_at: iso(k.failingAt),
    failing_reason: k.failingReason,
    created_at: iso(k.createdAt)!,
    updated_at: iso(k.updatedAt)!,
  };
}

export function toUpstream(u: UpstreamRow, keys: UpstreamKeyRow[]): Upstream {
  return {
    id: u.id,
    project_id: u.projectId,
    name: u.name,
    provider: u.provider,
    base_url: u.baseUrl,
    models: u.models,
    settings: u.settings,
    first_byte_timeout_ms: u.firstByteTimeoutMs,
    retry_on: u.retryOn,
    position: u.position,
    is_active: u.isActive,
    keys: keys.map(toUpstreamKey),
    created_at: iso(u.createdAt)!,
    updated_at: iso(u.updatedAt)!,
  };
}

export function toAlias(a: ModelAlias): Alias {
  return {
    id: a.id,
    project_id: a.projectId,
    name: a.name,
    strategy: a.strategy,
    targets: a.targets,
    created_at: iso(a.createdAt)!,
    updated_at: iso(a.updatedAt)!,
  };
}
