export type Json = Record<string, unknown>;

/** A JSON object (not null, not an array): what the gateway reads request and answer bodies as. */
export const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** The object a JSON text holds, or null when the text is not JSON or not an object. */
export function parseJsonObject(text: string): Json | null {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * As `parseJsonObject` for text that starts with "{" (an upstream's answers and events), null at once for
 * anything else: `[DONE]` and other non-object text cost no throw-and-catch.
 */
export const parseObjectText = (text: string): Json | null =>
  text.charCodeAt(0) === 123 ? parseJsonObject(text) : null;
