/**
 * The report of a benchmark run: the summary tables with their targets and verdicts, the markdown
 * block of docs/performance.md, and the table printed at the end of a run. bench/run.ts calls it
 * with what it measured; run on its own, it renders a stored run again:
 *
 *   node dist/bench/report.js bench/results/default.json           print the docs block
 *   node dist/bench/report.js bench/results/default.json --write   and replace it in docs/performance.md
 *
 * which lets the wording of the report change without measuring again.
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// bench/generated.ts imports this module in turn; neither uses the other's bindings before main runs.
import { writeGenerated } from './generated.js';
import { ITERATIONS } from './prosody-bench.js';
import { TARGETS } from './targets.js';
import type { StreamResult } from './types.js';
import {
  ALL_SYSTEMS, fmt, fmtInt, kernelShare, median, overloaded, RESULTS_FORMAT, ROUND_NAME, SERVER_NAME, SYSTEM_TITLE, worstP99,
  type FloorRun, type Machine, type Params, type StepResult, type System, type SystemRun,
} from './results.js';
import { tailsMarkdown } from './tails.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DOCS = join(ROOT, 'docs', 'performance.md');
/** Full JSON of the runs that write docs/performance.md, one file per block. */
export const RESULTS_DIR = join(ROOT, 'bench', 'results');
/** docs/performance.md keeps one generated block per mode (default, full) between these markers. */
const begin = (mode: string): string => `<!-- bench:results:${mode}:begin -->`;
const end = (mode: string): string => `<!-- bench:results:${mode}:end -->`;

export interface Row {
  metric: string;
  cm: string;
  other: string;
  ratio: string;
  target: string;
  result: string;
}

export interface Verdict {
  target: string;
  met: boolean | undefined;
  detail: string;
}

/**
 * The "highest relay rate with p99 < 10 ms" row against one reference system, whose target is
 * `factor` times the reference's rate. A reference that never got p99 under 10 ms, not even at
 * the lowest step, makes the ratio unbounded: the CM then meets it by holding `factor` × that step.
 */
export function highestRateRow(refName: string, cmHighest: number, refHighest: number, cmCell: string, refCell: string, lowest: number, factor: number)
  : [string, string, string, string, string, { met: boolean | undefined; text: string }] {
  const metric = 'Highest relay rate with p99 < 10 ms (msg/s, 100 pairs)';
  const target = `≥ ${factor}×`;
  if (refHighest === 0 && Number.isFinite(cmHighest)) {
    return [metric, fmtInt(cmHighest), `none (< ${lowest})`, cmHighest > 0 ? `> ${fmt(cmHighest / lowest, 0)}×` : 'n/a', target,
      cmHighest >= factor * lowest
        ? { met: true, text: `met (${refName} missed 10 ms even at ${lowest} msg/s; shared-bosh held it up to ${fmtInt(cmHighest)} msg/s)` }
        : { met: false, text: `**missed**: neither held p99 < 10 ms at ${lowest} msg/s` }];
  }
  const r = cmHighest / refHighest;
  return [metric, cmCell, refCell, ratioStr(r), target, atLeast(r, factor, '×')];
}

export function ratioStr(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a';
}

/** `value <= limit`: met, or missed by value/limit. */
export function atMost(value: number, limit: number, unit: string, strict = false): { met: boolean | undefined; text: string } {
  if (!Number.isFinite(value)) return { met: undefined, text: 'not measured' };
  if (strict ? value < limit : value <= limit) return { met: true, text: `met (${fmt(value, 2)}${unit} ${strict ? '<' : '≤'} ${limit}${unit})` };
  return { met: false, text: `**missed**: ${fmt(value, 2)}${unit} is ${fmt(value / limit, 2)}× the limit ${limit}${unit}` };
}

export function atLeast(value: number, limit: number, unit: string): { met: boolean | undefined; text: string } {
  if (!Number.isFinite(value)) return { met: undefined, text: 'not measured' };
  if (value >= limit) return { met: true, text: `met (${fmt(value, 2)}${unit} ≥ ${limit}${unit})` };
  return { met: false, text: `**missed**: ${fmt(value, 2)}${unit} is ${fmt((1 - value / limit) * 100, 0)} % short of ${limit}${unit}` };
}

export interface Summary {
  rows: Row[];
  /** Shared-bosh vs ejabberd's mod_bosh (system c); empty when ejabberd did not run. */
  ejRows: Row[];
  /** Shared-bosh vs node-xmpp-bosh (system e); empty when it did not run. */
  nxbRows: Row[];
  /** Shared-bosh vs Prosody's c2s alone (system d); empty when it did not run. */
  c2sRows: Row[];
  verdicts: Verdict[];
  values: Record<string, number>;
}

/** The median of one figure over the rounds of a system. */
export function medianOf(rs: SystemRun[], f: (r: SystemRun) => number): number {
  return median(rs.map(f));
}

/** The median, then every round's value: "340.0 (367.0, 313.0)". */
export function rounds(rs: SystemRun[], f: (r: SystemRun) => number, digits = 1): string {
  return rs.length > 1 ? `${fmt(medianOf(rs, f), digits)} (${rs.map((r) => fmt(f(r), digits)).join(', ')})` : fmt(medianOf(rs, f), digits);
}

