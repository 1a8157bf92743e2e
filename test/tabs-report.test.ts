import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docsBlock, RESULTS_DIR } from '../bench/report.js';
import { loadTabs, renderTabs, tabsBlockKey, tabsFigures, tabsVerdicts } from '../bench/tabs-report.js';
import { TABS_RESULTS_FORMAT, type TabsLayout, type TabsRun, type TabsStored, type TabsSystem } from '../bench/tabs-results.js';

/**
 * The tabs scenario's report (bench/tabs-report.ts): docs/performance.md holds what it renders
 * from bench/results/tabs.json, and its verdicts and chart bars follow from the figures.
 */

test('tabs report: every tabs block of docs/performance.md is what the report renders from its bench/results/tabs*.json', () => {
  const files = readdirSync(RESULTS_DIR).filter((f) => /^tabs(-t\d+)?\.json$/.test(f));
  // The T = 8 run must be among them, or this test would pass on nothing.
  assert.ok(files.includes('tabs.json'), 'bench/results/tabs.json is there');
  for (const f of files) {
    const stored = loadTabs(join(RESULTS_DIR, f));
    assert.equal(`${tabsBlockKey(stored.params.tabs)}.json`, f, `${f} holds a run with T = ${stored.params.tabs}`);
    const block = docsBlock(tabsBlockKey(stored.params.tabs));
    assert.ok(block !== undefined, `docs/performance.md has a block for ${f}`);
    assert.equal(renderTabs(stored), block, `re-render with node dist/bench/tabs-report.js bench/results/${f} --write`);
    assert.deepEqual(stored.figures, tabsFigures(stored), `${f}: its figures (read by the headline and the chart) are the medians of its runs`);
  }
});

/** A round with the figures the report reads; the rest of a recorded run does not enter the verdicts. */
function run(system: TabsSystem, layout: TabsLayout, round: number, f: { cpu: number; rss: number; join: number; joinP50: number; lastP99: number }): TabsRun {
  const cm = system === 'shared' || system === 'unshared';
  const parts = (total: number) => ({ cm: cm ? total / 2 : Number.NaN, server: cm ? total / 2 : total, total });
  const lat = (p99: number) => ({ n: 100, p50: p99 / 4, p90: p99 / 2, p99, max: p99 * 2, mean: p99 / 3 });
  return {
    system, layout, round,
    idleKiB: { cm: cm ? 75_000 : Number.NaN, server: 15_000 },
    perUserKiB: { ...parts(f.rss), cmRaw: cm ? f.rss : Number.NaN },
    first: { opened: 10, connections: 10, cpuMsPer: parts(5), setupMs: lat(20) },
    join: { opened: 70, connections: 0, cpuMsPer: parts(f.join), setupMs: { ...lat(f.joinP50 * 4), p50: f.joinP50 } },
    xmppSessions: system === 'shared' ? 10 : 80,
    stream: { sentInWindow: 1000, lastTabMs: lat(f.lastP99), missingPerTab: [0, 0], duplicatesPerTab: [0, 1], misrouted: 0, cpuMsPerInbound: parts(f.cpu), cpuUsPerCopy: parts(f.cpu * 125) },
  } as unknown as TabsRun;
}

function stored(runs: TabsRun[]): TabsStored {
  return {
    scenario: 'tabs', format: TABS_RESULTS_FORMAT, runs, notes: [], figures: [],
    machine: { date: '2026-12-06T00:00:00.000Z', nproc: 2, cpuModel: 'test', kernel: 'Linux', node: 'v20', prosody: 'Prosody 0.12', openFilesLimit: 1024, memory: '1 GiB' },
    params: { mode: 'default', users: 10, tabs: 8, rate: 100, senders: 2, rounds: 2, systems: ['shared', 'unshared', 'mod_bosh', 'ejabberd'], layouts: ['http1'], firstConcurrency: 8, joinConcurrency: 1,
      settleMs: 0, warmupMs: 0, windowMs: 10_000, drainMs: 0, quietProbeMs: 0, quietWaitMs: 0, quietBudgetMs: 0, retries: 0, cpuProf: false, cmLogLevel: 'info', prosodyGc: 'default', write: false, maxMinutes: 1, argv: [] },
  };
}

