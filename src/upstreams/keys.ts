// An upstream's API keys: added, rotated, weighted, switched off, removed. Rows are made by newKeys (in
// service.ts, which creating an upstream or moving it to another host uses too).
import { encryptSecret, maskSecret } from "../lib/crypto";
import { ApiError, notFound } from "../lib/errors";
import { getDb } from "../storage/db";
import type { UpstreamKey } from "../storage/schema";
import { reloadProjectTokens } from "../tokens/notify";
import * as repo from "./repo";
import { type KeyCreate, type KeyPatch, MAX_KEYS } from "./schema";
import { newKeys, requireUpstream } from "./service";

async function requireKey(env: Env, upstreamId: string, keyId: string): Promise<UpstreamKey> {
  const key = await repo.getKey(getDb(env), upstreamId, keyId);
  if (!key) throw notFound("key of this upstream", keyId);
  return key;
}

export async function addKey(env: Env, upstreamId: string, input: KeyCreate): Promise<UpstreamKey> {
  const db = getDb(env);
  const upstream = await requireUpstream(env, upstreamId);
  if ((await repo.keysOfUpstream(db, upstreamId)).length >= MAX_KEYS) {
    throw new ApiError(409, "conflict", `An upstream has at most ${MAX_KEYS} keys.`);
  }
  const [row] = await newKeys(env, upstreamId, [input]);
  await repo.insertKeysQuery(db, [row!]);
  await reloadProjectTokens(env, upstream.projectId);
  return requireKey(env, upstreamId, row!.id);
}

/** A new value for a key: same id (events stay comparable), weight kept, failing mark cleared. */
export async function rotateKey(
  env: Env,
  upstreamId: string,
  keyId: string,
  apiKey: string,
): Promise<UpstreamKey> {
  const upstream = await requireUpstream(env, upstreamId);
  await requireKey(env, upstreamId, keyId);
  const updated = await repo.updateKey(getDb(env), keyId, {
    keyEncrypted: await encryptSecret(apiKey, env.ENCRYPTION_KEY),
    keyHint: maskSecret(apiKey),
    failingAt: null,
    failingReason: null,
  });
  await reloadProjectTokens(env, upstream.projectId);
  return updated!;
}

export async function patchKey(
  env: Env,
  upstreamId: string,
  keyId: string,
  patch: KeyPatch,
): Promise<UpstreamKey> {
  const upstream = await requireUpstream(env, upstreamId);
  await requireKey(env, upstreamId, keyId);
  const values: Parameters<typeof repo.updateKey>[2] = {};
  if (patch.weight !== undefined) values.weight = patch.weight;
  if (patch.is_active !== undefined) values.isActive = patch.is_active;
  if (patch.is_active === true) {
    values.failingAt = null;
    values.failingReason = null;
  }
  const updated = await repo.updateKey(getDb(env), keyId, values);
  await reloadProjectTokens(env, upstream.projectId);
  return updated!;
}

export async function removeKey(env: Env, upstreamId: string, keyId: string): Promise<void> {
  const upstream = await requireUpstream(env, upstreamId);
  await requireKey(env, upstreamId, keyId);
  await repo.deleteKey(getDb(env), keyId);
  await reloadProjectTokens(env, upstream.projectId);
}
