/**
 * A dated snapshot suffix: `-2024-08-06` (current naming) or `-0613` (older OpenAI models), `-20250929`
 * (Anthropic), `-001` (Gemini), or `-latest` (Anthropic's alias of the newest snapshot).
 */
const SNAPSHOT = /^-(\d{4}-\d{2}-\d{2}|\d{4}|\d{8}|\d{3}|latest)$/;

/** `id` is a dated snapshot of `base`: `gpt-4o-2024-08-06` of `gpt-4o`, never `gpt-4o-mini`. */
export const isSnapshotOf = (id: string, base: string): boolean =>
  id.startsWith(base) && SNAPSHOT.test(id.slice(base.length));
