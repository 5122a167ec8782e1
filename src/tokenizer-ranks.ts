import type { RankFile } from "./usage/bpe";

/**
 * Lazy imports of the tokenizer's rank tables, which wrangler uploads as separate modules (see
 * wrangler.toml, find_additional_modules). wrangler keeps these specifiers as written and the runtime
 * resolves them against the bundle's entry, src/index.ts — so this file must sit beside it, at the root
 * of src/, for the same path to work bundled, under `wrangler dev` and in the tests.
 */
export async function loadRankFile(name: "o200k_base" | "cl100k_base"): Promise<RankFile> {
  return name === "o200k_base"
    ? (await import("./usage/ranks/o200k_base.js")).default
    : (await import("./usage/ranks/cl100k_base.js")).default;
}