test('tabs report: verdicts compare (a) with (b), (c) and (d) of the same layout, on medians over the rounds', () => {
  const runs = [1, 2].flatMap((round) => [
    // (a): the rounds differ; the median of two is their mean (CPU 0.55 ms, p99 10 ms).
    run('shared', 'http1', round, { cpu: round === 1 ? 0.5 : 0.6, rss: 20, join: 0.4, joinP50: 1, lastP99: round === 1 ? 8 : 12 }),
    run('unshared', 'http1', round, { cpu: 1.5, rss: 200, join: 5, joinP50: 9, lastP99: 6 }),
    run('mod_bosh', 'http1', round, { cpu: 2, rss: 100, join: 4, joinP50: 8, lastP99: 7 }),
    run('ejabberd', 'http1', round, { cpu: 1, rss: 400, join: 6, joinP50: 9, lastP99: 5 }),
  ]);
  const v = tabsVerdicts(stored(runs));
  assert.deepEqual(v.map((x) => x.target), [
    'CPU per inbound message ≤ 0.3× (c)', 'CPU per inbound message ≤ 0.5× (d)', 'RSS per user ≤ 0.3× (c)', 'RSS per user ≤ 0.1× (d)',
    'CPU per joining tab ≤ 0.1× a full login\'s CM + Prosody CPU (a tab of (b))', 'Join p50 ≤ 5 ms', 'p99 delivery to the last tab < 10 ms at 100 inbound msg/s',
  ]);
  // 0.55/2 = 0.28x (c) met; 0.55/1 = 0.55x (d) missed; RSS 0.2x and 0.05x met; join 0.4/5 = 0.08x met;
  // join p50 1 ms met; p99 to the last tab 10 ms is not below 10 ms.
  assert.deepEqual(v.map((x) => x.met), [true, false, true, true, true, true, false]);
  assert.equal(v[0]!.value, '0.550 vs 2.000 ms: 0.28×');
  assert.equal(v[1]!.text, '**missed**: 0.55× is 1.10× the limit 0.5×');
  assert.equal(v[4]!.value, '0.400 vs 5.000 ms: 0.08×');
  assert.equal(v[6]!.text, '**missed**: 10.00 ms is 1.00× the limit 10 ms');
});

test('tabs report: a system that did not run leaves its verdicts unmeasured, not met', () => {
  const v = tabsVerdicts(stored([run('shared', 'http1', 1, { cpu: 0.5, rss: 20, join: 0.4, joinP50: 1, lastP99: 3 })]));
  assert.deepEqual(v.map((x) => x.met), [undefined, undefined, undefined, undefined, undefined, true, true]);
});

test('tabs report: figures for the headline and the chart, per layout and system in the order (a) (b) (c) (d)', () => {
  const runs = [
    run('mod_bosh', 'https', 1, { cpu: 2, rss: 100, join: 4, joinP50: 8, lastP99: 7 }),
    run('unshared', 'https', 1, { cpu: 1.5, rss: 200, join: 5, joinP50: 9, lastP99: 6 }),
    run('shared', 'https', 1, { cpu: 0.5, rss: 20, join: 0.4, joinP50: 1, lastP99: 3 }),
    run('shared', 'http1', 1, { cpu: 0.6, rss: 25, join: 0.4, joinP50: 1, lastP99: 4 }),
  ];
  const figures = tabsFigures(stored(runs));
  assert.deepEqual(figures.map((f) => [f.layout, f.system, f.cpuPerInboundMsgUs, f.rssPerUserKiB, f.lastTabP99Ms, f.joinCpuMs, f.loginCpuMs]), [
    // (a)'s full login is a tab of (b) in the same layout; without (b), not measured.
    ['http1', 'cm-shared', 600, 25, 4, 0.4, Number.NaN],
    ['h2', 'cm-shared', 500, 20, 3, 0.4, 5],
    ['h2', 'cm-unshared', 1500, 200, 6, 5, 5],
    ['h2', 'mod_bosh', 2000, 100, 7, 4, 4],
  ]);
  assert.equal(figures[0]!.cmIdleRssMiB, 75_000 / 1024);
  assert.equal(figures[3]!.cmIdleRssMiB, undefined);
  assert.deepEqual(figures.map((f) => [f.users, f.tabs, f.inboundPerS, f.upstreamSessions]), [[10, 8, 100, 10], [10, 8, 100, 10], [10, 8, 100, 80], [10, 8, 100, 80]]);
});

test('tabs report: a file of another scenario or format is refused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tabs-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const relay = join(dir, 'default.json');
  writeFileSync(relay, JSON.stringify({ format: 2, machine: {}, params: { mode: 'default' }, runs: [] }));
  assert.throws(() => loadTabs(relay), /not a tabs run/);
  const old = join(dir, 'tabs.json');
  writeFileSync(old, JSON.stringify({ scenario: 'tabs', format: TABS_RESULTS_FORMAT + 1, runs: [] }));
  assert.throws(() => loadTabs(old), /tabs results format/);
});
