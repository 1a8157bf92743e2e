/**
 * The report of the tabs scenario: bench/results/tabs.json (bench/tabs.ts) rendered as the
 * `tabs` block of docs/performance.md (between `<!-- bench:results:tabs:begin -->` and its end
 * marker, written with bench/report.ts's writeDocs), the targets of issue 15 part 1 with met or
 * missed, and `tabsBars()`: per layout and system, the values the charts draw as bars.
 *
 * Runs with another T (`--tabs 2`, `--tabs 16`) have blocks and files of their own (`tabs-t16`).
 *
 *   node dist/bench/tabs-report.js bench/results/tabs.json [--write]   re-render (stdout, or into the docs with the headline and charts)
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { atMost, DOCS, ratioStr, writeDocs } from './report.js';
import { writeGenerated } from './generated.js';
import { fmt, fmtInt, median, type TabsFigures } from './results.js';
import { DISTURBED_SHARE } from './quiet-gate.js';
import {
  TABS_LAYOUT_TITLE, TABS_LAYOUTS, TABS_RESULTS_FORMAT, TABS_SYSTEM_TITLE, TABS_SYSTEMS, type TabsLayout, type TabsRun, type TabsStored, type TabsSystem,
} from './tabs-results.js';

/** The key of the generated block in docs/performance.md (T = 8), and its file in bench/results/. */
export const TABS_BLOCK = 'tabs';

/** The block (and bench/results/<key>.json) of a run with T tabs: `tabs` for 8, `tabs-t16` for 16. */
export function tabsBlockKey(tabs: number): string {
  return tabs === 8 ? TABS_BLOCK : `${TABS_BLOCK}-t${tabs}`;
}

/** A stored tabs run, if this report can render it (same scenario and format). */
export function loadTabs(file: string): TabsStored {
  // JSON.stringify wrote NaN (a figure a system does not have, such as the CM's CPU of mod_bosh) as null.
  const stored = JSON.parse(readFileSync(file, 'utf8'), (_k, v: unknown) => (v === null ? Number.NaN : v)) as Partial<TabsStored>;
  if (stored.scenario !== 'tabs') throw new Error(`${file} is not a tabs run (scenario ${String(stored.scenario)})`);
  if (stored.format !== TABS_RESULTS_FORMAT) {
    throw new Error(`${file} was recorded in tabs results format ${String(stored.format)}, this report renders format ${TABS_RESULTS_FORMAT}; run \`npm run bench:tabs\` again`);
  }
  return stored as TabsStored;
}

/** Medians over the rounds of one system in one layout. */
export interface TabsMedians {
  system: TabsSystem;
  layout: TabsLayout;
  rounds: number;
  /** Server CPU (ms; the CM and the XMPP server, and together) per inbound message delivered to all T tabs. */
  cpuMsPerInbound: { cm: number; server: number; total: number };
  cpuUsPerCopy: number;
  /** RSS growth per user with T tabs (KiB), the CM's without its young generation. */
  rssKiBPerUser: { cm: number; cmRaw: number; server: number; total: number };
  /** RSS right after start, before any session (MiB). */
  idleMiB: { cm: number; server: number };
  /** Server CPU (ms) per tab 2..T joining, and per first-tab login. */
  joinCpuMs: number;
  joinCpuMsParts: { cm: number; server: number };
  joinP50Ms: number;
  joinP99Ms: number;
  firstLoginCpuMs: number;
  xmppSessions: number;
  connectionsPerUser: number;
  lastTabP50Ms: number;
  lastTabP99Ms: number;
  /** Over all rounds: messages of the window a tab never got, extra copies, copies to another user. */
  missing: number;
  duplicates: number;
  misrouted: number;
  sent: number;
}

