import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderCharts, staleCharts, tabsChart } from '../bench/charts.js';
import { staleGenerated } from '../bench/generated.js';
import { judge, loadSources, loadTabs, renderHeadline } from '../bench/headline.js';
import { atLeast, atMost, blockKey, currentStored, docsBlock, highestRateRow, loadStored, renderStored } from '../bench/report.js';
import { RESULTS_FORMAT, worstP99, type StepResult, type SystemRun, type TabsFigures } from '../bench/results.js';
import { TARGETS } from '../bench/targets.js';

/**
 * The benchmark's report (bench/report.ts, bench/headline.ts, bench/charts.ts) states in
 * docs/performance.md which targets of issue #15 are met, and draws the charts. These tests hold
 * the docs and the charts to the recorded runs, and the verdicts to their arithmetic.
 */

test('bench report: every generated block of docs/performance.md is what the report renders from its stored run', () => {
  // An older format is left out: its block stays as its own run wrote it.
  const current = currentStored();
  // The default run must be among them, or this test would pass on nothing.
  assert.ok(current.some((f) => f.endsWith(`${join('results', 'default.json')}`)), 'bench/results/default.json is of the current format');
  for (const file of current) {
    const stored = loadStored(file);
    const block = docsBlock(blockKey(stored.params));
    assert.ok(block !== undefined, `docs/performance.md has a block for ${file}`);
    assert.equal(renderStored(stored), block, `${file}: re-render with node dist/bench/report.js ${file} --write`);
  }
});

test('bench report: a run stored in an older format is refused, not printed under today\'s labels', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const old = join(dir, 'old.json');
  writeFileSync(old, JSON.stringify({ machine: {}, params: { mode: 'default' }, runs: [], floors: [], notes: [] }));
  assert.throws(() => loadStored(old), /results format 1.*format 2/);
  assert.equal(RESULTS_FORMAT, 2);
});

test('bench report: at-most and at-least verdicts say by how much a target is missed', () => {
  assert.deepEqual(atMost(13.07, 16, ' KiB'), { met: true, text: 'met (13.07 KiB ≤ 16 KiB)' });
  assert.deepEqual(atMost(1.46, 0.5, ' ms'), { met: false, text: '**missed**: 1.46 ms is 2.92× the limit 0.5 ms' });
  assert.deepEqual(atMost(Number.NaN, 0.5, ' ms'), { met: undefined, text: 'not measured' });
  assert.deepEqual(atLeast(1.2, 2, '×'), { met: false, text: '**missed**: 1.20× is 40 % short of 2×' });
  assert.deepEqual(atLeast(2, 2, '×'), { met: true, text: 'met (2.00× ≥ 2×)' });
});

test('bench report: highest rate with p99 < 10 ms against a reference that never got under 10 ms', () => {
  // The reference missed 10 ms at the lowest step (25 msg/s): the target then asks for factor × 25.
  const met = highestRateRow('mod_bosh', 100, 0, '100', '0', 25, 2);
  assert.equal(met[5].met, true);
  assert.equal(met[2], 'none (< 25)');
  const missed = highestRateRow('mod_bosh', 25, 0, '25', '0', 25, 2);
  assert.equal(missed[5].met, false);
  // Otherwise the ratio of the two rates decides.
  const ratio = highestRateRow('ejabberd', 1200, 4200, '1200', '4200', 25, 1.5);
  assert.equal(ratio[3], '0.29×');
  assert.equal(ratio[5].met, false);
});

test('bench report: the headline of docs/performance.md and docs/img/*.svg are what the stored results render', () => {
  assert.deepEqual(staleGenerated(), [], 'regenerate with node dist/bench/report.js --write');
  // Both read the stored default run, so neither check passes on nothing.
  const src = loadSources();
  assert.ok(src.relay !== undefined && src.before !== undefined);
  assert.match(renderHeadline(src), /Relay p99 < 10 ms at every step up to 1,400 msg\/s/);
  assert.deepEqual(staleCharts(src), []);
  assert.equal([...renderCharts(src).keys()].join(','), 'relay-p99.svg,relay-cpu.svg,tabs.svg');
});

test('bench report: the charts are the same bytes for the same results', () => {
  const a = renderCharts(loadSources());
  const b = renderCharts(loadSources());
  for (const [name, svg] of a) {
    assert.equal(svg, b.get(name), name);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.doesNotMatch(svg, /NaN|Infinity|undefined/, name);
  }
  // The p99 chart carries the 10 ms target line, and a series per system of the stored run.
  assert.match(a.get('relay-p99.svg')!, /target: p99 &lt; 10 ms up to 1400 msg\/s/);
  assert.match(a.get('relay-p99.svg')!, /ejabberd mod_bosh/);
});

