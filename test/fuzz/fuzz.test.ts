import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replayHint, runFuzz } from './run.js';

/**
 * The short fuzz run of `npm test`: the same 40 cases every time (fixed seed; FUZZ_SEED overrides
 * it), about 15 s on an idle machine, against the CM as a child process with a scripted upstream.
 * A loaded machine only makes it slower: past 90 s it stops early and passes with what it did.
 * See test/fuzz/world.ts for what is checked after every case and docs/security.md for the long
 * run (`npm run fuzz`).
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const CASES = 40;

test('B-11 D11 D14: fuzzing with hostile client bodies and XMPP stanzas: the process stays up, other sessions work, no stanza crosses links, every body is a namespace-well-formed <body/>, no forged echo or replay mark', { timeout: 180_000 }, async () => {
  const result = await runFuzz({ seed: SEED, numRuns: CASES, timeLimitMs: 90_000, shrink: false, ...(process.env.FUZZ_VERBOSE ? { log: (line: string) => console.log(line) } : {}) });
  if (result.failure) assert.fail(`${result.failure}\n${replayHint(SEED, result.failure)}`);
  assert.ok(result.cases > 0, 'no case ran');
});
