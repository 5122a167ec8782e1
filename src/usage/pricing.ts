/**
 * Prices of models in US dollars per million tokens. Foundation stub with the shape only; the usage-events
 * work owns the full table (kept as data with its source and date).
 */
export type ModelPrice = { input: number; cachedInput: number | null; output: number };

const PRICES: Record<string, ModelPrice> = {};

/** The price of a model, or null when unknown (cost is then null, never a guess). */
export function modelPrice(model: string | null | undefined): ModelPrice | null {
  if (!model) return null;
  return PRICES[model] ?? null;
}
