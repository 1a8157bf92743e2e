/**
 * The charts of docs/performance.md and the README, rendered from the stored results
 * (bench/results/*.json) into docs/img/*.svg:
 *
 *   relay-p99.svg   p99 relay latency against the rate, every system (default.json)
 *   relay-cpu.svg   server CPU per relayed message against the rate, every system (default.json)
 *   tabs.svg        the tabs scenario: CPU per inbound message and RSS per user, per system and layout (tabs.json)
 *
 *   node dist/bench/charts.js            write them (report.js --write does as well)
 *   node dist/bench/charts.js --check    exit 1 when a committed chart differs from what the results render
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSources, type Sources } from './headline.js';
import type { StoredRun } from './report.js';
import { ALL_SYSTEMS, median, overloaded, type StepResult, type System, type TabsFigures } from './results.js';
import { barChart, lineChart, niceTicks, type Series } from './svg.js';
import { TARGETS } from './targets.js';

export const IMG_DIR = resolve(fileURLToPath(import.meta.url), '..', '..', '..', 'docs', 'img');

const COLOR: Record<System, string> = { cm: '#1f5fbf', mod_bosh: '#d62728', ejabberd: '#2ca02c', c2s: '#7f7f7f', nxb: '#ff7f0e' };
const NAME: Record<System, string> = { cm: 'shared-bosh + Prosody c2s', mod_bosh: 'Prosody mod_bosh', ejabberd: 'ejabberd mod_bosh', c2s: 'Prosody c2s alone (no BOSH)', nxb: 'node-xmpp-bosh + Prosody c2s' };

/**
 * One figure of a system at every step rate that no round of it found overloaded (the median of
 * the rounds), and every round's value as a dot.
 */
function byRate(run: StoredRun, sys: System, f: (s: StepResult) => number): Pick<Series, 'points' | 'dots'> {
  const rounds = run.runs.filter((r) => r.system === sys);
  const rates = [...new Set(rounds.flatMap((r) => r.relay.map((s) => s.rate)))].sort((a, b) => a - b);
  const points: Array<[number, number]> = [];
  const dots: Array<[number, number]> = [];
  for (const rate of rates) {
    const steps = rounds.map((r) => r.relay.find((s) => s.rate === rate));
    if (steps.some((s) => s === undefined || overloaded(s))) continue;
    const values = steps.map((s) => f(s!));
    if (!values.every((v) => Number.isFinite(v))) continue;
    points.push([rate, median(values)]);
    if (values.length > 1) for (const v of values) dots.push([rate, v]);
  }
  return { points, dots };
}

function rateAxis(run: StoredRun | undefined): { min: number; max: number; ticks: number[] } {
  const steps = run?.params.steps ?? [25, 8000];
  return { min: Math.min(...steps) * 0.8, max: Math.max(...steps) * 1.25, ticks: steps };
}

const subtitleOf = (src: Sources): string => (src.relay
  ? `${src.relay.file} of ${src.relay.data.machine.date.slice(0, 10)}, 100 pairs; median of ${src.relay.data.params.rounds} rounds (dots: each round); lines end where a round was overloaded`
  : 'not measured yet: no stored run (bench/results/default.json)');

export function p99Chart(src: Sources): string {
  const run = src.relay?.data;
  const systems = ALL_SYSTEMS.filter((s) => run?.runs.some((r) => r.system === s));
  return lineChart({
    title: 'Relay latency p99 against the message rate',
    subtitle: subtitleOf(src),
    x: { label: 'messages per second, all pairs together (log scale)', log: true, ...rateAxis(run) },
    y: { label: 'p99 latency, ms (log scale)', log: true, min: 0.5, max: 100, ticks: [0.5, 1, 2, 5, 10, 20, 50, 100] },
    series: systems.map((s) => ({ name: NAME[s], color: COLOR[s], ...byRate(run!, s, (x) => x.latencyMs.p99) })),
    target: { y: TARGETS.relay.p99Ms, label: `target: p99 < ${TARGETS.relay.p99Ms} ms up to ${TARGETS.relay.p99UpToRate} msg/s` },
  });
}

