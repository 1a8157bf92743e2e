#!/usr/bin/env node
// `npm start`'s prestart: builds dist/ with tsc only when it is missing or older than the sources,
// so that a start after `npm ci --omit=dev && npm run build` (or on a checkout built once) needs
// no compiler. Run from the package root (npm does). Exit 1, with what to do, when dist/ is stale
// and TypeScript is not installed.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const ENTRY = join('dist', 'src', 'main.js');
/** What the build reads: every .ts under these folders, and these files. */
const SOURCE_DIRS = ['src', 'test', 'bench'];
const SOURCE_FILES = ['tsconfig.json'];

function newestSource() {
  let newest = { path: '', mtimeMs: 0 };
  const consider = (path, mtimeMs) => {
    if (mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
  };
  const walk = (dir) => {
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) { if (entry.name !== 'node_modules') walk(path); }
      else if (entry.name.endsWith('.ts')) consider(path, statSync(path).mtimeMs);
    }
  };
  for (const dir of SOURCE_DIRS) walk(dir);
  for (const file of SOURCE_FILES) if (existsSync(file)) consider(file, statSync(file).mtimeMs);
  return newest;
}

const newest = newestSource();
const built = existsSync(ENTRY) ? statSync(ENTRY).mtimeMs : undefined;
if (built !== undefined && built >= newest.mtimeMs) process.exit(0);

const reason = built === undefined ? `${ENTRY} is missing` : `${newest.path} is newer than ${ENTRY}`;
const tsc = join('node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc)) {
  process.stderr.write(
    `shared-bosh: cannot build: ${reason}, and TypeScript is not installed (npm ci --omit=dev?).\n` +
      'Build once with the dev dependencies: npm ci && npm run build && npm prune --omit=dev\n' +
      '(or install the package made by `npm pack`, which holds the built files).\n',
  );
  process.exit(1);
}
process.stderr.write(`shared-bosh: building (${reason})\n`);
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