test('bench report: the tabs chart draws a bar per measured value and says what was not measured', () => {
  const fig = (layout: TabsFigures['layout'], system: TabsFigures['system'], cpu: number, rss: number): TabsFigures =>
    ({ layout, system, users: 100, tabs: TARGETS.tabs.tabs, inboundPerS: 100, cpuPerInboundMsgUs: cpu, rssPerUserKiB: rss });
  const svg = tabsChart([fig('http1', 'cm-shared', 1150, 160), fig('http1', 'mod_bosh', 2600, 280), fig('h2', 'cm-shared', 920, 150),
    { ...fig('http1', 'ejabberd', 999, 999), tabs: 2 }], 'tabs.json');
  // 3 figures of T = 8 × 2 panels; the one of T = 2 is left out.
  assert.equal(svg.match(/<rect class="bar"/g)?.length, 6);
  assert.match(svg, />1150</);
  assert.doesNotMatch(svg, />999</);
  assert.equal(svg.match(/>n\/m</g)?.length, 10);
  assert.match(tabsChart([], ''), /not measured yet/);
  assert.doesNotMatch(svg, /not measured yet/);
});

test('bench report: the headline reads the tabs figures of T = 8 and judges them against issue #15', () => {
  const src = loadSources();
  const fig = (system: TabsFigures['system'], cpu: number, rss: number): TabsFigures =>
    ({ layout: 'http1', system, users: 100, tabs: 8, inboundPerS: 100, cpuPerInboundMsgUs: cpu, rssPerUserKiB: rss, joinCpuMs: 0.4, loginCpuMs: 5, joinP50Ms: 0.8, lastTabP99Ms: 12 });
  const text = renderHeadline({ ...src, tabs: { file: 'tabs.json', data: { figures: [fig('cm-shared', 700, 50), fig('mod_bosh', 2600, 280), fig('ejabberd', 1000, 600)] } } });
  assert.match(text, /\| Server CPU per inbound message delivered to all 8 tabs ≤ 0\.3× Prosody mod_bosh \| 0\.27× \(700 \/ 2600 µs\): met \| not measured yet \|/);
  assert.match(text, /\| … ≤ 0\.5× ejabberd mod_bosh \| 0\.70× \(700 \/ 1000 µs\): \*\*missed\*\*, 1\.40× the limit \|/);
  assert.match(text, /\| Server CPU per joining tab ≤ 0\.1× a full login \| 0\.08× \(0\.40 \/ 5\.00 ms\): met \|/);
  assert.match(text, /p99 < 10 ms at 100 inbound msg\/s \| 12\.00 ms: \*\*missed\*\*, 1\.20× the limit \|/);
});

test('bench report: a tabs.json without its figures is an error, not "not measured"', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'tabs.json'), JSON.stringify({ bars: [] }));
  assert.throws(() => loadTabs(join(dir, 'tabs.json')), /no "figures" array/);
});

test('bench report: verdicts of the headline', () => {
  assert.deepEqual(judge(0.27, 0.3, 'max'), { text: 'met', met: true });
  assert.deepEqual(judge(0.42, 0.3, 'max'), { text: '**missed**, 1.40× the limit', met: false });
  assert.deepEqual(judge(10, 10, 'under'), { text: '**missed**, 1.00× the limit', met: false });
  assert.deepEqual(judge(1.2, 1.5, 'min'), { text: '**missed**, 20 % short', met: false });
  assert.deepEqual(judge(Number.NaN, 1, 'min'), { text: 'not measured yet', met: undefined });
});

test('bench report: the worst p99 up to a rate counts every round, and an overloaded or missing step misses it', () => {
  const step = (rate: number, p99: number, p50 = 1): StepResult => ({
    rate, latencyMs: { n: 100, p50, p90: p99, p99, max: p99, mean: p50 }, stanzasLost: 0, sessionsLost: 0, offeredPerS: rate, deliveredPerS: rate, sentInWindow: rate * 3,
  }) as StepResult;
  const run = (round: number, relay: StepResult[]): SystemRun => ({ system: 'cm', round, relay }) as SystemRun;
  const good = worstP99([run(1, [step(100, 4), step(1000, 8), step(1400, 9.5), step(2000, 30)]), run(2, [step(100, 3), step(1000, 9.9), step(1400, 7)])], [100, 1000, 1400, 2000], 1400);
  assert.deepEqual(good, { p99: 9.9, where: 'at 1,000 msg/s, round 2', complete: true });
  const overloaded = worstP99([run(1, [step(100, 4), step(1000, 8, 80)])], [100, 1000, 1400], 1400);
  assert.equal(overloaded.complete, false);
  assert.equal(overloaded.where, 'round 1 overloaded at 1000 msg/s');
  const short = worstP99([run(1, [step(100, 4)])], [100, 1000], 1400);
  assert.equal(short.where, 'round 1 never reached 1000 msg/s');
});
