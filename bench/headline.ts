/**
 * The headline of docs/performance.md: the targets of issue #15 (bench/targets.ts) with what the
 * stored runs (bench/results/*.json) say about them, met or missed, and the machine. It is one
 * generated block, rendered from the stored results only; whatever has no stored data reads "not
 * measured yet". Sources:
 *
 * - bench/results/default.json: relay, logins, RSS per idle session at 1,000 (bench/run.ts);
 * - bench/results/full.json: RSS per idle session at 10,000 (`--full`);
 * - bench/results/tabs.json: the tabs scenario, `figures: TabsFigures[]`;
 * - bench/results/members.json: the 50,000-members scenario, `figures: MembersFigures`;
 * - bench/results/before-issue-15/default.json: the default run before issue #15, the reference
 *   of "halved against today's" and the "before" column.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadStored, RESULTS_DIR, summarize, type StoredRun } from './report.js';
import { fmt, fmtInt, median, worstP99, type Hiccups, type MembersFigures, type StepResult, type SystemRun, type TabsFigures } from './results.js';
import { TARGETS } from './targets.js';
import { gcUsPerHttp as tailsGcUsPerHttp } from './tails.js';

export const HEADLINE_KEY = 'headline';
export const BEFORE_DIR = 'before-issue-15';

export interface Stored<T> {
  /** Relative to bench/results/. */
  file: string;
  data: T;
}

export interface TabsStored {
  machine?: { date?: string };
  figures: TabsFigures[];
}

export interface MembersStored {
  machine?: { date?: string };
  figures: MembersFigures;
}

export interface Sources {
  relay?: Stored<StoredRun>;
  full?: Stored<StoredRun>;
  before?: Stored<StoredRun>;
  tabs?: Stored<TabsStored>;
  members?: Stored<MembersStored>;
}

function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'), (_key, value: unknown) => (value === null ? Number.NaN : value));
}

/** The tabs scenario's stored figures; a tabs.json of another shape is an error, not "not measured". */
export function loadTabs(file: string): TabsStored {
  const json = readJson(file) as Partial<TabsStored>;
  if (!Array.isArray(json.figures)) throw new Error(`${file} has no "figures" array of TabsFigures (bench/results.ts)`);
  return json as TabsStored;
}

export function loadMembers(file: string): MembersStored {
  const json = readJson(file) as Partial<MembersStored>;
  if (typeof json.figures !== 'object' || json.figures === null) throw new Error(`${file} has no "figures" object of MembersFigures (bench/results.ts)`);
  return json as MembersStored;
}

/** Every stored result the headline and the charts read, from `dir` (bench/results/). */
export function loadSources(dir = RESULTS_DIR): Sources {
  const src: Sources = {};
  const at = (name: string): string | undefined => (existsSync(join(dir, name)) ? name : undefined);
  const relay = at('default.json');
  if (relay) src.relay = { file: relay, data: loadStored(join(dir, relay)) };
  const full = at('full.json');
  if (full) src.full = { file: full, data: loadStored(join(dir, full)) };
  const before = at(join(BEFORE_DIR, 'default.json'));
  if (before) src.before = { file: before, data: loadStored(join(dir, before)) };
  const tabs = at('tabs.json');
  if (tabs) src.tabs = { file: tabs, data: loadTabs(join(dir, tabs)) };
  const members = at('members.json');
  if (members) src.members = { file: members, data: loadMembers(join(dir, members)) };
  return src;
}

const NOT_YET = 'not measured yet';

interface Cell {
  text: string;
  met: boolean | undefined;
}

/** `value` against a limit: `max` (≤), `under` (<) or `min` (≥); NaN is not measured. */
export function judge(value: number, limit: number, kind: 'max' | 'under' | 'min'): Cell {
  if (!Number.isFinite(value)) return { text: NOT_YET, met: undefined };
  const met = kind === 'max' ? value <= limit : kind === 'under' ? value < limit : value >= limit;
  if (met) return { text: 'met', met };
  return { text: kind === 'min' ? `**missed**, ${fmt((1 - value / limit) * 100, 0)} % short` : `**missed**, ${fmt(value / limit, 2)}× the limit`, met };
}