function figures(runs: TabsRun[], system: TabsSystem, layout: TabsLayout): TabsMedians | undefined {
  const rs = runs.filter((r) => r.system === system && r.layout === layout);
  if (rs.length === 0) return undefined;
  const m = (f: (r: TabsRun) => number): number => median(rs.map(f));
  const sum = (f: (r: TabsRun) => number): number => rs.reduce((a, r) => a + f(r), 0);
  const sumArr = (a: number[]): number => a.reduce((x, y) => x + y, 0);
  return {
    system, layout, rounds: rs.length,
    cpuMsPerInbound: { cm: m((r) => r.stream.cpuMsPerInbound.cm), server: m((r) => r.stream.cpuMsPerInbound.server), total: m((r) => r.stream.cpuMsPerInbound.total) },
    cpuUsPerCopy: m((r) => r.stream.cpuUsPerCopy.total),
    rssKiBPerUser: { cm: m((r) => r.perUserKiB.cm), cmRaw: m((r) => r.perUserKiB.cmRaw), server: m((r) => r.perUserKiB.server), total: m((r) => r.perUserKiB.total) },
    idleMiB: { cm: m((r) => r.idleKiB.cm / 1024), server: m((r) => r.idleKiB.server / 1024) },
    joinCpuMs: m((r) => r.join.cpuMsPer.total),
    joinCpuMsParts: { cm: m((r) => r.join.cpuMsPer.cm), server: m((r) => r.join.cpuMsPer.server) },
    joinP50Ms: m((r) => r.join.setupMs.p50),
    joinP99Ms: m((r) => r.join.setupMs.p99),
    firstLoginCpuMs: m((r) => r.first.cpuMsPer.total),
    xmppSessions: m((r) => r.xmppSessions),
    connectionsPerUser: m((r) => (r.first.connections + r.join.connections) / Math.max(1, r.first.opened)),
    lastTabP50Ms: m((r) => r.stream.lastTabMs.p50),
    lastTabP99Ms: m((r) => r.stream.lastTabMs.p99),
    missing: sum((r) => sumArr(r.stream.missingPerTab)),
    duplicates: sum((r) => sumArr(r.stream.duplicatesPerTab)),
    misrouted: sum((r) => r.stream.misrouted),
    sent: sum((r) => r.stream.sentInWindow),
  };
}

const FIGURES_LAYOUT: Record<TabsLayout, TabsFigures['layout']> = { http1: 'http1', https: 'h2' };
const FIGURES_SYSTEM: Record<TabsSystem, TabsFigures['system']> = { shared: 'cm-shared', unshared: 'cm-unshared', mod_bosh: 'mod_bosh', ejabberd: 'ejabberd' };

/**
 * What the headline and the tabs chart (bench/headline.ts, bench/charts.ts) read of a run:
 * per layout and system, in the order (a) (b) (c) (d), the medians over the rounds as
 * TabsFigures (bench/results.ts). bench/tabs.ts stores them as `figures` in the results file.
 * `loginCpuMs` is a full login's CM + server CPU: for (a), that of a tab of (b) (a full login
 * through the same CM, measured the same way); for the others, their own joining tabs.
 */
export function tabsFigures(stored: Pick<TabsStored, 'runs' | 'params'>): TabsFigures[] {
  const out: TabsFigures[] = [];
  for (const layout of TABS_LAYOUTS) {
    for (const system of TABS_SYSTEMS) {
      const f = figures(stored.runs, system, layout);
      if (!f) continue;
      const login = system === 'shared' ? figures(stored.runs, 'unshared', layout)?.joinCpuMs ?? Number.NaN : f.joinCpuMs;
      out.push({
        layout: FIGURES_LAYOUT[layout], system: FIGURES_SYSTEM[system], users: stored.params.users, tabs: stored.params.tabs, inboundPerS: stored.params.rate,
        cpuPerInboundMsgUs: f.cpuMsPerInbound.total * 1000, rssPerUserKiB: f.rssKiBPerUser.total,
        ...(Number.isFinite(f.idleMiB.cm) ? { cmIdleRssMiB: f.idleMiB.cm } : {}),
        joinCpuMs: f.joinCpuMs, loginCpuMs: login, joinP50Ms: f.joinP50Ms, lastTabP50Ms: f.lastTabP50Ms, lastTabP99Ms: f.lastTabP99Ms, upstreamSessions: f.xmppSessions,
      });
    }
  }
  return out;
}

