/** js-tiktoken's o200k_base rank table, copied here by scripts/tiktoken-ranks.mjs (the .js is not committed). */
declare const ranks: { pat_str: string; special_tokens: Record<string, number>; bpe_ranks: string };
export default ranks;
