#!/usr/bin/env node
// Writes the option tables of docs/configuration.md from the declarations in src/config.ts
// (compiled: run `npm run build` first). `--check` exits 1 when the file is stale instead.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderOptionBlocks } from '../dist/src/config-docs.js';

const path = new URL('../docs/configuration.md', import.meta.url);
const text = readFileSync(path, 'utf8');
const { text: next, missing } = renderOptionBlocks(text);
if (missing.length > 0) {
  console.error(`docs/configuration.md has no block for: ${missing.join(', ')}`);
  process.exit(1);
}
if (process.argv.includes('--check')) {
  if (next !== text) {
    console.error('docs/configuration.md is stale: run `npm run build && node scripts/config-docs.mjs`');
    process.exit(1);
  }
} else if (next !== text) {
  writeFileSync(path, next);
  console.log('docs/configuration.md: option tables written');
}
