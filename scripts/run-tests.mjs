#!/usr/bin/env node
// Runs every compiled *.test.js under dist/ (or under the given folders of the source tree)
// with node's test runner, so that the runner's summary line ends the output.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['src', 'test'];
const files = [];
function walk(dir) {
  let entries;
  try { entries = readdirSync(dir); } catch { return; }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    // Only tests whose TypeScript source still exists (dist/ may hold stale compiled files).
    else if (name.endsWith('.test.js') && existsSync(path.slice('dist/'.length).replace(/\.js$/, '.ts'))) files.push(path);
  }
}
for (const root of roots) walk(join('dist', root));
files.sort();
if (files.length === 0) {
  console.error('no compiled tests found under dist/' + roots.join(', dist/'));
  process.exit(1);
}
const args = ['--test', '--test-reporter=spec', '--test-concurrency=2', ...files];
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
