import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderOptionBlocks, optionTable } from '../src/config-docs.js';
import { DOMAIN_OPTIONS, OPTIONS } from '../src/config-load.js';

test('docs/configuration.md: every option table is what src/config.ts declares (node scripts/config-docs.mjs)', () => {
  const text = readFileSync('docs/configuration.md', 'utf8');
  const { text: rendered, missing } = renderOptionBlocks(text);
  assert.deepEqual(missing, [], 'every section has its block');
  assert.equal(rendered, text, 'stale: run `npm run build && node scripts/config-docs.mjs`');
});

test('docs/configuration.md: every settable option has a row with its variable', () => {
  const text = readFileSync('docs/configuration.md', 'utf8');
  for (const spec of [...OPTIONS, ...DOMAIN_OPTIONS]) assert.ok(text.includes(`\`${spec.env}\``), spec.env);
  assert.match(optionTable('http'), /\| `http\.port` \| `SHARED_BOSH_PORT` \| `--port PORT` \| `5280` \|/);
});