/** "0.42× (1,080 / 2,600 µs): met", or "not measured yet". */
function ratioCell(a: number, b: number, unit: string, digits: number, limit: number, kind: 'max' | 'min'): string {
  const r = a / b;
  if (!Number.isFinite(r)) return NOT_YET;
  return `${fmt(r, 2)}× (${fmt(a, digits)} / ${fmt(b, digits)}${unit}): ${judge(r, limit, kind).text}`;
}

function valueCell(value: number, unit: string, digits: number, limit: number, kind: 'max' | 'under' | 'min'): string {
  if (!Number.isFinite(value)) return NOT_YET;
  return `${fmt(value, digits)}${unit}: ${judge(value, limit, kind).text}`;
}

const link = (s: Stored<unknown>): string => `[${s.file}](../bench/results/${s.file})`;
const dateOf = (s: Stored<StoredRun>): string => s.data.machine.date.slice(0, 10);

/** The tabs scenario's figure of one system in one layout (T = 8), if measured. */
function tabsFigure(src: Sources, layout: TabsFigures['layout'], system: TabsFigures['system']): TabsFigures | undefined {
  return src.tabs?.data.figures.find((f) => f.layout === layout && f.system === system && f.tabs === TARGETS.tabs.tabs);
}

function tabsTable(src: Sources): string[] {
  const T = TARGETS.tabs;
  const layouts: Array<[TabsFigures['layout'], string]> = [['http1', 'HTTP/1.1, a connection per tab'], ['h2', 'HTTPS, HTTP/2 (one connection per browser)']];
  const num = (f: TabsFigures | undefined, get: (x: TabsFigures) => number | undefined): number => (f ? get(f) ?? Number.NaN : Number.NaN);
  const rows: Array<[string, (l: TabsFigures['layout']) => string]> = [
    [`Server CPU per inbound message delivered to all ${T.tabs} tabs ≤ ${T.cpuVsModBosh}× Prosody mod_bosh`, (l) =>
      ratioCell(num(tabsFigure(src, l, 'cm-shared'), (f) => f.cpuPerInboundMsgUs), num(tabsFigure(src, l, 'mod_bosh'), (f) => f.cpuPerInboundMsgUs), ' µs', 0, T.cpuVsModBosh, 'max')],
    [`… ≤ ${T.cpuVsEjabberd}× ejabberd mod_bosh`, (l) =>
      ratioCell(num(tabsFigure(src, l, 'cm-shared'), (f) => f.cpuPerInboundMsgUs), num(tabsFigure(src, l, 'ejabberd'), (f) => f.cpuPerInboundMsgUs), ' µs', 0, T.cpuVsEjabberd, 'max')],
    [`Server RSS per user with ${T.tabs} tabs ≤ ${T.rssVsModBosh}× Prosody mod_bosh`, (l) =>
      ratioCell(num(tabsFigure(src, l, 'cm-shared'), (f) => f.rssPerUserKiB), num(tabsFigure(src, l, 'mod_bosh'), (f) => f.rssPerUserKiB), ' KiB', 0, T.rssVsModBosh, 'max')],
    [`… ≤ ${T.rssVsEjabberd}× ejabberd mod_bosh`, (l) =>
      ratioCell(num(tabsFigure(src, l, 'cm-shared'), (f) => f.rssPerUserKiB), num(tabsFigure(src, l, 'ejabberd'), (f) => f.rssPerUserKiB), ' KiB', 0, T.rssVsEjabberd, 'max')],
    [`Server CPU per joining tab ≤ ${T.joinVsLogin}× a full login`, (l) => {
      const f = tabsFigure(src, l, 'cm-shared');
      return ratioCell(num(f, (x) => x.joinCpuMs), num(f, (x) => x.loginCpuMs), ' ms', 2, T.joinVsLogin, 'max');
    }],
    [`Join p50 ≤ ${T.joinP50Ms} ms`, (l) => valueCell(num(tabsFigure(src, l, 'cm-shared'), (f) => f.joinP50Ms), ' ms', 2, T.joinP50Ms, 'max')],
    [`Delivery to the last tab, p99 < ${T.lastTabP99Ms} ms at ${T.lastTabRate} inbound msg/s`, (l) => {
      const f = tabsFigure(src, l, 'cm-shared');
      const cell = valueCell(num(f, (x) => x.lastTabP99Ms), ' ms', 2, T.lastTabP99Ms, 'under');
      return f && f.inboundPerS !== T.lastTabRate && cell !== NOT_YET ? `${cell} (at ${fmtInt(f.inboundPerS)} msg/s)` : cell;
    }],
    ['CPU per inbound message, shared vs shared-bosh without sharing (no target)', (l) => {
      const r = num(tabsFigure(src, l, 'cm-shared'), (f) => f.cpuPerInboundMsgUs) / num(tabsFigure(src, l, 'cm-unshared'), (f) => f.cpuPerInboundMsgUs);
      return Number.isFinite(r) ? `${fmt(r, 2)}×` : NOT_YET;
    }],
    ['The CM\'s RSS before any session (reported beside RSS per user)', (l) => {
      const v = num(tabsFigure(src, l, 'cm-shared'), (f) => f.cmIdleRssMiB);
      return Number.isFinite(v) ? `${fmt(v, 1)} MiB` : NOT_YET;
    }],
  ];
  return [
    // The users of the stored run (a shorter run than the target's 100 users says so).
    `**One user, many tabs** (${src.tabs?.data.figures.find((f) => f.tabs === T.tabs)?.users ?? T.users} users × ${T.tabs} tabs; shared-bosh with Shared BOSH against each system, same run${src.tabs ? `; ${link(src.tabs)}` : '; no stored run yet'})`,
    '',
    `| Target (issue #15 §1) | ${layouts.map(([, name]) => name).join(' | ')} |`,
    `|---|${layouts.map(() => '---').join('|')}|`,
    ...rows.map(([name, cell]) => `| ${name} | ${layouts.map(([l]) => cell(l)).join(' | ')} |`),
  ];
}