export function summarize(runs: SystemRun[], floors: FloorRun[], p: Params): Summary {
  const cmRuns = runs.filter((r) => r.system === 'cm');
  const mbRuns = runs.filter((r) => r.system === 'mod_bosh');
  const ref = (r: SystemRun): StepResult | undefined => r.reference;
  const v: Record<string, number> = {
    cmCpuPerMsg: medianOf(cmRuns, (r) => ref(r)?.cpuUsPerMsg.cm ?? Number.NaN),
    cmProsodyCpuPerMsg: medianOf(cmRuns, (r) => ref(r)?.cpuUsPerMsg.prosody ?? Number.NaN),
    cmTotalCpuPerMsg: medianOf(cmRuns, (r) => ref(r)?.cpuUsPerMsg.total ?? Number.NaN),
    mbCpuPerMsg: medianOf(mbRuns, (r) => ref(r)?.cpuUsPerMsg.prosody ?? Number.NaN),
    cmHighest: medianOf(cmRuns, (r) => r.highestRateP99Under10),
    mbHighest: medianOf(mbRuns, (r) => r.highestRateP99Under10),
    cmP50: medianOf(cmRuns, (r) => ref(r)?.latencyMs.p50 ?? Number.NaN),
    cmP99: medianOf(cmRuns, (r) => ref(r)?.latencyMs.p99 ?? Number.NaN),
    mbP50: medianOf(mbRuns, (r) => ref(r)?.latencyMs.p50 ?? Number.NaN),
    mbP99: medianOf(mbRuns, (r) => ref(r)?.latencyMs.p99 ?? Number.NaN),
    cmStanzasLost: cmRuns.reduce((a, r) => a + r.relay.reduce((b, s) => b + (goodOrAll(s) ? s.stanzasLost : 0), 0), 0),
    mbStanzasLost: mbRuns.reduce((a, r) => a + r.relay.reduce((b, s) => b + (goodOrAll(s) ? s.stanzasLost : 0), 0), 0),
    cmSessionsLost: cmRuns.reduce((a, r) => a + r.relay.reduce((b, s) => b + s.sessionsLost, 0), 0),
    mbSessionsLost: mbRuns.reduce((a, r) => a + r.relay.reduce((b, s) => b + s.sessionsLost, 0), 0),
    cmRss: medianOf(cmRuns, (r) => r.idle.perSessionKiB.cm),
    cmTotalRss: medianOf(cmRuns, (r) => r.idle.perSessionKiB.total),
    mbRss: medianOf(mbRuns, (r) => r.idle.perSessionKiB.prosody),
    cmIdleHeld: Math.min(...cmRuns.map((r) => r.idle.open.opened)),
    mbIdleHeld: Math.min(...mbRuns.map((r) => r.idle.open.opened)),
    cmPingFailed: cmRuns.reduce((a, r) => a + r.idle.ping.failed + r.idle.open.failed, 0),
    mbPingFailed: mbRuns.reduce((a, r) => a + r.idle.ping.failed + r.idle.open.failed, 0),
    cmIdleCpu: medianOf(cmRuns, (r) => r.idle.idleCpuMsPerS.cm ?? Number.NaN),
    cmIdleProsodyCpu: medianOf(cmRuns, (r) => r.idle.idleCpuMsPerS.prosody ?? Number.NaN),
    mbIdleCpu: medianOf(mbRuns, (r) => r.idle.idleCpuMsPerS.prosody ?? Number.NaN),
    cmSetupRate: medianOf(cmRuns, (r) => r.setup.perS),
    mbSetupRate: medianOf(mbRuns, (r) => r.setup.perS),
    cmSetupCpu: medianOf(cmRuns, (r) => r.setup.cpuMsPerSetup.cm),
    cmSetupTotalCpu: medianOf(cmRuns, (r) => r.setup.cpuMsPerSetup.total),
    mbSetupCpu: medianOf(mbRuns, (r) => r.setup.cpuMsPerSetup.prosody),
    fanP99: medianOf(cmRuns, (r) => r.fanout?.latencyMs.p99 ?? Number.NaN),
    fanP50: medianOf(cmRuns, (r) => r.fanout?.latencyMs.p50 ?? Number.NaN),
    fanCpuPerCopy: medianOf(cmRuns, (r) => r.fanout?.cmCpuUsPerCopy ?? Number.NaN),
    fanLost: cmRuns.reduce((a, r) => a + (r.fanout?.stanzasLost ?? 0), 0),
    cmCpuPerHttp: medianOf(cmRuns, (r) => ref(r)?.cpuUsPerHttp.cm ?? Number.NaN),
    mbCpuPerHttp: medianOf(mbRuns, (r) => ref(r)?.cpuUsPerHttp.prosody ?? Number.NaN),
    cmHttpPerS: medianOf(cmRuns, (r) => { const s = ref(r); return s ? s.httpRequests / s.windowS : Number.NaN; }),
    floorPlain: median(floors.filter((f) => f.purpose === 'relay' && f.variant === 'plain').map((f) => f.cpuUsPerRequest)),
    floorSaxes: median(floors.filter((f) => f.purpose === 'relay' && f.variant === 'saxes').map((f) => f.cpuUsPerRequest)),
    floorRaw: median(floors.filter((f) => f.purpose === 'relay' && f.variant === 'raw').map((f) => f.cpuUsPerRequest)),
    floorRate: median(floors.filter((f) => f.purpose === 'relay').map((f) => f.result.requestsPerS)),
    floorFanout: median(floors.filter((f) => f.purpose === 'fanout' && f.variant === 'plain').map((f) => f.cpuUsPerRequest)),
    floorFanoutRaw: median(floors.filter((f) => f.purpose === 'fanout' && f.variant === 'raw').map((f) => f.cpuUsPerRequest)),
    floorFanoutRate: median(floors.filter((f) => f.purpose === 'fanout').map((f) => f.result.requestsPerS)),
    fanHttpPerCopy: medianOf(cmRuns, (r) => (r.fanout ? r.fanout.httpRequests / Math.max(1, r.fanout.deliveredCopies) : Number.NaN)),
    fanCpuPerHttp: medianOf(cmRuns, (r) => (r.fanout ? ((r.fanout.cpuMs[r.pidsRelay.cm ?? -1] ?? Number.NaN) * 1000) / Math.max(1, r.fanout.httpRequests) : Number.NaN)),
  };
  const ratio = (a: number, b: number): number => a / b;
  const rows: Row[] = [];
  const verdicts: Verdict[] = [];
  const add = (metric: string, cm: string, other: string, r: string, target: string, check?: { met: boolean | undefined; text: string }): void => {
    rows.push({ metric, cm, other, ratio: r, target, result: check ? check.text : '—' });
    if (check) verdicts.push({ target: `${metric}: ${target}`, met: check.met, detail: check.text });
  };
  const R = p.refRate;
  const r1 = ratio(v.cmCpuPerMsg!, v.mbCpuPerMsg!);
  add(`CPU per relayed message at ${R} msg/s (µs): CM alone vs mod_bosh`, rounds(cmRuns, (r) => ref(r)?.cpuUsPerMsg.cm ?? Number.NaN), rounds(mbRuns, (r) => ref(r)?.cpuUsPerMsg.prosody ?? Number.NaN), ratioStr(r1), '—');
  const r2 = ratio(v.cmTotalCpuPerMsg!, v.mbCpuPerMsg!);
  add(`CPU per relayed message at ${R} msg/s (µs): CM + Prosody c2s vs mod_bosh`, `${fmt(v.cmTotalCpuPerMsg!)} (${fmt(v.cmCpuPerMsg!)} + ${fmt(v.cmProsodyCpuPerMsg!)})`, fmt(v.mbCpuPerMsg!), ratioStr(r2), '—');
  // The reference window is at a low rate; Prosody's CPU per message changes a lot with the rate
  // (its Lua GC), so the same comparison at a higher step rate is shown too.
  const byRate = cpuByRate(runs, 'mod_bosh');
  const hi = byRate.find((x) => x.rate === 1000) ?? byRate[byRate.length - 1];
  if (hi && hi.rate !== R) {
    const h1 = hi.cm / hi.mb;
    const h2 = (hi.cm + hi.cmProsody) / hi.mb;
    v.cmCpuPerMsgHi = hi.cm;
    v.mbCpuPerMsgHi = hi.mb;
    v.hiRate = hi.rate;
    add(`CPU per relayed message at ${hi.rate} msg/s (µs, 3 s steps): CM alone vs mod_bosh`, fmt(hi.cm), fmt(hi.mb), ratioStr(h1), '—');
    add(`CPU per relayed message at ${hi.rate} msg/s (µs, 3 s steps): CM + Prosody c2s vs mod_bosh`, `${fmt(hi.cm + hi.cmProsody)} (${fmt(hi.cm)} + ${fmt(hi.cmProsody)})`, fmt(hi.mb), ratioStr(h2), '—');
  }
  const worst = worstP99(runs, p.steps, TARGETS.relay.p99UpToRate);
  add(`Relay p99 at every step up to ${fmtInt(TARGETS.relay.p99UpToRate)} msg/s, every round: the worst (ms)`, worst.complete ? `${fmt(worst.p99, 2)} (${worst.where})` : worst.where, '—', '—',
    `< ${TARGETS.relay.p99Ms} ms`, worst.complete ? atMost(worst.p99, TARGETS.relay.p99Ms, ' ms', true) : { met: false, text: '**missed**' });
  add(...highestRateRow('mod_bosh', v.cmHighest!, v.mbHighest!, rounds(cmRuns, (r) => r.highestRateP99Under10, 0), rounds(mbRuns, (r) => r.highestRateP99Under10, 0), Math.min(...p.steps), TARGETS.relay.highestVsModBosh));
  add(`Relay latency p50 / p99 at ${R} msg/s (ms)`, `${fmt(v.cmP50!, 2)} / ${fmt(v.cmP99!, 2)}`, `${fmt(v.mbP50!, 2)} / ${fmt(v.mbP99!, 2)}`, ratioStr(v.cmP99! / v.mbP99!), '—');
  add('Relay: stanzas lost / sessions lost (steps below overload, all rounds)', `${v.cmStanzasLost} / ${v.cmSessionsLost}`, `${v.mbStanzasLost} / ${v.mbSessionsLost}`, '—', '0 / 0',
    { met: v.cmStanzasLost === 0 && v.cmSessionsLost === 0, text: v.cmStanzasLost === 0 && v.cmSessionsLost === 0 ? 'met' : '**missed**' });
  add(`RSS per idle session (KiB), ${fmtInt(p.idleSessions)} sessions${p.idleH2 ? ' (the CM over HTTP/2 + TLS)' : ''}: CM alone, without V8's young generation`, rounds(cmRuns, (r) => r.idle.perSessionKiB.cm), '—', '—', `≤ ${TARGETS.logins.idleRssKiB} KiB`, atMost(v.cmRss!, TARGETS.logins.idleRssKiB, ' KiB'));
  add('RSS per idle session (KiB): CM alone, raw (with the growth of V8\'s young generation, up to 32 MiB per process)', rounds(cmRuns, (r) => r.idle.perSessionKiB.cmRaw ?? Number.NaN), '—', '—', '—');
  add('RSS per idle session (KiB): CM + Prosody c2s vs mod_bosh', fmt(v.cmTotalRss!), fmt(v.mbRss!), ratioStr(v.cmTotalRss! / v.mbRss!), '—');
  add(`Idle sessions held / failed to set up or answer a ping${p.idleH2 ? ' (the CM over HTTP/2 + TLS)' : ''}`, `${fmtInt(v.cmIdleHeld!)} / ${v.cmPingFailed}`, `${fmtInt(v.mbIdleHeld!)} / ${v.mbPingFailed}`, '—', '—');
  add(`CPU while ${fmtInt(p.idleSessions)} sessions sit idle (% of a core): CM (+ Prosody c2s) vs mod_bosh`, `${fmt(v.cmIdleCpu! / 10, 2)} (+ ${fmt(v.cmIdleProsodyCpu! / 10, 2)})`, fmt(v.mbIdleCpu! / 10, 2), '—', '—');
  add(`Session setup rate (sessions/s, ${p.setupConcurrency} concurrent logins, PLAIN, SCRAM ${ITERATIONS} iterations)`, fmt(v.cmSetupRate!, 0), fmt(v.mbSetupRate!, 0), ratioStr(v.cmSetupRate! / v.mbSetupRate!), '—');
  add('CPU per session set up (ms): CM alone', rounds(cmRuns, (r) => r.setup.cpuMsPerSetup.cm, 3), '—', '—', `≤ ${TARGETS.logins.setupCpuMs} ms`, atMost(v.cmSetupCpu!, TARGETS.logins.setupCpuMs, ' ms'));
  add('CPU per session set up (ms): CM + Prosody c2s vs mod_bosh', fmt(v.cmSetupTotalCpu!, 3), fmt(v.mbSetupCpu!, 3), ratioStr(v.cmSetupTotalCpu! / v.mbSetupCpu!), '—');
  add(`Shared fan-out, 1 link × ${p.fanMembers} members at ${p.fanRate} msg/s: p50 / p99 (ms)`, `${fmt(v.fanP50!, 2)} / ${rounds(cmRuns, (r) => r.fanout?.latencyMs.p99 ?? Number.NaN, 2)}`, '—', '—', '—');
  const r4 = v.fanCpuPerCopy! / v.cmCpuPerMsg!;
  add('Shared fan-out: CM CPU per delivered copy (µs) vs CM CPU per relayed message', rounds(cmRuns, (r) => r.fanout?.cmCpuUsPerCopy ?? Number.NaN), fmt(v.cmCpuPerMsg!), ratioStr(r4), '—');
  add(`Shared fan-out: CM CPU per HTTP request (µs, ${fmt(v.fanHttpPerCopy!, 2)} requests per delivered copy) vs the floor at the same rate (${fmt(v.floorFanoutRate!, 0)} req/s)`,
    fmt(v.fanCpuPerHttp!), fmt(v.floorFanout!), ratioStr(v.fanCpuPerHttp! / v.floorFanout!), '—');
  const r5 = v.cmCpuPerHttp! / v.floorPlain!;
  add(`CPU per HTTP request (µs): CM at ${R} msg/s (${fmt(v.cmHttpPerS!, 0)} req/s) vs trivial node:http floor (${fmt(v.floorRate!, 0)} req/s)`, fmt(v.cmCpuPerHttp!), fmt(v.floorPlain!), ratioStr(r5), '—');
  add('CPU per HTTP request (µs): CM vs floor that also parses the body with saxes', fmt(v.cmCpuPerHttp!), fmt(v.floorSaxes!), ratioStr(v.cmCpuPerHttp! / v.floorSaxes!), '—');
  // The raw floor has no node:http: the CM's distance to it is what an HTTP layer of its own could win at most.
  // Stored runs from before it have none: no rows then.
  if (Number.isFinite(v.floorRaw)) add(`CPU per HTTP request (µs): CM vs a responder on raw sockets without node:http (the trivial node:http floor: ${fmt(v.floorPlain!)})`,
    fmt(v.cmCpuPerHttp!), fmt(v.floorRaw!), ratioStr(v.cmCpuPerHttp! / v.floorRaw!), '—');
  if (Number.isFinite(v.floorFanoutRaw)) add(`Shared fan-out: CM CPU per HTTP request (µs) vs raw sockets at the same rate (the node:http floor: ${fmt(v.floorFanout!)})`,
    fmt(v.fanCpuPerHttp!), fmt(v.floorFanoutRaw!), ratioStr(v.fanCpuPerHttp! / v.floorFanoutRaw!), '—');
  add('CPU per HTTP request (µs): mod_bosh (Prosody) for comparison', '—', fmt(v.mbCpuPerHttp!), '—', '—');
  const ejRows = summarizeEjabberd(runs, p, v, verdicts);
  const nxbRows = summarizeNxb(runs, p, v, verdicts);
  const c2sRows = summarizeC2s(runs, p, v);
  return { rows, ejRows, nxbRows, c2sRows, verdicts, values: v };
}