export interface TabsVerdict {
  layout: TabsLayout;
  target: string;
  value: string;
  met: boolean | undefined;
  text: string;
}

/** `value < limit` (strictly): met, or missed by value/limit. */
function below(value: number, limit: number, unit: string): { met: boolean | undefined; text: string } {
  if (!Number.isFinite(value)) return { met: undefined, text: 'not measured' };
  if (value < limit) return { met: true, text: `met (${fmt(value, 2)}${unit} < ${limit}${unit})` };
  return { met: false, text: `**missed**: ${fmt(value, 2)}${unit} is ${fmt(value / limit, 2)}× the limit ${limit}${unit}` };
}

/** The targets of issue 15 part 1 for (a), per layout, against (b), (c) and (d) of the same run. */
export function tabsVerdicts(stored: TabsStored): TabsVerdict[] {
  const out: TabsVerdict[] = [];
  for (const layout of TABS_LAYOUTS) {
    const a = figures(stored.runs, 'shared', layout);
    if (!a) continue;
    const b = figures(stored.runs, 'unshared', layout);
    const c = figures(stored.runs, 'mod_bosh', layout);
    const d = figures(stored.runs, 'ejabberd', layout);
    const ratio = (x: number, y: number | undefined): number => (y === undefined ? Number.NaN : x / y);
    const add = (target: string, value: string, v: { met: boolean | undefined; text: string }): void => {
      out.push({ layout, target, value, met: v.met, text: v.text });
    };
    const cpuC = ratio(a.cpuMsPerInbound.total, c?.cpuMsPerInbound.total);
    const cpuD = ratio(a.cpuMsPerInbound.total, d?.cpuMsPerInbound.total);
    const rssC = ratio(a.rssKiBPerUser.total, c?.rssKiBPerUser.total);
    const rssD = ratio(a.rssKiBPerUser.total, d?.rssKiBPerUser.total);
    const join = ratio(a.joinCpuMs, b?.joinCpuMs);
    add('CPU per inbound message ≤ 0.3× (c)', `${fmt(a.cpuMsPerInbound.total, 3)} vs ${fmt(c?.cpuMsPerInbound.total ?? Number.NaN, 3)} ms: ${ratioStr(cpuC)}`, atMost(cpuC, 0.3, '×'));
    add('CPU per inbound message ≤ 0.5× (d)', `${fmt(a.cpuMsPerInbound.total, 3)} vs ${fmt(d?.cpuMsPerInbound.total ?? Number.NaN, 3)} ms: ${ratioStr(cpuD)}`, atMost(cpuD, 0.5, '×'));
    add('RSS per user ≤ 0.3× (c)', `${fmt(a.rssKiBPerUser.total)} vs ${fmt(c?.rssKiBPerUser.total ?? Number.NaN)} KiB: ${ratioStr(rssC)}`, atMost(rssC, 0.3, '×'));
    add('RSS per user ≤ 0.1× (d)', `${fmt(a.rssKiBPerUser.total)} vs ${fmt(d?.rssKiBPerUser.total ?? Number.NaN)} KiB: ${ratioStr(rssD)}`, atMost(rssD, 0.1, '×'));
    add('CPU per joining tab ≤ 0.1× a full login\'s CM + Prosody CPU (a tab of (b))', `${fmt(a.joinCpuMs, 3)} vs ${fmt(b?.joinCpuMs ?? Number.NaN, 3)} ms: ${ratioStr(join)}`, atMost(join, 0.1, '×'));
    add('Join p50 ≤ 5 ms', `${fmt(a.joinP50Ms, 2)} ms`, atMost(a.joinP50Ms, 5, ' ms'));
    add(`p99 delivery to the last tab < 10 ms at ${stored.params.rate} inbound msg/s`, `${fmt(a.lastTabP99Ms, 2)} ms`, below(a.lastTabP99Ms, 10, ' ms'));
  }
  return out;
}

