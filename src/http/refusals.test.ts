import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../test/support/fake-clock.js';
import { createMemoryLogger } from '../log.js';
import { Metrics } from '../metrics.js';
import { FALLBACK_OPEN_FILES, openFilesLimit } from './descriptor-budget.js';
import { REFUSAL_LOG_INTERVAL_MS, Refusals } from './refusals.js';

test('refusals under attack: every one is counted, the log gets one line per reason and a summary per interval', async () => {
  const clock = new FakeClock();
  const metrics = new Metrics();
  const { logger, lines } = createMemoryLogger('debug');
  const refusals = new Refusals(logger, clock, metrics);
  for (let i = 0; i < 1000; i++) refusals.refuse('connections-per-address', `192.0.2.${i % 200}`);
  refusals.refuse('timeout', '198.51.100.1');
  assert.equal(lines.length, 2, 'one line per reason at once');
  clock.tick(REFUSAL_LOG_INTERVAL_MS);
  assert.equal(lines.length, 3, 'one summary for the 999 others; none for timeout (no more refusals)');
  assert.match(lines[2]!, /"refused":999/);
  assert.match(lines[2]!, /"lastAddress":"192\.0\.2\.199"/);
  refusals.refuse('connections-per-address', '192.0.2.1');
  assert.equal(lines.length, 4, 'a new interval starts with a line of its own');
  refusals.destroy();
  assert.equal(clock.pending, 0, 'destroy() cancels the pending summary');
  const counted = (await metrics.httpRefused.get()).values.map((v) => [v.labels.reason, v.value]);
  assert.deepEqual(counted.sort(), [['connections-per-address', 1001], ['timeout', 1]]);
});

test('the descriptor limit: configured, else the soft limit of /proc/self/limits, else 1024', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-bosh-limits-'));
  try {
    const file = join(dir, 'limits');
    await writeFile(file, 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            4096                 524288               files     \n');
    assert.equal(openFilesLimit(0, file), 4096);
    assert.equal(openFilesLimit(500, file), 500);
    await writeFile(file, 'Max open files            unlimited            unlimited            files     \n');
    assert.equal(openFilesLimit(0, file), Number.MAX_SAFE_INTEGER);
    assert.equal(openFilesLimit(0, join(dir, 'missing')), FALLBACK_OPEN_FILES);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