/**
 * Rows of the comparison with Prosody's c2s alone (system d): what the CM adds to the path it
 * cannot avoid. No targets here; adds its values (c2s*) to `v`.
 */
export function summarizeC2s(runs: SystemRun[], p: Params, v: Record<string, number>): Row[] {
  const cmRuns = runs.filter((r) => r.system === 'cm');
  const dRuns = runs.filter((r) => r.system === 'c2s');
  if (dRuns.length === 0 || cmRuns.length === 0) return [];
  const m = (f: (r: SystemRun) => number): number => medianOf(dRuns, f);
  Object.assign(v, {
    c2sCpuPerMsg: m((r) => r.reference.cpuUsPerMsg.prosody),
    c2sHighest: m((r) => r.highestRateP99Under10),
    c2sP50: m((r) => r.reference.latencyMs.p50),
    c2sP99: m((r) => r.reference.latencyMs.p99),
    c2sSetupCpu: m((r) => r.setup.cpuMsPerSetup.prosody),
    c2sRss: m((r) => r.idle.perSessionKiB.prosody),
  });
  const rows: Row[] = [];
  const add = (metric: string, cm: string, other: string, r: string): void => {
    rows.push({ metric, cm, other, ratio: r, target: '—', result: '—' });
  };
  const R = p.refRate;
  add(`Relay latency p50 / p99 at ${R} msg/s (ms): CM + c2s vs c2s alone`, `${fmt(v.cmP50!, 2)} / ${fmt(v.cmP99!, 2)}`,
    `${fmt(v.c2sP50!, 2)} / ${rounds(dRuns, (r) => r.reference.latencyMs.p99, 2)}`, ratioStr(v.cmP99! / v.c2sP99!));
  add('Highest relay rate with p99 < 10 ms (msg/s, 100 pairs)', rounds(cmRuns, (r) => r.highestRateP99Under10, 0), rounds(dRuns, (r) => r.highestRateP99Under10, 0), ratioStr(v.cmHighest! / v.c2sHighest!));
  add(`Prosody's CPU per relayed message at ${R} msg/s (µs): behind the CM vs alone`, fmt(v.cmProsodyCpuPerMsg!), rounds(dRuns, (r) => r.reference.cpuUsPerMsg.prosody), ratioStr(v.cmProsodyCpuPerMsg! / v.c2sCpuPerMsg!));
  add(`CPU per relayed message at ${R} msg/s (µs): CM + Prosody c2s vs c2s alone`, `${fmt(v.cmTotalCpuPerMsg!)} (${fmt(v.cmCpuPerMsg!)} + ${fmt(v.cmProsodyCpuPerMsg!)})`, fmt(v.c2sCpuPerMsg!), ratioStr(v.cmTotalCpuPerMsg! / v.c2sCpuPerMsg!));
  add('CPU per session set up (ms): CM + Prosody c2s vs c2s alone', `${fmt(v.cmSetupTotalCpu!, 3)} (${fmt(v.cmSetupCpu!, 3)} + ${fmt(v.cmSetupTotalCpu! - v.cmSetupCpu!, 3)})`, rounds(dRuns, (r) => r.setup.cpuMsPerSetup.prosody, 3), ratioStr(v.cmSetupTotalCpu! / v.c2sSetupCpu!));
  add(`RSS per idle session (KiB): Prosody behind the CM vs Prosody with direct c2s clients`, fmt(v.cmTotalRss! - v.cmRss!), fmt(v.c2sRss!), ratioStr((v.cmTotalRss! - v.cmRss!) / v.c2sRss!));
  return rows;
}