/** The CM's step at `rate` in each round (undefined where a round did not reach it). */
function cmSteps(run: StoredRun, rate: number): Array<StepResult | undefined> {
  return run.runs.filter((r) => r.system === 'cm').map((r) => r.relay.find((s) => s.rate === rate));
}

/**
 * GC pause time per HTTP request (µs) at `rate`, median over the CM's rounds (bench/tails.ts: the
 * CM's pauses over the whole step, warm-up and drain included, per HTTP request of its window;
 * runs before issue #15 recorded the same total); NaN where the CM recorded no GC figures.
 */
export function gcUsPerHttp(run: StoredRun, rate: number): number {
  return median(cmSteps(run, rate).map((s) => (s?.cmHiccups ? tailsGcUsPerHttp(s.cmHiccups, s) : Number.NaN)));
}

interface LineRow {
  target: string;
  now: string;
  before?: string;
  result: string;
}

function relayRows(src: Sources): LineRow[] {
  const R = TARGETS.relay;
  const run = src.relay?.data;
  const before = src.before?.data;
  const rows: LineRow[] = [];
  const v = run ? summarize(run.runs, run.floors, run.params).values : undefined;
  const bv = before ? summarize(before.runs, before.floors, before.params).values : undefined;
  const p99Text = (r: StoredRun): [string, Cell] => {
    const w = worstP99(r.runs, r.params.steps, R.p99UpToRate);
    if (Number.isNaN(w.p99)) return [NOT_YET, judge(Number.NaN, 0, 'max')];
    if (!w.complete) return [`over ${R.p99Ms} ms (${w.where})`, { text: '**missed**', met: false }];
    return [`worst ${fmt(w.p99, 2)} ms (${w.where})`, judge(w.p99, R.p99Ms, 'under')];
  };
  const nowP99 = run ? p99Text(run) : [NOT_YET, judge(Number.NaN, 0, 'max')] as [string, Cell];
  rows.push({ target: `Relay p99 < ${R.p99Ms} ms at every step up to ${fmtInt(R.p99UpToRate)} msg/s, every round`, now: nowP99[0], before: before ? p99Text(before)[0] : undefined, result: nowP99[1].text });
  const highest = (x: Record<string, number> | undefined, other: string): string => {
    if (!x) return NOT_YET;
    const r = x.cmHighest! / x[other]!;
    return Number.isFinite(r) ? `${fmt(r, 2)}× (${fmtInt(x.cmHighest!)} / ${fmtInt(x[other]!)} msg/s)` : NOT_YET;
  };
  rows.push({ target: `Highest rate with p99 < ${R.p99Ms} ms ≥ ${R.highestVsModBosh}× Prosody mod_bosh's`, now: highest(v, 'mbHighest'), before: bv ? highest(bv, 'mbHighest') : undefined,
    result: judge(v ? v.cmHighest! / v.mbHighest! : Number.NaN, R.highestVsModBosh, 'min').text });
  rows.push({ target: `… ≥ ${R.highestVsNxb}× node-xmpp-bosh's`, now: highest(v, 'nxbHighest'), before: bv ? highest(bv, 'nxbHighest') : undefined,
    result: judge(v ? v.cmHighest! / (v.nxbHighest ?? Number.NaN) : Number.NaN, R.highestVsNxb, 'min').text });
  const gcNow = run ? gcUsPerHttp(run, R.tailRate) : Number.NaN;
  const gcBefore = before ? gcUsPerHttp(before, R.tailRate) : Number.NaN;
  const gcText = (x: number): string => (Number.isFinite(x) ? `${fmt(x, 2)} µs` : NOT_YET);
  rows.push({ target: `The CM's GC time per HTTP request at ${fmtInt(R.tailRate)} msg/s ≤ ${R.gcPerHttpVsBefore}× before issue #15`, now: gcText(gcNow), before: before ? gcText(gcBefore) : undefined,
    result: Number.isFinite(gcNow) && !Number.isFinite(gcBefore) ? 'no figure from before issue #15 to compare' : judge(gcNow / gcBefore, R.gcPerHttpVsBefore, 'max').text });
  const tails = (r: StoredRun | undefined): string => {
    if (!r) return NOT_YET;
    const steps = cmSteps(r, R.tailRate).filter((s) => s?.cmHiccups?.delivery);
    if (steps.length === 0) return NOT_YET;
    const p = (f: (h: Hiccups) => number | undefined): string => fmt(median(steps.map((s) => f(s!.cmHiccups!) ?? Number.NaN)), 2);
    return `${p((h) => h.gcMaxMs)} / ${p((h) => h.loopDelay?.p99Ms ?? h.loopDelayP99Ms)} / ${p((h) => h.delivery?.p99Ms)} ms`;
  };
  rows.push({ target: `Where the tail comes from at ${fmtInt(R.tailRate)} msg/s: the CM's longest GC pause / event-loop delay p99 / stanza queued to written p99 (reported)`, now: tails(run), before: before ? tails(before) : undefined, result: '—' });
  return rows;
}

