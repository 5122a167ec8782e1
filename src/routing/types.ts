// What a token's Durable Object holds about where its project's requests go, and what the proxy resolves a
// request to. Plain data (it crosses the Durable Object RPC boundary); keys only as ciphertexts.

/**
 * One value of an upstream's provider settings (Azure's `api_version`, its `deployments` map, …). Not a
 * recursive JSON type: the table crosses the Durable Object RPC boundary, whose types must stay finite.
 */
export type SettingValue = string | number | boolean | null | string[] | Record<string, string>;

/** One API key of an upstream: decrypted on the worker only, cached per isolate by ciphertext. */
export type KeyConfig = { id: string; keyEncrypted: string; weight: number };

export type UpstreamConfig = {
  id: string;
  name: string;
  provider: string;
  baseUrl: string;
  /** Model ids (exact, dated snapshots of them, or `prefix*`) it serves; null = any. */
  models: string[] | null;
  settings: Record<string, SettingValue> | null;
  /** null = the gateway's UPSTREAM_TIMEOUT_MS. */
  firstByteTimeoutMs: number | null;
  /** Statuses retried elsewhere; null = DEFAULT_RETRY_ON. */
  retryOn: number[] | null;
  /** Active keys in use (empty for a keyless server such as a local Ollama). */
  keys: KeyConfig[];
};

export type AliasTargetConfig = { upstream: string; model: string; weight?: number };

export type AliasConfig = {
  name: string;
  strategy: "ordered" | "weighted";
  targets: AliasTargetConfig[];
};

/** A project's routing table: active upstreams in position order, and its aliases. */
export type Routing = {
  /** Changes whenever anything in the table changes (a hash of it): isolates cache the table by it. */
  version: number;
  upstreams: UpstreamConfig[];
  aliases: AliasConfig[];
};

/** One place a request may be sent: an upstream and the model to ask it for (null: the body names none). */
export type Target = { upstream: UpstreamConfig; model: string | null };
