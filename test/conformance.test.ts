import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

test('every MUST/SHOULD of docs/requirements.md parts B, X and S has a test or a documented reason (docs/conformance.md)', () => {
  const result = spawnSync(process.execPath, ['scripts/conformance.mjs', '--check'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr || result.stdout);
});