function loginRows(src: Sources): LineRow[] {
  const L = TARGETS.logins;
  const values = (s: Stored<StoredRun> | undefined): Record<string, number> | undefined => (s ? summarize(s.data.runs, s.data.floors, s.data.params).values : undefined);
  const v = values(src.relay);
  const bv = values(src.before);
  const fv = values(src.full);
  const rows: LineRow[] = [];
  const ms = (x: Record<string, number> | undefined): string => (x && Number.isFinite(x.cmSetupCpu!) ? `${fmt(x.cmSetupCpu!, 2)} ms` : NOT_YET);
  rows.push({ target: `The CM's CPU per session set up ≤ ${L.setupCpuMs} ms`, now: ms(v), before: src.before ? ms(bv) : undefined, result: judge(v?.cmSetupCpu ?? Number.NaN, L.setupCpuMs, 'max').text });
  const kib = (x: Record<string, number> | undefined): string => (x && Number.isFinite(x.cmRss!) ? `${fmt(x.cmRss!, 1)} KiB` : NOT_YET);
  const idleAt = (s: Stored<StoredRun> | undefined, fallback: string): string => {
    if (!s) return `${fallback} sessions`;
    return `${fmtInt(s.data.params.idleSessions)} sessions${s.data.params.idleH2 ? ' (the CM over HTTP/2)' : ''}`;
  };
  rows.push({ target: `RSS per idle session ≤ ${L.idleRssKiB} KiB at ${idleAt(src.relay, '1,000')}`, now: kib(v), before: src.before ? kib(bv) : undefined, result: judge(v?.cmRss ?? Number.NaN, L.idleRssKiB, 'max').text });
  rows.push({ target: `… at ${idleAt(src.full, '10,000')}, \`--full\``, now: kib(fv), before: undefined, result: judge(fv?.cmRss ?? Number.NaN, L.idleRssKiB, 'max').text });
  const m = src.members?.data.figures;
  rows.push({
    target: `${fmtInt(L.members)} idle members in one process, every one answering a ping; RSS per member reported`,
    now: m ? `${fmtInt(m.held)} held (${fmtInt(m.links)} links, ${m.transport}), ${fmtInt(m.answered)} answered, ${fmtInt(m.failed)} failed; ${fmt(m.rssPerMemberKiB, 1)} KiB per member` : NOT_YET,
    before: undefined,
    result: m ? (m.held >= L.members && m.answered >= L.members && m.failed === 0 ? 'met' : '**missed**') : NOT_YET,
  });
  return rows;
}