/**
 * p50 / p99 relay latency of every system at every step rate (median of rounds; a rate where
 * any round of a system was overloaded shows "overloaded", one it never reached is empty).
 */
export function latencyByRateMarkdown(runs: SystemRun[]): string {
  const systems = ALL_SYSTEMS.filter((sys) => runs.some((r) => r.system === sys));
  const rates = [...new Set(runs.flatMap((r) => r.relay.map((x) => x.rate)))].sort((a, b) => a - b);
  const cell = (sys: System, rate: number): string => {
    const rs = runs.filter((r) => r.system === sys);
    const steps = rs.map((r) => r.relay.find((x) => x.rate === rate));
    if (steps.every((x) => x === undefined)) return '';
    if (steps.some((x) => x === undefined || overloaded(x))) return 'overloaded';
    return `${fmt(median(steps.map((x) => x!.latencyMs.p50)), 2)} / ${fmt(median(steps.map((x) => x!.latencyMs.p99)), 2)}`;
  };
  const short: Record<System, string> = { cm: 'shared-bosh + c2s', mod_bosh: 'mod_bosh', ejabberd: 'ejabberd', c2s: 'c2s alone', nxb: 'node-xmpp-bosh + c2s' };
  return [
    `| msg/s | ${systems.map((x) => `${short[x]} p50 / p99 ms`).join(' | ')} |`,
    `|---:|${systems.map(() => '---:').join('|')}|`,
    ...rates.map((rate) => `| ${rate} | ${systems.map((x) => cell(x, rate)).join(' | ')} |`),
    '',
  ].join('\n');
}

