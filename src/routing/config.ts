import type { ModelAlias, Upstream, UpstreamKey } from "../storage/schema";
import type { Routing, UpstreamConfig } from "./types";

/** A routing table without upstreams: requests of its project have nowhere to go. */
export const NO_ROUTES: Routing = { version: 0, upstreams: [], aliases: [] };

/**
 * The routing table a token's object holds, from the project's rows: active upstreams by position, each
 * with its active keys. A key marked failing (the upstream refused it) is left out, unless every active key
 * of its upstream is: then they all stay, since trying a key that may work again beats certain failure.
 * The version is a hash of the table, so any change (a key rotated, a weight, an alias) gives a new one.
 */
export async function routingFrom(
  upstreams: readonly Upstream[],
  keys: readonly UpstreamKey[],
  aliases: readonly ModelAlias[],
): Promise<Routing> {
  const table: Omit<Routing, "version"> = {
    upstreams: upstreams
      .filter((u) => u.isActive)
      .map((u): UpstreamConfig => {
        const active = keys.filter((k) => k.upstreamId === u.id && k.isActive);
        const working = active.filter((k) => k.failingAt === null);
        return {
          id: u.id,
          name: u.name,
          provider: u.provider,
          baseUrl: u.baseUrl,
          models: u.models,
          settings: u.settings as UpstreamConfig["settings"],
          firstByteTimeoutMs: u.firstByteTimeoutMs,
          retryOn: u.retryOn,
          keys: (working.length > 0 ? working : active).map((k) => ({
            id: k.id,
            keyEncrypted: k.keyEncrypted,
            weight: k.weight,
          })),
        };
      }),
    aliases: aliases.map((a) => ({ name: a.name, strategy: a.strategy, targets: a.targets })),
  };
  return { version: await versionOf(table), ...table };
}

/** 48 bits of the SHA-256 of the table: a stable number that changes with any content change. */
async function versionOf(table: Omit<Routing, "version">): Promise<number> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(table)));
  const b = new Uint8Array(digest);
  return ((b[0]! * 256 + b[1]!) * 256 + b[2]!) * 2 ** 24 + ((b[3]! * 256 + b[4]!) * 256 + b[5]!) + 1;
}
