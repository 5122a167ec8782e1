import type { NewRecord } from "./durable";

/** The registry of a project's objects (src/ownership/durable.ts), named by the project's id. */
export const registryOf = (env: Env, projectId: string) =>
  env.OBJECT_REGISTRY.get(env.OBJECT_REGISTRY.idFromName(projectId));

const ATTEMPTS = 3;

/** Records objects, trying again on a failed call (a registry reset, a network blip). */
export async function recordObjects(env: Env, projectId: string, records: NewRecord[]): Promise<void> {
  if (records.length === 0) return;
  for (let attempt = 1; ; attempt++) {
    try {
      await registryOf(env, projectId).record(records);
      return;
    } catch (err) {
      if (attempt >= ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}

/**
 * Records objects off the client's path (answers of inference endpoints). The call starts now, as the id
 * reaches the client, so it is on its way before the client's next request can be; lookups of these kinds
 * wait a moment for it (durable.ts, `find`).
 */
export function recordLater(env: Env, ctx: ExecutionContext, projectId: string, records: NewRecord[]): void {
  if (records.length === 0) return;
  ctx.waitUntil(
    recordObjects(env, projectId, records).catch((err) =>
      console.error("object records lost", projectId, records.map((r) => r.id).join(","), err),
    ),
  );
}

/** Forgets objects the upstream no longer has, off the client's path. */
export function forgetLater(env: Env, ctx: ExecutionContext, projectId: string, ids: string[]): void {
  if (ids.length === 0) return;
  ctx.waitUntil(
    registryOf(env, projectId)
      .forget(ids)
      .catch((err) => console.error("object records not forgotten", projectId, err)),
  );
}

/** A deleted project's records go with it. */
export async function purgeRegistry(env: Env, projectId: string): Promise<void> {
  await registryOf(env, projectId).purge();
}