/** Rows of the comparison with ejabberd's mod_bosh (system c); adds its values (ej*) to `v`. */
export function summarizeEjabberd(runs: SystemRun[], p: Params, v: Record<string, number>, verdicts: Verdict[]): Row[] {
  const cmRuns = runs.filter((r) => r.system === 'cm');
  const ejRuns = runs.filter((r) => r.system === 'ejabberd');
  if (ejRuns.length === 0) return [];
  Object.assign(v, {
    ejCpuPerMsg: medianOf(ejRuns, (r) => r.reference.cpuUsPerMsg.prosody),
    ejHighest: medianOf(ejRuns, (r) => r.highestRateP99Under10),
    ejP50: medianOf(ejRuns, (r) => r.reference.latencyMs.p50),
    ejP99: medianOf(ejRuns, (r) => r.reference.latencyMs.p99),
    ejStanzasLost: ejRuns.reduce((a, r) => a + r.relay.reduce((b, s) => b + (goodOrAll(s) ? s.stanzasLost : 0), 0), 0),
    ejSessionsLost: ejRuns.reduce((a, r) => a + r.relay.reduce((b, s) => b + s.sessionsLost, 0), 0),
    ejRss: medianOf(ejRuns, (r) => r.idle.perSessionKiB.prosody),
    ejIdleHeld: Math.min(...ejRuns.map((r) => r.idle.open.opened)),
    ejPingFailed: ejRuns.reduce((a, r) => a + r.idle.ping.failed + r.idle.open.failed, 0),
    ejIdleCpu: medianOf(ejRuns, (r) => r.idle.idleCpuMsPerS.prosody ?? Number.NaN),
    ejSetupRate: medianOf(ejRuns, (r) => r.setup.perS),
    ejSetupCpu: medianOf(ejRuns, (r) => r.setup.cpuMsPerSetup.prosody),
    ejCpuPerHttp: medianOf(ejRuns, (r) => r.reference.cpuUsPerHttp.prosody),
  });
  const rows: Row[] = [];
  const add = (metric: string, cm: string, other: string, r: string, target: string, check?: { met: boolean | undefined; text: string }): void => {
    rows.push({ metric, cm, other, ratio: r, target, result: check ? check.text : '—' });
    if (check) verdicts.push({ target: `${metric} (vs ejabberd): ${target}`, met: check.met, detail: check.text });
  };
  const R = p.refRate;
  add(`CPU per relayed message at ${R} msg/s (µs): CM alone vs ejabberd`, fmt(v.cmCpuPerMsg!), rounds(ejRuns, (r) => r.reference.cpuUsPerMsg.prosody),
    ratioStr(v.cmCpuPerMsg! / v.ejCpuPerMsg!), '—');
  add(`CPU per relayed message at ${R} msg/s (µs): CM + Prosody c2s vs ejabberd`, `${fmt(v.cmTotalCpuPerMsg!)} (${fmt(v.cmCpuPerMsg!)} + ${fmt(v.cmProsodyCpuPerMsg!)})`, fmt(v.ejCpuPerMsg!),
    ratioStr(v.cmTotalCpuPerMsg! / v.ejCpuPerMsg!), '—');
  const byRate = cpuByRate(runs, 'ejabberd');
  const hi = byRate.find((x) => x.rate === 1000) ?? byRate[byRate.length - 1];
  if (hi && hi.rate !== R) {
    v.ejCpuPerMsgHi = hi.mb;
    v.ejHiRate = hi.rate;
    add(`CPU per relayed message at ${hi.rate} msg/s (µs, ${fmt(p.stepDurationMs / 1000, 0)} s steps): CM alone vs ejabberd`, fmt(hi.cm), fmt(hi.mb), ratioStr(hi.cm / hi.mb), '—');
    add(`CPU per relayed message at ${hi.rate} msg/s (µs, ${fmt(p.stepDurationMs / 1000, 0)} s steps): CM + Prosody c2s vs ejabberd`, `${fmt(hi.cm + hi.cmProsody)} (${fmt(hi.cm)} + ${fmt(hi.cmProsody)})`, fmt(hi.mb),
      ratioStr((hi.cm + hi.cmProsody) / hi.mb), '—');
  }
  const [ejMetric, ejCm, ejCell, ejRatio] = highestRateRow('ejabberd', v.cmHighest!, v.ejHighest!, rounds(cmRuns, (r) => r.highestRateP99Under10, 0), rounds(ejRuns, (r) => r.highestRateP99Under10, 0), Math.min(...p.steps), 1);
  add(ejMetric, ejCm, ejCell, ejRatio, '—');
  add(`Relay latency p50 / p99 at ${R} msg/s (ms)`, `${fmt(v.cmP50!, 2)} / ${fmt(v.cmP99!, 2)}`, `${fmt(v.ejP50!, 2)} / ${fmt(v.ejP99!, 2)}`, ratioStr(v.cmP99! / v.ejP99!), '—');
  add('Relay: stanzas lost / sessions lost (steps below overload, all rounds)', `${v.cmStanzasLost} / ${v.cmSessionsLost}`, `${v.ejStanzasLost} / ${v.ejSessionsLost}`, '—', '—');
  add(`RSS per idle session (KiB), ${fmtInt(p.idleSessions)} sessions: CM alone vs ejabberd`, fmt(v.cmRss!), rounds(ejRuns, (r) => r.idle.perSessionKiB.prosody), ratioStr(v.cmRss! / v.ejRss!), '—');
  add('RSS per idle session (KiB): CM + Prosody c2s vs ejabberd', fmt(v.cmTotalRss!), fmt(v.ejRss!), ratioStr(v.cmTotalRss! / v.ejRss!), '—');
  v.ejBeamMemory = medianOf(ejRuns, (r) => r.idle.beamMemoryPerSessionKiB?.total ?? Number.NaN);
  add('Memory per idle session (KiB): ejabberd\'s `erlang:memory(total)` growth, for comparison with its RSS', '—', rounds(ejRuns, (r) => r.idle.beamMemoryPerSessionKiB?.total ?? Number.NaN), '—', '—');
  add(`Idle sessions held / failed to set up or answer a ping${p.idleH2 ? ' (the CM over HTTP/2 + TLS)' : ''}`, `${fmtInt(v.cmIdleHeld!)} / ${v.cmPingFailed}`, `${fmtInt(v.ejIdleHeld!)} / ${v.ejPingFailed}`, '—', '—');
  add(`CPU while ${fmtInt(p.idleSessions)} sessions sit idle (% of a core): CM (+ Prosody c2s) vs ejabberd`, `${fmt(v.cmIdleCpu! / 10, 2)} (+ ${fmt(v.cmIdleProsodyCpu! / 10, 2)})`, fmt(v.ejIdleCpu! / 10, 2), '—', '—');
  add(`Session setup rate (sessions/s, ${p.setupConcurrency} concurrent logins, PLAIN, SCRAM ${ITERATIONS} iterations)`, fmt(v.cmSetupRate!, 0), fmt(v.ejSetupRate!, 0), ratioStr(v.cmSetupRate! / v.ejSetupRate!), '—');
  add('CPU per session set up (ms): CM alone vs ejabberd', fmt(v.cmSetupCpu!, 3), rounds(ejRuns, (r) => r.setup.cpuMsPerSetup.prosody, 3), ratioStr(v.cmSetupCpu! / v.ejSetupCpu!), '—');
  add('CPU per session set up (ms): CM + Prosody c2s vs ejabberd', fmt(v.cmSetupTotalCpu!, 3), fmt(v.ejSetupCpu!, 3), ratioStr(v.cmSetupTotalCpu! / v.ejSetupCpu!), '—');
  add(`CPU per HTTP request (µs) at ${R} msg/s: CM vs ejabberd`, fmt(v.cmCpuPerHttp!), fmt(v.ejCpuPerHttp!), ratioStr(v.cmCpuPerHttp! / v.ejCpuPerHttp!), '—');
  return rows;
}

/**
 * Rows of the comparison with node-xmpp-bosh (system e), the other connection manager in front of
 * the same c2s port: CM process against CM process, and each with its Prosody. Its target: the
 * CM's CPU per relayed message at most half of node-xmpp-bosh's. Adds its values (nxb*) to `v`.
 */
