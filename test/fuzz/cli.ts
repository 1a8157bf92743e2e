/**
 * `npm run fuzz -- [--minutes N] [--seed S] [--path P] [--no-shrink] [--keep-going] [--verbose] [--ns-ill-formed]`:
 * a long fuzz run against the CM process (test/fuzz/world.ts says what each case checks).
 * Without --seed a random seed is chosen and printed first. A failure prints fast-check's report
 * (seed, path, counterexample, the broken invariant) and the command that replays it, and exits 1;
 * with --keep-going the run goes on with the next seed until the time is up and lists every
 * distinct failure at the end. --ns-ill-formed also sends well-formed XML that is not
 * namespace-well-formed (test/fuzz/check.ts classify).
 */
import { parseArgs } from 'node:util';
import { replayHint, runFuzz } from './run.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    seed: { type: 'string' },
    path: { type: 'string' },
    'no-shrink': { type: 'boolean', default: false },
    'keep-going': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    'ns-ill-formed': { type: 'boolean', default: false },
  },
  strict: true,
});
/** The invariants world.ts checks, as its failure messages word them: one kind of bug each. */
const KINDS = [
  'the CM process died', 'lost its round trip', 'not namespace-well-formed', 'reached a member marked', 'got a stanza of',
  "'s stanza on", 'internal-server-error was sent', 'did not finish', 'a request failed',
];
const minutes = Number(values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0) {
  console.error('fuzz: --minutes must be a positive number');
  process.exit(2);
}
// Ctrl-C: exit through process.exit, so that the CM child is killed too (test/support/cm-child.ts).
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
let seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
console.log(`fuzz: seed ${seed}, up to ${minutes} min${values.path ? `, replaying path ${values.path}` : ''}`);
const started = Date.now();
const deadline = started + minutes * 60_000;
const failures = new Map<string, string>();
let cases = 0;
for (;;) {
  const result = await runFuzz({
    seed,
    numRuns: values.path ? 1 : Number.MAX_SAFE_INTEGER,
    timeLimitMs: Math.max(1000, deadline - Date.now()),
    shrink: !values['no-shrink'],
    ...(values.path ? { path: values.path } : {}),
    nsIllFormed: values['ns-ill-formed'],
    ...(values.verbose ? { log: (line: string) => console.log(line) } : {}),
  });
  cases += result.cases;
  if (result.failure) {
    // The broken invariant without the case's particulars: what tells one bug from another.
    const error = result.failure.slice(result.failure.indexOf('\nError: '));
    const kind = KINDS.find((k) => error.includes(k)) ?? error.slice(8, 80);
    const report = `${result.failure}\n${replayHint(seed, result.failure)}`;
    if (!failures.has(kind)) {
      failures.set(kind, report);
      console.log(`fuzz: FAILED (seed ${seed}, after ${cases} cases in total)\n${report}\n`);
    }
  }
  if (!result.failure || !values['keep-going'] || values.path || Date.now() >= deadline) break;
  seed += 1;
}
const took = ((Date.now() - started) / 1000).toFixed(0);
if (failures.size > 0) {
  console.log(`fuzz: ${failures.size} distinct failure(s) in ${cases} cases (${took} s):\n${[...failures.keys()].map((k) => `  - ${k}`).join('\n')}`);
  process.exit(1);
}
console.log(`fuzz: ${cases} cases passed in ${took} s (seed ${seed})`);