export function cpuChart(src: Sources): string {
  const run = src.relay?.data;
  const systems = ALL_SYSTEMS.filter((s) => run?.runs.some((r) => r.system === s));
  const series: Series[] = [];
  for (const s of systems) {
    // The whole server side: the CM and its Prosody together; mod_bosh, ejabberd and c2s are one process.
    series.push({ name: NAME[s], color: COLOR[s], ...byRate(run!, s, (x) => (s === 'cm' || s === 'nxb' ? x.cpuUsPerMsg.total : x.cpuUsPerMsg.prosody)) });
    if (s === 'cm' || s === 'nxb') {
      series.push({ name: s === 'cm' ? 'shared-bosh process alone' : 'node-xmpp-bosh process alone', color: COLOR[s], dashed: true, ...byRate(run!, s, (x) => x.cpuUsPerMsg.cm) });
    }
  }
  const ticks = niceTicks(Math.max(1, ...series.flatMap((s) => [...s.points, ...(s.dots ?? [])].map(([, y]) => y))));
  const max = ticks[ticks.length - 1]!;
  return lineChart({
    title: 'Server CPU per relayed message against the message rate',
    subtitle: subtitleOf(src),
    x: { label: 'messages per second, all pairs together (log scale)', log: true, ...rateAxis(run) },
    y: { label: 'CPU per message, µs', log: false, min: 0, max, ticks },
    series,
  });
}

const TABS_SYSTEMS: Array<{ system: TabsFigures['system']; name: string; color: string }> = [
  { system: 'cm-shared', name: 'shared-bosh, shared', color: '#1f5fbf' },
  { system: 'cm-unshared', name: 'shared-bosh, not shared', color: '#8fb3e8' },
  { system: 'mod_bosh', name: 'Prosody mod_bosh', color: '#d62728' },
  { system: 'ejabberd', name: 'ejabberd mod_bosh', color: '#2ca02c' },
];
const LAYOUTS: Array<{ layout: TabsFigures['layout']; name: string }> = [
  { layout: 'http1', name: 'HTTP/1.1' },
  { layout: 'h2', name: 'HTTPS + HTTP/2' },
];

/** The tabs chart of `figures` (T = 8; those of other tab counts are left out); none measured: a "not measured yet" chart. */
export function tabsChart(figures: TabsFigures[], source: string): string {
  const T = TARGETS.tabs;
  const mine = figures.filter((f) => f.tabs === T.tabs);
  const value = (layout: TabsFigures['layout'], system: TabsFigures['system'], get: (f: TabsFigures) => number): number => {
    const f = mine.find((x) => x.layout === layout && x.system === system);
    return f ? get(f) : Number.NaN;
  };
  const users = mine[0]?.users ?? T.users;
  return barChart({
    title: `One user with ${T.tabs} browser tabs: what the server pays`,
    subtitle: mine.length > 0
      ? `${source}: ${users} users × ${T.tabs} tabs, every tab gets each message; server = CM + XMPP server; HTTP/2: one connection per browser`
      : `${users} users × ${T.tabs} tabs; server = CM + XMPP server`,
    bars: TABS_SYSTEMS.map((s) => ({ name: s.name, color: s.color })),
    panels: [
      { title: 'CPU per inbound message', unit: 'µs', groups: LAYOUTS.map((l) => ({ name: l.name, values: TABS_SYSTEMS.map((s) => value(l.layout, s.system, (f) => f.cpuPerInboundMsgUs)) })) },
      { title: 'RSS per user', unit: 'KiB', groups: LAYOUTS.map((l) => ({ name: l.name, values: TABS_SYSTEMS.map((s) => value(l.layout, s.system, (f) => f.rssPerUserKiB)) })) },
    ],
    empty: mine.length > 0 ? undefined : 'not measured yet: no stored run of the tabs scenario (bench/results/tabs.json)',
  });
}

/** Every chart, by file name, as the stored results render it. */
export function renderCharts(src: Sources = loadSources()): Map<string, string> {
  return new Map([
    ['relay-p99.svg', p99Chart(src)],
    ['relay-cpu.svg', cpuChart(src)],
    ['tabs.svg', tabsChart(src.tabs?.data.figures ?? [], src.tabs?.file ?? '')],
  ]);
}

export function writeCharts(src: Sources = loadSources(), dir = IMG_DIR): string[] {
  const written: string[] = [];
  for (const [name, svg] of renderCharts(src)) {
    const file = join(dir, name);
    writeFileSync(`${file}.tmp`, svg);
    renameSync(`${file}.tmp`, file);
    written.push(file);
  }
  return written;
}

/** The charts whose committed file differs from what the stored results render. */
export function staleCharts(src: Sources = loadSources(), dir = IMG_DIR): string[] {
  return [...renderCharts(src)].filter(([name, svg]) => !existsSync(join(dir, name)) || readFileSync(join(dir, name), 'utf8') !== svg).map(([name]) => name);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const stale = staleCharts();
    if (stale.length > 0) {
      process.stderr.write(`stale: ${stale.join(', ')}; run node dist/bench/charts.js\n`);
      process.exit(1);
    }
  } else {
    for (const f of writeCharts()) process.stderr.write(`wrote ${f}\n`);
  }
}