export function summarizeNxb(runs: SystemRun[], p: Params, v: Record<string, number>, verdicts: Verdict[]): Row[] {
  const cmRuns = runs.filter((r) => r.system === 'cm');
  const nRuns = runs.filter((r) => r.system === 'nxb');
  if (nRuns.length === 0 || cmRuns.length === 0) return [];
  const m = (f: (r: SystemRun) => number): number => medianOf(nRuns, f);
  Object.assign(v, {
    nxbCpuPerMsg: m((r) => r.reference.cpuUsPerMsg.cm),
    nxbProsodyCpuPerMsg: m((r) => r.reference.cpuUsPerMsg.prosody),
    nxbTotalCpuPerMsg: m((r) => r.reference.cpuUsPerMsg.total),
    nxbHighest: m((r) => r.highestRateP99Under10),
    nxbP50: m((r) => r.reference.latencyMs.p50),
    nxbP99: m((r) => r.reference.latencyMs.p99),
    nxbStanzasLost: nRuns.reduce((a, r) => a + r.relay.reduce((b, s) => b + (goodOrAll(s) ? s.stanzasLost : 0), 0), 0),
    nxbSessionsLost: nRuns.reduce((a, r) => a + r.relay.reduce((b, s) => b + s.sessionsLost, 0), 0),
    nxbRss: m((r) => r.idle.perSessionKiB.cm),
    nxbTotalRss: m((r) => r.idle.perSessionKiB.total),
    nxbIdleHeld: Math.min(...nRuns.map((r) => r.idle.open.opened)),
    nxbPingFailed: nRuns.reduce((a, r) => a + r.idle.ping.failed + r.idle.open.failed, 0),
    nxbSetupCpu: m((r) => r.setup.cpuMsPerSetup.cm),
    nxbSetupTotalCpu: m((r) => r.setup.cpuMsPerSetup.total),
    nxbCpuPerHttp: m((r) => r.reference.cpuUsPerHttp.cm),
  });
  const rows: Row[] = [];
  const add = (metric: string, cm: string, other: string, r: string, target: string, check?: { met: boolean | undefined; text: string }): void => {
    rows.push({ metric, cm, other, ratio: r, target, result: check ? check.text : '—' });
    if (check) verdicts.push({ target: `${metric} (vs node-xmpp-bosh): ${target}`, met: check.met, detail: check.text });
  };
  const R = p.refRate;
  const r1 = v.cmCpuPerMsg! / v.nxbCpuPerMsg!;
  add(`CPU per relayed message at ${R} msg/s (µs): CM alone vs node-xmpp-bosh alone`, rounds(cmRuns, (r) => r.reference.cpuUsPerMsg.cm), rounds(nRuns, (r) => r.reference.cpuUsPerMsg.cm),
    ratioStr(r1), '—');
  // What node:http alone spends on the CM's HTTP requests per message (its floor, measured at the
  // CM's request rate): no connection manager on node:http gets below that.
  const httpPerMsg = v.cmHttpPerS! / R;
  v.floorPerMsg = v.floorPlain! * httpPerMsg;
  add(`Trivial node:http floor for the same HTTP requests (${fmt(httpPerMsg, 2)} per message × ${fmt(v.floorPlain!)} µs at ${fmt(v.floorRate!, 0)} req/s) vs node-xmpp-bosh alone`,
    fmt(v.floorPerMsg), fmt(v.nxbCpuPerMsg!), ratioStr(v.floorPerMsg / v.nxbCpuPerMsg!), '—');
  add(`CPU per relayed message at ${R} msg/s (µs): CM + Prosody c2s vs node-xmpp-bosh + Prosody c2s`, `${fmt(v.cmTotalCpuPerMsg!)} (${fmt(v.cmCpuPerMsg!)} + ${fmt(v.cmProsodyCpuPerMsg!)})`,
    `${fmt(v.nxbTotalCpuPerMsg!)} (${fmt(v.nxbCpuPerMsg!)} + ${fmt(v.nxbProsodyCpuPerMsg!)})`, ratioStr(v.cmTotalCpuPerMsg! / v.nxbTotalCpuPerMsg!), '—');
  // The issue's figure for node-xmpp-bosh is at 1000 msg/s: the same comparison at the highest
  // step rate that no round of either system found overloaded, up to 1000.
  const stepAt = (r: SystemRun, rate: number): StepResult | undefined => r.relay.find((x) => x.rate === rate && !overloaded(x));
  const common = [...new Set([...cmRuns, ...nRuns].flatMap((r) => r.relay.map((x) => x.rate)))]
    .filter((rate) => rate <= 1000 && rate !== R && [...cmRuns, ...nRuns].every((r) => stepAt(r, rate) !== undefined));
  if (common.length > 0) {
    const hi = Math.max(...common);
    const at = (rs: SystemRun[], f: (s: StepResult) => number): number => median(rs.map((r) => f(stepAt(r, hi)!)));
    const cm = at(cmRuns, (s) => s.cpuUsPerMsg.cm);
    const nx = at(nRuns, (s) => s.cpuUsPerMsg.cm);
    const cmC2s = at(cmRuns, (s) => s.cpuUsPerMsg.prosody);
    const nxC2s = at(nRuns, (s) => s.cpuUsPerMsg.prosody);
    Object.assign(v, { nxbHiRate: hi, nxbCpuPerMsgHi: nx, cmCpuPerMsgAtNxbHi: cm });
    add(`CPU per relayed message at ${hi} msg/s (µs, ${fmt(p.stepDurationMs / 1000, 0)} s steps): CM alone vs node-xmpp-bosh alone`, fmt(cm), fmt(nx), ratioStr(cm / nx), '—');
    add(`CPU per relayed message at ${hi} msg/s (µs, ${fmt(p.stepDurationMs / 1000, 0)} s steps): CM + Prosody c2s vs node-xmpp-bosh + Prosody c2s`,
      `${fmt(cm + cmC2s)} (${fmt(cm)} + ${fmt(cmC2s)})`, `${fmt(nx + nxC2s)} (${fmt(nx)} + ${fmt(nxC2s)})`, ratioStr((cm + cmC2s) / (nx + nxC2s)), '—');
  }
  add(...highestRateRow('node-xmpp-bosh', v.cmHighest!, v.nxbHighest!, rounds(cmRuns, (r) => r.highestRateP99Under10, 0), rounds(nRuns, (r) => r.highestRateP99Under10, 0), Math.min(...p.steps), TARGETS.relay.highestVsNxb));
  add(`Relay latency p50 / p99 at ${R} msg/s (ms)`, `${fmt(v.cmP50!, 2)} / ${fmt(v.cmP99!, 2)}`, `${fmt(v.nxbP50!, 2)} / ${fmt(v.nxbP99!, 2)}`, ratioStr(v.cmP99! / v.nxbP99!), '—');
  add('Relay: stanzas lost / sessions lost (steps below overload, all rounds)', `${v.cmStanzasLost} / ${v.cmSessionsLost}`, `${v.nxbStanzasLost} / ${v.nxbSessionsLost}`, '—', '—');
  add(`RSS per idle session (KiB), ${fmtInt(p.idleSessions)} sessions: CM alone vs node-xmpp-bosh alone, both without V8's young generation`, fmt(v.cmRss!), rounds(nRuns, (r) => r.idle.perSessionKiB.cm), ratioStr(v.cmRss! / v.nxbRss!), '—');
  add('RSS per idle session (KiB): CM + Prosody c2s vs node-xmpp-bosh + Prosody c2s', fmt(v.cmTotalRss!), fmt(v.nxbTotalRss!), ratioStr(v.cmTotalRss! / v.nxbTotalRss!), '—');
  add(`Idle sessions held / failed to set up or answer a ping${p.idleH2 ? ' (the CM over HTTP/2 + TLS)' : ''}`, `${fmtInt(v.cmIdleHeld!)} / ${v.cmPingFailed}`, `${fmtInt(v.nxbIdleHeld!)} / ${v.nxbPingFailed}`, '—', '—');
  add('CPU per session set up (ms): CM alone vs node-xmpp-bosh alone', fmt(v.cmSetupCpu!, 3), rounds(nRuns, (r) => r.setup.cpuMsPerSetup.cm, 3), ratioStr(v.cmSetupCpu! / v.nxbSetupCpu!), '—');
  add('CPU per session set up (ms): CM + Prosody c2s vs node-xmpp-bosh + Prosody c2s', fmt(v.cmSetupTotalCpu!, 3), fmt(v.nxbSetupTotalCpu!, 3), ratioStr(v.cmSetupTotalCpu! / v.nxbSetupTotalCpu!), '—');
  add(`CPU per HTTP request (µs) at ${R} msg/s: CM vs node-xmpp-bosh`, fmt(v.cmCpuPerHttp!), fmt(v.nxbCpuPerHttp!), ratioStr(v.cmCpuPerHttp! / v.nxbCpuPerHttp!), '—');
  return rows;
}

/** Stanzas lost below overload: the last (overloaded) step of a system is not counted. */
export function goodOrAll(s: StreamResult): boolean {
  return !overloaded(s);
}

