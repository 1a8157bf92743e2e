/**
 * One fuzz run: fast-check generates cases (test/fuzz/generators.ts) from a seed and the world
 * (test/fuzz/world.ts) plays each against the CM process. Used by test/fuzz/fuzz.test.ts (a short,
 * fixed-seed run inside `npm test`) and by test/fuzz/cli.ts (`npm run fuzz -- --minutes N`).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { caseArb } from './generators.js';
import type { Corpus } from './cases.js';
import { FuzzWorld } from './world.js';

export const CORPUS_FILE = new URL('../../../test/fuzz/corpus.json', import.meta.url);

export interface FuzzRunOptions {
  seed: number;
  /** Most cases. */
  numRuns: number;
  /** Stop generating new cases after this long (the run then passes with what it did). */
  timeLimitMs: number;
  /** Shrink a failing case to a smaller one (restarts the CM for each attempt that kills it). */
  shrink: boolean;
  /** fast-check's replay path of a failure (with the same seed). */
  path?: string;
  log?: (line: string) => void;
  /** Also send well-formed XML that is not namespace-well-formed. */
  nsIllFormed?: boolean;
}

export interface FuzzRunResult {
  cases: number;
  /** fast-check's report of the first failure (seed, path, counterexample, error), if any. */
  failure?: string;
  restarts: number;
}

export function loadCorpus(): Corpus {
  return JSON.parse(readFileSync(CORPUS_FILE, 'utf8')) as Corpus;
}

export async function runFuzz(options: FuzzRunOptions): Promise<FuzzRunResult> {
  const world = await FuzzWorld.start({ corpus: loadCorpus(), nsIllFormed: options.nsIllFormed ?? false, ...(options.log ? { log: options.log } : {}) });
  let cases = 0;
  try {
    const property = fc.asyncProperty(caseArb, async (c) => {
      await world.ensureUp();
      cases += 1;
      await world.runCase(c);
    });
    const details = await fc.check(property, {
      seed: options.seed,
      numRuns: options.numRuns,
      endOnFailure: !options.shrink,
      ...(options.path === undefined ? {} : { path: options.path }),
      plugins: [fc.interruptAfterTimeLimit(options.timeLimitMs)],
    });
    const error = describeError(details.errorInstance);
    const failure = details.failed ? `${fc.defaultReportMessage(details) ?? ''}\nError: ${error}` : undefined;
    return { cases, restarts: world.restarts, ...(failure === undefined ? {} : { failure }) };
  } finally {
    await world.close();
  }
}

/** A CaseFailure's message; for anything else also its cause and where it was thrown. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'CaseFailure') return err.message;
  const cause = err.cause instanceof Error ? ` (cause: ${err.cause.message})` : '';
  return `${err.message}${cause}\n${(err.stack ?? '').split('\n').slice(1, 6).join('\n')}`;
}

/** How to run one failure again. */
export function replayHint(seed: number, failure: string): string {
  const path = /path: "([^"]*)"/.exec(failure)?.[1];
  return `replay: npm run fuzz -- --seed ${seed}${path ? ` --path ${path}` : ''}`;
}