function lineTable(title: string, rows: LineRow[], beforeName: string | undefined): string[] {
  const withBefore = beforeName !== undefined;
  return [
    title,
    '',
    `| Target (issue #15) | Now |${withBefore ? ` ${beforeName} |` : ''} Result |`,
    `|---|---|${withBefore ? '---|' : ''}---|`,
    ...rows.map((r) => `| ${r.target} | ${r.now} |${withBefore ? ` ${r.before ?? '—'} |` : ''} ${r.result} |`),
  ];
}

/** The generated headline block of docs/performance.md (markers included). */
export function renderHeadline(src: Sources): string {
  const run = src.relay?.data;
  // The "before" column appears once the current run is another than the one before issue #15.
  const showBefore = src.before !== undefined && src.relay !== undefined && src.before.data.machine.date !== src.relay.data.machine.date;
  const beforeName = showBefore ? `Before #15 (${dateOf(src.before!)})` : undefined;
  const m = run?.machine;
  const cmRounds = (s: Stored<StoredRun>): number => s.data.runs.filter((r: SystemRun) => r.system === 'cm').length;
  return [
    `<!-- bench:results:${HEADLINE_KEY}:begin -->`,
    ...tabsTable(src),
    '',
    ...lineTable(`**Tails under load** (100 pairs relaying, steps of ${run ? fmt(run.params.stepDurationMs / 1000, 0) : '?'} s${src.relay ? `; ${link(src.relay)} of ${dateOf(src.relay)}, ${cmRounds(src.relay)} rounds` : ''})`, relayRows(src), beforeName),
    '',
    ...lineTable(`**Logins and memory**${src.relay ? ` (${link(src.relay)}${src.full ? `, ${link(src.full)} of ${dateOf(src.full)}` : ''}${src.members ? `, ${link(src.members)}` : ''})` : ''}`, loginRows(src), beforeName),
    '',
    m
      ? `**Machine:** ${m.nproc} CPUs, ${m.cpuModel}, ${m.memory} RAM, ${m.kernel}; Node ${m.node}, ${m.prosody}${m.others ? `, ${m.others}` : ''}. `
        + 'Every server on core 0 (the CM and Prosody share it), the load generator on core 1; loopback only.'
      : `**Machine:** ${NOT_YET}`,
    `<!-- bench:results:${HEADLINE_KEY}:end -->`,
  ].join('\n');
}