export function tableMarkdown(rows: Row[], other = 'Prosody mod_bosh / reference'): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| Metric | shared-bosh | ${other} | Ratio | Target | Result |`,
    '|---|---:|---:|---:|---|---|',
    ...rows.map((r) => `| ${esc(r.metric)} | ${esc(r.cm)} | ${esc(r.other)} | ${r.ratio} | ${esc(r.target)} | ${esc(r.result)} |`),
  ].join('\n');
}

export interface RateRow {
  rate: number;
  cm: number;
  cmProsody: number;
  mb: number;
}

/**
 * CPU per relayed message at every step rate that no round of either system (the CM and `other`)
 * found overloaded (median of rounds). `mb` is the other system's value.
 */
export function cpuByRate(allRuns: SystemRun[], other: 'mod_bosh' | 'ejabberd'): RateRow[] {
  const runs = allRuns.filter((r) => r.system === 'cm' || r.system === other);
  const cmRuns = runs.filter((r) => r.system === 'cm');
  const mbRuns = runs.filter((r) => r.system === other);
  if (cmRuns.length === 0 || mbRuns.length === 0) return [];
  const stepAt = (r: SystemRun, rate: number): StepResult | undefined => r.relay.find((x) => x.rate === rate && !overloaded(x));
  const rates = [...new Set(runs.flatMap((r) => r.relay.map((x) => x.rate)))].sort((a, b) => a - b)
    .filter((rate) => runs.every((r) => stepAt(r, rate) !== undefined));
  return rates.map((rate) => ({
    rate,
    cm: median(cmRuns.map((r) => stepAt(r, rate)!.cpuUsPerMsg.cm)),
    cmProsody: median(cmRuns.map((r) => stepAt(r, rate)!.cpuUsPerMsg.prosody)),
    mb: median(mbRuns.map((r) => stepAt(r, rate)!.cpuUsPerMsg.prosody)),
  }));
}

export function cpuByRateMarkdown(rows: RateRow[], other = 'mod_bosh'): string {
  if (rows.length === 0) return 'No step rate was below overload in every round of both systems.\n';
  return [
    `| msg/s | CM µs | Prosody c2s µs | ${other} µs | CM / ${other} | (CM + c2s) / ${other} |`,
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.rate} | ${fmt(r.cm)} | ${fmt(r.cmProsody)} | ${fmt(r.mb)} | ${ratioStr(r.cm / r.mb)} | ${ratioStr((r.cm + r.cmProsody) / r.mb)} |`),
    '',
  ].join('\n');
}

