/**
 * Where a relay step's tail comes from (issue 15 §2), from what each window recorded: the CM's
 * (or node-xmpp-bosh's) own GC pauses by kind and event-loop delay (bench/child-ipc.ts), the CM's
 * time from a stanza queued for a client to the write of its response (the hooks in
 * src/bosh/session.ts), and how the scheduler shared core 0 between the front end and the XMPP
 * server (/proc/PID/schedstat of each main thread: time runnable but waiting for the CPU). One
 * line per step for the progress log, one table per system and round for docs/performance.md.
 */
import type { StreamResult } from './types.js';
import { fmt, SYSTEM_TITLE, type Hiccups, type SystemRun } from './results.js';

/** GC pause time per HTTP request in a window, µs: the young-generation cost of a request, mostly. */
export function gcUsPerHttp(h: Hiccups | undefined, s: StreamResult): number {
  return h ? (h.gcTotalMs * 1000) / Math.max(1, s.httpRequests) : Number.NaN;
}

/** Run-queue wait of a process's main thread, ms per second of window. */
function waitMsPerS(s: StreamResult, pid: number | undefined): number {
  const x = pid !== undefined && pid > 0 ? s.sched?.[pid] : undefined;
  return x ? x.waitMs / s.windowS : Number.NaN;
}

function involuntaryPerS(s: StreamResult, pid: number | undefined): number {
  const x = pid !== undefined && pid > 0 ? s.sched?.[pid] : undefined;
  return x ? x.involuntary / s.windowS : Number.NaN;
}

function gcKinds(h: Hiccups): string {
  const k = h.gcByKind ?? {};
  const one = (name: string, label: string): string | undefined => {
    const x = k[name];
    return x && x.count > 0 ? `${label} ${x.count}× ${fmt(x.totalMs, 1)} ms (max ${fmt(x.maxMs, 1)})` : undefined;
  };
  return [one('scavenge', 'scavenge'), one('markSweep', 'mark-sweep'), one('incremental', 'incremental marking'), one('weakCallbacks', 'weak callbacks')]
    .filter((x) => x !== undefined).join(', ') || 'none';
}

/** The tail figures of one relay step for the progress log. */
export function tailsLine(h: Hiccups, s: StreamResult, cmPid: number, xmppPid: number): string {
  const loop = h.loopDelay;
  return `CM loop delay p99 ${fmt(loop?.p99Ms ?? h.loopDelayP99Ms, 1)} / max ${fmt(loop?.maxMs ?? h.loopDelayMaxMs, 1)} ms (probe ${h.loopProbeMs ?? 20} ms); `
    + `GC ${gcKinds(h)}, ${fmt(gcUsPerHttp(h, s), 2)} µs per HTTP request`
    + `${h.delivery && h.delivery.n > 0 ? `; queued→written p50 ${fmt(h.delivery.p50Ms, 2)} / p99 ${fmt(h.delivery.p99Ms, 2)} / max ${fmt(h.delivery.maxMs, 1)} ms` : ''}`
    + `${s.sched ? `; run-queue wait CM ${fmt(waitMsPerS(s, cmPid), 1)} ms/s, XMPP server ${fmt(waitMsPerS(s, xmppPid), 1)} ms/s` : ''}`;
}

/**
 * Tables of the tail figures per system and round, for the runs that recorded them (runs before
 * 2026-12-06 did not: no table then).
 */
export function tailsMarkdown(runs: SystemRun[]): string[] {
  const recorded = runs.filter((r) => [r.reference, ...r.relay].some((s) => s.sched !== undefined));
  if (recorded.length === 0) return [];
  const out: string[] = [
    '### Where the tail comes from',
    '',
    'Per relay window: the front end\'s own GC pauses (PerformanceObserver `gc`: count, total and longest per kind) and GC pause time per HTTP '
      + 'request; its event-loop delay beyond the probe interval (`monitorEventLoopDelay`); for the CM, the time from a stanza queued for a client '
      + '(right after its link parsed it from the upstream) to the write of the response that carries it; and the time each server process\'s main '
      + 'thread was runnable but waited for core 0 (`/proc/PID/schedstat`), with its involuntary context switches (preemptions).',
    '',
  ];
  for (const r of recorded) {
    const cm = r.pidsRelay.cm;
    const xmpp = r.pidsRelay.prosody;
    out.push(`**Round ${r.round}, ${SYSTEM_TITLE[r.system]}**`, '');
    out.push('| window | msg/s | p99 ms | GC pauses | GC µs per HTTP request | loop delay p99 / max ms | queued→written p99 / max ms | run-queue wait ms/s: front end / XMPP server | preemptions/s: front end / XMPP server |');
    out.push('|---|---:|---:|---|---:|---:|---:|---:|---:|');
    for (const s of [r.reference, ...r.relay]) {
      const h = s.cmHiccups;
      const loop = h ? `${fmt(h.loopDelay?.p99Ms ?? h.loopDelayP99Ms, 1)} / ${fmt(h.loopDelay?.maxMs ?? h.loopDelayMaxMs, 1)}` : 'n/a';
      const delivery = h?.delivery && h.delivery.n > 0 ? `${fmt(h.delivery.p99Ms, 2)} / ${fmt(h.delivery.maxMs, 1)}` : 'n/a';
      out.push(`| ${s === r.reference ? 'reference' : 'step'}${s.arrivals ? ` (${s.arrivals})` : ''} | ${s.rate} | ${fmt(s.latencyMs.p99, 2)} | ${h ? gcKinds(h) : 'n/a'} | ${h ? fmt(gcUsPerHttp(h, s), 2) : 'n/a'} | ${loop} | ${delivery} | `
        + `${cm ? fmt(waitMsPerS(s, cm), 1) : 'n/a'} / ${fmt(waitMsPerS(s, xmpp), 1)} | ${cm ? fmt(involuntaryPerS(s, cm), 0) : 'n/a'} / ${fmt(involuntaryPerS(s, xmpp), 0)} |`);
    }
    out.push('');
  }
  return out;
}