function systemTable(stored: TabsStored, layout: TabsLayout): string[] {
  const fs = TABS_SYSTEMS.map((s) => figures(stored.runs, s, layout)).filter((f): f is TabsMedians => f !== undefined);
  if (fs.length === 0) return [];
  const p = stored.params;
  const cell = (f: TabsMedians, cm: number, server: number, total: number, digits: number): string =>
    (Number.isFinite(cm) ? `**${fmt(total, digits)}** (CM ${fmt(cm, digits)} + ${f.system === 'ejabberd' ? 'ejabberd' : 'Prosody'} ${fmt(server, digits)})` : `**${fmt(total, digits)}**`);
  const row = (metric: string, f: (x: TabsMedians) => string): string => `| ${metric} | ${fs.map(f).join(' | ')} |`;
  return [
    `### ${TABS_LAYOUT_TITLE[layout]}`,
    '',
    `| ${p.users} users × ${p.tabs} tabs | ${fs.map((f) => TABS_SYSTEM_TITLE[f.system]).join(' | ')} |`,
    `|---|${fs.map(() => '---:').join('|')}|`,
    row('Server CPU per inbound message delivered to all tabs (ms)', (f) => cell(f, f.cpuMsPerInbound.cm, f.cpuMsPerInbound.server, f.cpuMsPerInbound.total, 3)),
    row('… per delivered copy (µs)', (f) => fmt(f.cpuUsPerCopy, 1)),
    row(`Server RSS per user with ${p.tabs} tabs (KiB)`, (f) => cell(f, f.rssKiBPerUser.cm, f.rssKiBPerUser.server, f.rssKiBPerUser.total, 1)),
    row('… the CM\'s raw RSS growth per user, young generation left in (KiB)', (f) => fmt(f.rssKiBPerUser.cmRaw, 1)),
    row('RSS before any session (MiB)', (f) => (Number.isFinite(f.idleMiB.cm) ? `CM ${fmt(f.idleMiB.cm)}, Prosody ${fmt(f.idleMiB.server)}` : fmt(f.idleMiB.server))),
    row(`Server CPU per tab 2..${p.tabs} joining (ms)`, (f) => cell(f, f.joinCpuMsParts.cm, f.joinCpuMsParts.server, f.joinCpuMs, 3)),
    row('… join wall time p50 / p99 (ms)', (f) => `${fmt(f.joinP50Ms, 2)} / ${fmt(f.joinP99Ms, 2)}`),
    row('Server CPU per first tab\'s login (ms)', (f) => fmt(f.firstLoginCpuMs, 3)),
    row('HTTP connections opened per user (all tabs)', (f) => fmt(f.connectionsPerUser, 1)),
    row('Sessions of the tab users in the XMPP server (upstream c2s for the CM)', (f) => fmtInt(f.xmppSessions)),
    row('Delivery to the last tab p50 / p99 (ms)', (f) => `${fmt(f.lastTabP50Ms, 2)} / ${fmt(f.lastTabP99Ms, 2)}`),
    row('Missing / duplicate / misrouted copies (all rounds)', (f) => `${f.missing} / ${f.duplicates} / ${f.misrouted} of ${fmtInt(f.sent * p.tabs)}`),
    '',
  ];
}

/** Which measured windows other processes disturbed (their CPU outside the measured processes). */
export function disturbedNote(runs: TabsRun[]): string {
  const disturbed = runs.flatMap((r) => [
    ['joining tabs', r.join.otherCpuMs / r.join.elapsedMs] as const,
    ['messages', r.stream.otherCpuMs / (r.stream.windowS * 1000)] as const,
  ].filter(([, share]) => share > DISTURBED_SHARE).map(([what, share]) => `round ${r.round} ${r.layout} ${r.system} ${what} (${fmt(share * 100, 0)} %)`));
  return disturbed.length > 0
    ? `other processes used more than ${DISTURBED_SHARE * 100} % of a CPU (after waiting for a quiet machine and measuring again) during: ${disturbed.join(', ')}; treat those numbers with care`
    : `no measured window was disturbed by other processes (each used less than ${DISTURBED_SHARE * 100} % of a CPU outside the measured processes)`;
}

