/**
 * `npm run fuzz -- [--minutes N] [--seed S] [--path P] [--no-shrink]`: a long fuzz run against
 * the CM process (test/fuzz/world.ts says what each case checks). Without --seed a random seed is
 * chosen and printed first; a failure prints fast-check's report (seed, path, counterexample)
 * and the command that replays it, and exits 1.
 */
import { parseArgs } from 'node:util';
import { replayHint, runFuzz } from './run.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    seed: { type: 'string' },
    path: { type: 'string' },
    'no-shrink': { type: 'boolean', default: false },
  },
  strict: true,
});
const minutes = Number(values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0) {
  console.error('fuzz: --minutes must be a positive number');
  process.exit(2);
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
console.log(`fuzz: seed ${seed}, up to ${minutes} min${values.path ? `, replaying path ${values.path}` : ''}`);
const started = Date.now();
const result = await runFuzz({
  seed,
  numRuns: values.path ? 1 : Number.MAX_SAFE_INTEGER,
  timeLimitMs: minutes * 60_000,
  shrink: !values['no-shrink'],
  ...(values.path ? { path: values.path } : {}),
});
const took = ((Date.now() - started) / 1000).toFixed(0);
if (result.failure) {
  console.log(`fuzz: FAILED after ${result.cases} cases (${took} s, ${result.restarts} CM restarts)\n${result.failure}\n${replayHint(seed, result.failure)}`);
  process.exit(1);
}
console.log(`fuzz: ${result.cases} cases passed in ${took} s (seed ${seed})`);
