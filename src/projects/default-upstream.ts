import { eq } from "drizzle-orm";
import { ApiError } from "../lib/errors";
import type { ProviderName } from "../providers/settings";
import { getDb } from "../storage/db";
import { upstreamKeys, upstreams } from "../storage/schema";
import { checkBaseUrl, checkHostChange } from "../upstreams/base-url";
import { baseUrlFor, checkedSettings } from "../upstreams/provider-config";
import * as upstreamRepo from "../upstreams/repo";
import { newKeys } from "../upstreams/service";
import type { ProjectPatch } from "./schema";

// A project PATCH's old single-upstream fields (`provider`, `base_url`, `provider_settings`, `api_key`),
// turned into writes on the project's first upstream — kept apart from the project's own row and its
// delivery to token objects (service.ts), since these rules are about upstreams: the host check, a
// provider's settings, a rotated key.

/**
 * The old project fields act on the project's first upstream: `provider` and `base_url` change it,
 * `api_key` rotates its first key (same id). A project without upstreams gets a `default` one. Moving the
 * base URL to another host needs the key in the same request: stored keys never go to a new host.
 */
export async function defaultUpstreamWrites(env: Env, projectId: string, patch: ProjectPatch) {
  const db = getDb(env);
  if (
    patch.provider === undefined &&
    patch.base_url === undefined &&
    patch.api_key === undefined &&
    patch.provider_settings === undefined
  )
    return [];
  const current = await upstreamRepo.defaultUpstream(db, projectId);
  if (!current) {
    const upstreamId = crypto.randomUUID();
    const keys = patch.api_key ? await newKeys(env, upstreamId, [{ api_key: patch.api_key }]) : [];
    const provider = patch.provider ?? "openai";
    const baseUrl = baseUrlFor(provider, patch.base_url);
    checkBaseUrl(baseUrl, env);
    return [
      db.insert(upstreams).values({
        id: upstreamId,
        projectId,
        name: "default",
        provider,
        baseUrl,
        settings: checkedSettings(provider, patch.provider_settings ?? null, "provider_settings"),
        position: 0,
      }),
      ...(keys.length > 0 ? [db.insert(upstreamKeys).values(keys)] : []),
    ];
  }
  const keys = await upstreamRepo.keysOfUpstream(db, current.id);
  if (patch.base_url !== undefined && patch.api_key === undefined && keys.length > 0) {
    checkHostChange(current.baseUrl, patch.base_url);
  }
  const writes = [];
  const change: { provider?: string; baseUrl?: string; settings?: Record<string, unknown> } = {};
  if (patch.provider !== undefined) change.provider = patch.provider;
  if (patch.provider !== undefined || patch.provider_settings !== undefined) {
    // Settings belong to a provider: a new provider starts from its defaults unless the patch brings settings.
    const provider = patch.provider ?? (current.provider as ProviderName);
    const settings =
      patch.provider_settings !== undefined
        ? patch.provider_settings
        : provider === current.provider
          ? current.settings
          : null;
    change.settings = checkedSettings(provider, settings, "provider_settings");
  }
  if (patch.base_url !== undefined) change.baseUrl = patch.base_url;
  if (patch.base_url !== undefined && patch.api_key === undefined) {
    // The host check held for the base URL it read: saved first, and only if that is still the upstream's
    // (409 otherwise, before anything else of the patch is written).
    const saved = await upstreamRepo.updateUpstreamQuery(db, current.id, change, current.baseUrl);
    if (saved.length === 0) {
      throw new ApiError(
        409,
        "conflict",
        "The project's base_url changed meanwhile: read it again and retry.",
        {
          param: "base_url",
        },
      );
    }
  } else if (Object.keys(change).length > 0) {
    writes.push(upstreamRepo.updateUpstreamQuery(db, current.id, change));
  }
  if (patch.api_key !== undefined) {
    const [fresh] = await newKeys(env, current.id, [{ api_key: patch.api_key }]);
    const first = keys[0];
    writes.push(
      first
        ? db
            .update(upstreamKeys)
            .set({
              keyEncrypted: fresh!.keyEncrypted,
              keyHint: fresh!.keyHint,
              failingAt: null,
              failingReason: null,
              updatedAt: Date.now(),
            })
            .where(eq(upstreamKeys.id, first.id))
        : db.insert(upstreamKeys).values(fresh!),
    );
  }
  return writes;
}