/** The block `tabsBlockKey(T)` of docs/performance.md, markers included. */
export function renderTabs(stored: TabsStored): string {
  const { machine: m, params: p } = stored;
  const verdicts = tabsVerdicts(stored);
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `<!-- bench:results:${tabsBlockKey(p.tabs)}:begin -->`,
    `## One user, many tabs (T = ${p.tabs}): \`npm run bench:tabs${p.argv.length > 0 ? ` -- ${p.argv.join(' ')}` : ''}\` of ${m.date.slice(0, 10)}`,
    '',
    `${p.users} users with ${p.tabs} tabs each; senders (${p.senders} users over plain XMPP/TCP to the server's c2s port) send ${p.rate} messages/s in total to the users' bare JIDs, `
      + `${fmtInt(p.rate * p.tabs)} deliveries/s. (a) each user's first tab logs in with a \`shared:key\`, tabs 2..${p.tabs} attach with it: one link of ${p.tabs} members and one c2s session per user; `
      + `(b) the same CM, every tab a full login; (c) Prosody's mod_bosh and (d) ejabberd's mod_bosh, a session per tab. `
      + `First tabs log in ${p.firstConcurrency} at a time, tabs 2..${p.tabs} one at a time. CPU and RSS are the server processes' (core 0); RSS is read after forced GCs, `
      + 'the CM\'s without the growth of V8\'s young generation. Each number is the median over the rounds.',
    '',
    `- date: ${m.date}; machine: ${m.nproc} CPUs, ${m.cpuModel}, ${m.memory} RAM, ${m.kernel}`,
    `- software: Node ${m.node}, ${m.prosody}${m.others ? `, ${m.others}` : ''}`,
    `- rounds: ${p.rounds}; per round, per layout, in this order: ${p.systems.map((s) => TABS_SYSTEM_TITLE[s]).join(', ')}; `
      + `message window ${fmt(p.windowMs / 1000)} s after ${fmt(p.warmupMs / 1000)} s of warm-up`,
    '',
    `| Target (issue 15, part 1) | Layout | (a) vs reference | Result |`,
    '|---|---|---|---|',
    ...verdicts.map((v) => `| ${esc(v.target)} | ${v.layout === 'http1' ? 'HTTP/1.1' : 'HTTPS'} | ${esc(v.value)} | ${esc(v.text)} |`),
    '',
    ...p.layouts.flatMap((l) => systemTable(stored, l)),
    ...[...stored.notes, disturbedNote(stored.runs)].map((n) => `- ${n}`),
    '',
    `Raw data: [bench/results/${tabsBlockKey(p.tabs)}.json](../bench/results/${tabsBlockKey(p.tabs)}.json).`,
    `<!-- bench:results:${tabsBlockKey(p.tabs)}:end -->`,
  ].join('\n');
}

/** What bench/tabs.ts prints at the end of a run. */
export function tabsSummaryText(stored: TabsStored): string {
  return `\n${renderTabs(stored)}\n`;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  if (file === undefined || args.some((a) => a.startsWith('--') && a !== '--write')) {
    process.stderr.write('usage: node dist/bench/tabs-report.js bench/results/tabs.json [--write]\n');
    process.exit(2);
  }
  const stored = loadTabs(file);
  if (args.includes('--write')) {
    writeDocs(renderTabs(stored), tabsBlockKey(stored.params.tabs));
    process.stderr.write(`replaced the block "${tabsBlockKey(stored.params.tabs)}" of ${DOCS}\n`);
    for (const what of writeGenerated()) process.stderr.write(`wrote ${what}\n`);
  } else {
    process.stdout.write(`${renderTabs(stored)}\n`);
  }
}
