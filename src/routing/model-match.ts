import { isSnapshotOf } from "../lib/model-id";

/**
 * Whether a model list names a model: an exact id; an id also names its dated snapshots (`gpt-4o` names
 * `gpt-4o-2024-08-06`, never `gpt-4o-mini`); an entry ending in `*` is a prefix (`gpt-4o*` names both);
 * `*` names everything. null = every model. Used for allowed models and for the models an upstream serves.
 */
export function modelListMatches(list: readonly string[] | null, model: string): boolean {
  if (!list) return true;
  return list.some((entry) => {
    if (entry === model || entry === "*") return true;
    if (entry.endsWith("*")) return model.startsWith(entry.slice(0, -1));
    return isSnapshotOf(model, entry);
  });
}
