#!/usr/bin/env node
// Copies js-tiktoken's rank tables into src/usage/ranks/ as stand-alone ES modules. wrangler.toml uploads
// them as separate modules (find_additional_modules) instead of inlining 3.4 MB into the worker bundle:
// they are then parsed only when the first usage estimate imports them, never at worker start-up.
// Run by wrangler's [build] command (dev, deploy) and by vitest.config.ts; cheap and idempotent.
import { copyFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const require = createRequire(import.meta.url);

export function writeRanks() {
  const out = `${root}src/usage/ranks/`;
  mkdirSync(out, { recursive: true });
  for (const name of ["o200k_base", "cl100k_base"]) {
    // The ESM build of the rank file: `export default { pat_str, special_tokens, bpe_ranks }`.
    const source = require.resolve(`js-tiktoken/ranks/${name}`).replace(/\.cjs$/, ".js");
    const target = `${out}${name}.js`;
    if (!existsSync(target) || statSync(target).size !== statSync(source).size) copyFileSync(source, target);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) writeRanks();