export function stepsMarkdown(runs: SystemRun[]): string {
  const out: string[] = [];
  for (const r of runs) {
    out.push(`**Round ${r.round}, ${SYSTEM_TITLE[r.system]}**`, '');
    out.push(`| window | offered msg/s | delivered msg/s | p50 ms | p99 ms | max ms | CPU/msg CM µs (kernel) | CPU/msg ${SERVER_NAME[r.system]} µs (kernel) | HTTP req/s | core 0 busy | loadgen busy | rest of machine | stanzas lost | sessions lost |`);
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of [r.reference, ...r.relay]) {
      const busy = (ms: number): string => `${fmt((ms / (s.windowS * 1000)) * 100, 0)} %`;
      const core0 = Object.values(s.cpuMs).reduce((a, b) => a + b, 0);
      out.push(`| ${s === r.reference ? `reference, ${fmt(s.windowS, 0)} s` : `step, ${fmt(s.windowS, 0)} s`} | ${s.rate} | ${fmt(s.deliveredPerS, 0)} | ${fmt(s.latencyMs.p50, 2)} | ${fmt(s.latencyMs.p99, 2)} | ${fmt(s.latencyMs.max, 1)} | `
        + `${fmt(s.cpuUsPerMsg.cm, 1)}${r.pidsRelay.cm ? ` (${fmt(kernelShare(s, r.pidsRelay.cm) * 100, 0)} %)` : ''} | ${fmt(s.cpuUsPerMsg.prosody, 1)} (${fmt(kernelShare(s, r.pidsRelay.prosody) * 100, 0)} %) | ${fmt(s.httpRequests / s.windowS, 0)} | ${busy(core0)} | ${busy(s.loadgenCpuMs)} | ${busy(s.otherCpuMs)} | ${s.stanzasLost} | ${s.sessionsLost} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

export function commandsMarkdown(p: Params, rawFloor = true): string[] {
  return [
    `- \`npm run bench${p.argv.length > 0 ? ` -- ${p.argv.join(' ')}` : ''}\` (= \`tsc -p tsconfig.json && node dist/bench/run.js\`)`,
    '- Prosody: `prosody --config <tmp>/prosody.cfg.lua -F` (test/support/prosody.ts), then `taskset -a -pc 0 <pid>`',
    '- CM: `taskset -c 0 node --expose-gc dist/bench/cm-process.js` (createConnectionManager from dist/src/cm.js, config in BENCH_CM_CONFIG)',
    ...(p.systems.includes('ejabberd')
      ? ['- ejabberd: `taskset -c 0 erl -name bench-ej-<random>@127.0.0.1 -start_epmd false -erl_epmd_port <port> -kernel inet_dist_use_interface {127,0,0,1} +K true +P 250000 +S 1:1 +SDcpu 1:1 -noinput -mnesia dir \'"<tmp>/spool"\' -s ejabberd` with EJABBERD_CONFIG_PATH=<tmp>/ejabberd.yml, HOME=<tmp> (bench/ejabberd-bench.ts), then `taskset -a -pc 0 <pid>`']
      : []),
    ...(p.systems.includes('nxb')
      ? ['- node-xmpp-bosh: `taskset -c 0 node --expose-gc dist/bench/nxb-process.js` (`start_bosh` of bench/node-xmpp-bosh/node_modules/node-xmpp-bosh, its defaults, a direct connect to the c2s port, no STARTTLS)']
      : []),
    `- floor: \`taskset -c 0 node dist/bench/floor-server.js [--saxes${rawFloor ? ' | --raw' : ''}]\``,
    '- load generator: `taskset -c 1 node dist/bench/loadgen.js`; orchestrator `node dist/bench/run.js` pinned with `taskset -a -pc 1`',
  ];
}

/** The generated block of docs/performance.md of one run; the run itself is in bench/results/ and linked, not pasted. */
export function resultsBlock(m: Machine, p: Params, s: Summary, runs: SystemRun[], floors: FloorRun[], notes: string[]): string {
  return [
    begin(blockKey(p)),
    `## Results: \`npm run bench${p.argv.length > 0 ? ` -- ${p.argv.join(' ')}` : ''}\` of ${m.date.slice(0, 10)}`,
    '',
    p.prosodyGc === 'generational'
      ? 'Prosody runs with `gc = { mode = "generational" }` here, in every Prosody system; everything else as in the default run.'
      : 'Prosody runs with its default configuration, including its default Lua GC (incremental, threshold 105, speed 500).',
    '',
    `- date: ${m.date}`,
    `- machine: ${m.nproc} CPUs (\`nproc\`), ${m.cpuModel} (\`lscpu\`), ${m.memory} RAM, ${m.kernel}, RLIMIT_NOFILE ${m.openFilesLimit}`,
    `- software: Node ${m.node}, ${m.prosody}${m.others ? `, ${m.others}` : ''}`,
    `- rounds: ${p.rounds} (per round, in this order: ${p.systems.map((x) => ROUND_NAME[x]).join(', then ')}; the floor after each round); each number is the median over the rounds`,
    '- commands:',
    // Stored runs from before the raw floor have none.
    ...commandsMarkdown(p, floors.some((f) => f.variant === 'raw')).map((c) => `  ${c}`),
    '',
    tableMarkdown(s.rows),
    '',
    ...(s.ejRows.length > 0 ? ['Compared with (c), ejabberd\'s mod_bosh, from the same run:', '', tableMarkdown(s.ejRows, 'ejabberd mod_bosh'), ''] : []),
    ...(s.nxbRows.length > 0
      ? ['Compared with (e), node-xmpp-bosh 0.7.10 in front of the same Prosody c2s port, from the same run ("alone" is the connection manager\'s process without Prosody):', '',
        tableMarkdown(s.nxbRows, 'node-xmpp-bosh'), '']
      : []),
    ...(s.c2sRows.length > 0
      ? ['Compared with (d), Prosody\'s c2s alone: the same sessions and messages as plain XMPP over TCP, no BOSH and no CM. '
        + 'This is what any connection manager in front of this Prosody adds to, from the same run:', '', tableMarkdown(s.c2sRows, 'Prosody c2s alone'), '']
      : []),
    ...(notes.length > 0 ? ['Notes:', '', ...notes.map((n) => `- ${n}`), ''] : []),
    '### CPU per relayed message by rate',
    '',
    'Median of the rounds, from the 3 s step windows, at every rate that no round of either system found overloaded.',
    '',
    cpuByRateMarkdown(cpuByRate(runs, 'mod_bosh')),
    ...(runs.some((r) => r.system === 'ejabberd')
      ? ['The same against ejabberd\'s mod_bosh, at every rate that no round of the CM or of ejabberd found overloaded.', '', cpuByRateMarkdown(cpuByRate(runs, 'ejabberd'), 'ejabberd')]
      : []),
    '### Relay latency by rate',
    '',
    'p50 / p99 in ms, median of the rounds, for every step any system reached.',
    '',
    latencyByRateMarkdown(runs),
    '### Relay steps',
    '',
    stepsMarkdown(runs),
    ...tailsMarkdown(runs),
    '### Floor',
    '',
    '| round | at the CM\'s rate of | variant | req/s | CPU/request µs | p99 ms |',
    '|---:|---|---|---:|---:|---:|',
    ...floors.map((f) => `| ${f.round} | ${f.purpose === 'relay' ? 'the reference relay step' : 'the fan-out'} | ${f.variant} | ${fmt(f.result.requestsPerS, 0)} | ${fmt(f.cpuUsPerRequest, 1)} | ${fmt(f.result.latencyMs.p99, 2)} |`),
    '',
    '### Raw results',
    '',
    `Every window of this run (per-step latencies, CPU per process with its kernel share, TCP counters, the generator's own hiccups) and the parameters are in [bench/results/${blockKey(p)}.json](../bench/results/${blockKey(p)}.json).`,
    end(blockKey(p)),
  ].join('\n');
}

/** Which generated block of docs/performance.md a run replaces. */
export function blockKey(p: Params): string {
  return p.prosodyGc === 'generational' ? `${p.mode}-prosody-gc-generational` : p.mode;
}

/** docs/performance.md as it stands ('' before the first run). */
function readDocs(): string {
  return existsSync(DOCS) ? readFileSync(DOCS, 'utf8') : '';
}

/** Where the generated block `key` stands in `text`, markers included: [start, end), if there. */
function blockSpan(text: string, key: string): [number, number] | undefined {
  const b = text.indexOf(begin(key));
  const e = text.indexOf(end(key));
  return b >= 0 && e > b ? [b, e + end(key).length] : undefined;
}

export function writeDocs(block: string, key: string): void {
  let text = readDocs();
  const span = blockSpan(text, key);
  if (span) {
    text = text.slice(0, span[0]) + block + text.slice(span[1]);
  } else {
    text = `${text === '' ? '# Performance\n\nGenerated by `npm run bench`; see bench/run.ts.\n' : text.trimEnd() + '\n'}\n${block}\n`;
  }
  const tmp = `${DOCS}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, DOCS);
}

/** The tables printed to stdout at the end of a run. */
export function summaryText(summary: Summary, runs: SystemRun[], notes: string[]): string {
  return [
    '',
    tableMarkdown(summary.rows),
    '',
    ...(summary.ejRows.length > 0 ? ['Compared with ejabberd\'s mod_bosh:', '', tableMarkdown(summary.ejRows, 'ejabberd mod_bosh'), ''] : []),
    ...(summary.nxbRows.length > 0 ? ['Compared with node-xmpp-bosh:', '', tableMarkdown(summary.nxbRows, 'node-xmpp-bosh'), ''] : []),
    ...(summary.c2sRows.length > 0
      ? ['Compared with Prosody\'s c2s alone:', '', tableMarkdown(summary.c2sRows, 'Prosody c2s alone'), '', latencyByRateMarkdown(runs)]
      : []),
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}

/** What bench/run.ts writes to bench/results/<block>.json. */
export interface StoredRun {
  format: number;
  machine: Machine;
  params: Params;
  runs: SystemRun[];
  floors: FloorRun[];
  notes: string[];
}

/** A stored run, if this report can render it: one of an older format would get today's labels. */
export function loadStored(file: string): StoredRun {
  // JSON.stringify wrote every NaN (a figure a system does not have: the CM's CPU in mod_bosh's
  // run, say) as null; the report's arithmetic expects NaN back, as during the run.
  const stored = JSON.parse(readFileSync(file, 'utf8'), (_key, value: unknown) => (value === null ? Number.NaN : value)) as Partial<StoredRun>;
  const format = stored.format ?? 1;
  if (format !== RESULTS_FORMAT) {
    throw new Error(`${file} was recorded in results format ${format}, this report renders format ${RESULTS_FORMAT} `
      + '(see RESULTS_FORMAT in bench/results.ts); run the benchmark again to get a block for it');
  }
  if (!Array.isArray(stored.runs)) throw new Error(`${file} is not a run of bench/run.ts (no "runs"); the headline reads it, if anything`);
  return stored as StoredRun;
}

/** The docs block of a stored run, as bench/run.ts wrote it at the end of that run. */
export function renderStored(stored: StoredRun): string {
  const summary = summarize(stored.runs, stored.floors, stored.params);
  return resultsBlock(stored.machine, stored.params, summary, stored.runs, stored.floors, stored.notes);
}

/** The generated block `key` of docs/performance.md as it stands (markers included), if any. */
export function docsBlock(key: string): string | undefined {
  const text = readDocs();
  const span = blockSpan(text, key);
  return span ? text.slice(span[0], span[1]) : undefined;
}

/** Every stored run in bench/results/ that this report renders (older formats are left as they are). */
export function currentStored(): string[] {
  return readdirSync(RESULTS_DIR).filter((f) => f.endsWith('.json')).map((f) => join(RESULTS_DIR, f)).filter((file) => {
    try {
      loadStored(file);
      return true;
    } catch {
      return false;
    }
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  if (args.some((a) => a.startsWith('--') && a !== '--write')) {
    process.stderr.write('usage: node dist/bench/report.js [bench/results/<block>.json] [--write]\n'
      + '  without a file: every stored run of the current format; --write also rewrites the headline and docs/img/*.svg\n');
    process.exit(2);
  }
  const blocks: Array<[string, string]> = [];
  try {
    for (const f of file === undefined ? currentStored() : [file]) {
      const stored = loadStored(f);
      blocks.push([blockKey(stored.params), renderStored(stored)]);
    }
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
  if (args.includes('--write')) {
    for (const [key, block] of blocks) {
      writeDocs(block, key);
      process.stderr.write(`replaced the block "${key}" of ${DOCS}\n`);
    }
    for (const what of writeGenerated()) process.stderr.write(`wrote ${what}\n`);
  } else {
    for (const [, block] of blocks) process.stdout.write(`${block}\n`);
  }
}
