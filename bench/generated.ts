/**
 * What docs/performance.md and the README show besides each run's own block: the headline
 * (bench/headline.ts) and the charts (bench/charts.ts), both rendered from every stored result in
 * bench/results/. bench/run.ts and `node dist/bench/report.js --write` rewrite them after a run's
 * block; npm test checks that the committed ones are what the stored results render.
 */
import { IMG_DIR, staleCharts, writeCharts } from './charts.js';
import { HEADLINE_KEY, loadSources, renderHeadline } from './headline.js';
import { docsBlock, writeDocs } from './report.js';

/** Rewrites the headline block and the charts from bench/results/; returns what it wrote. */
export function writeGenerated(): string[] {
  const src = loadSources();
  writeDocs(renderHeadline(src), HEADLINE_KEY);
  return ['docs/performance.md (headline)', ...writeCharts(src, IMG_DIR)];
}

/** What differs from what the stored results render: 'headline' and chart file names. */
export function staleGenerated(): string[] {
  const src = loadSources();
  const stale = docsBlock(HEADLINE_KEY) === renderHeadline(src) ? [] : ['headline'];
  return [...stale, ...staleCharts(src, IMG_DIR)];
}
