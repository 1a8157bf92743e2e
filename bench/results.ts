/**
 * What a benchmark run measures and records (bench/results/*.json): the systems it compares, its
 * parameters, one system's round, the floor's runs and the machine; with the rules that judge a
 * relay step (good, overloaded) and the number formats of the report. bench/run.ts produces these
 * and bench/report.ts turns them into tables.
 */
import type { BeamMemory } from './ejabberd-bench.js';
import type { ProsodyGc } from './prosody-bench.js';
import type { Arrivals, HttpRateResult, LatencySummary, OpenResult, PingResult, StatusResult, StreamResult } from './types.js';

/**
 * The format of bench/results/*.json, raised whenever a recorded figure changes its meaning, so
 * that bench/report.ts does not print an old run under new labels. 2: a Node process's RSS per
 * idle session (`perSessionKiB.cm`) leaves out the growth of V8's young generation, and the raw
 * figure is `perSessionKiB.cmRaw`. Files without `format` (before 2026-12-05) are format 1.
 */
export const RESULTS_FORMAT = 2;

/** (a) shared-bosh + Prosody c2s, (b) Prosody's mod_bosh, (c) ejabberd's mod_bosh, (d) Prosody's c2s alone, (e) node-xmpp-bosh + Prosody c2s. */
export const ALL_SYSTEMS = ['cm', 'mod_bosh', 'ejabberd', 'c2s', 'nxb'] as const;
export type System = (typeof ALL_SYSTEMS)[number];

export const SYSTEM_TITLE: Record<System, string> = {
  cm: 'shared-bosh + Prosody c2s',
  mod_bosh: 'Prosody mod_bosh',
  ejabberd: 'ejabberd mod_bosh',
  c2s: 'Prosody c2s alone (XMPP over TCP, no BOSH)',
  nxb: 'node-xmpp-bosh 0.7 + Prosody c2s',
};
export const ROUND_NAME: Record<System, string> = { cm: 'shared-bosh', mod_bosh: 'Prosody\'s mod_bosh', ejabberd: 'ejabberd\'s mod_bosh', c2s: 'Prosody\'s c2s alone', nxb: 'node-xmpp-bosh' };
/** The XMPP server process of a system. */
export const SERVER_NAME: Record<System, string> = { cm: 'Prosody', mod_bosh: 'Prosody', ejabberd: 'ejabberd', c2s: 'Prosody', nxb: 'Prosody' };

export interface Params {
  mode: 'smoke' | 'default' | 'full';
  rounds: number;
  idleSessions: number;
  idleLimitedBy?: string;
  /** Why (e) node-xmpp-bosh was left out although installed. */
  nxbSkipped?: string;
  /**
   * The CM's idle phase over HTTPS + HTTP/2 (many sessions per connection, as browsers do): when
   * one HTTP/1.1 connection per held request would not fit RLIMIT_NOFILE, or with --idle-h2.
   */
  idleH2?: string;
  warmSessions: number;
  setupConcurrency: number;
  pingConcurrency: number;
  settleMs: number;
  idleCpuWindowMs: number;
  pairs: number;
  steps: number[];
  refRate: number;
  stepWarmupMs: number;
  stepDurationMs: number;
  stepDrainMs: number;
  /** The long window at the reference rate. */
  refWindowMs: number;
  /** Unrecorded relay before the fan-out and the steps. */
  relayWarmupMs: number;
  fanMembers: number;
  fanRate: number;
  fanWarmupMs: number;
  fanDurationMs: number;
  floorWarmupMs: number;
  floorDurationMs: number;
  /** Quiet gate: probe length, and how long to wait at most for other jobs to finish. */
  quietProbeMs: number;
  quietWaitMs: number;
  /** Total time all gates of a run may wait; afterwards they only probe. */
  quietBudgetMs: number;
  /** Measurements repeated at most this often when other processes disturbed them. */
  retries: number;
  cpuProf: boolean;
  /** The CM's logLevel (its default, 'info', unless --cm-log-level; anything else is not written to the docs). */
  cmLogLevel: string;
  /** Prosody's Lua GC mode (both systems): its default, or generational (--prosody-gc generational). */
  prosodyGc: ProsodyGc;
  write: boolean;
  /** Which systems to run (default all: ejabberd when installed); anything less is not written to the docs. */
  systems: System[];
  maxMinutes: number;
  /** How the relay's messages are spaced (--arrivals; absent in runs before 2026-12-06: even). */
  arrivals?: Arrivals;
  /** --arrivals even,poisson: every relay step once per spacing, the first of them counting for the verdicts (not written to the docs). */
  arrivalsCompared?: Arrivals[];
  /** The CM's event-loop probe interval, ms (20; --fine-loop-probe: 1, then not written to the docs). */
  loopProbeMs?: number;
  argv: string[];
}

/** A histogram in ms (bench/child-ipc.ts): samples, p50, p99, max. */
export interface HistogramMs {
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** The CM's (or node-xmpp-bosh's) own view of a window, from bench/child-ipc.ts. */
export interface Hiccups {
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  gcPauses: number;
  gcMaxMs: number;
  gcTotalMs: number;
  /** GC pauses by kind (scavenge, markSweep, incremental, weakCallbacks): count, total, max. Absent before 2026-12-06. */
  gcByKind?: Record<string, { count: number; totalMs: number; maxMs: number }>;
  /** The event-loop probe's interval and its delays beyond it. */
  loopProbeMs?: number;
  loopDelay?: HistogramMs;
  /** The CM only: a stanza queued for a client until the response carrying it is written (src/bosh/session.ts hooks). */
  delivery?: HistogramMs;
}

/*
 * Per-process figures are keyed `cm` and `prosody`: `prosody` is the XMPP server's process, that
 * is Prosody in systems cm, mod_bosh and c2s and ejabberd's BEAM in system ejabberd.
 */
export interface StepResult extends StreamResult {
  attempts: number;
  /** The CM's event-loop delay and GC pauses over the whole step (warm-up, window, drain). */
  cmHiccups?: Hiccups;
  cpuUsPerMsg: { cm: number; prosody: number; total: number };
  cpuUsPerHttp: { cm: number; prosody: number };
}

export interface SystemRun {
  system: System;
  round: number;
  pids: { cm?: number; prosody: number; loadgen: number };
  affinity: { cm?: string; prosody: string; loadgen: string; orchestrator: string };
  idle: {
    requested: number;
    open: OpenResult;
    rssBeforeKiB: { cm: number; prosody: number };
    rssAfterKiB: { cm: number; prosody: number };
    /**
     * `cm` is the CM's (or node-xmpp-bosh's) RSS growth without the growth of V8's young
     * generation, which is a per-process buffer (see youngGenBytes in bench/child-ipc.ts);
     * `cmRaw` is the plain RSS growth. `total` is `cm` + `prosody`.
     */
    perSessionKiB: { cm: number; cmRaw?: number; prosody: number; total: number };
    /** Server CPU (ms per second) while the N sessions are idle, each with a request held. */
    idleCpuMsPerS: Record<string, number>;
    cmMemoryPerSessionKiB?: { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; youngGen: number; cmSessions: number; cmLinks: number };
    /** ejabberd only: growth of `erlang:memory()` per session (what the BEAM allocated, vs its RSS). */
    beamMemoryPerSessionKiB?: BeamMemory;
    ping: PingResult;
    status: StatusResult;
  };
  setup: { sessions: number; perS: number; cpuMsPerSetup: { cm: number; prosody: number; total: number }; p50Ms: number; p99Ms: number; concurrency: number };
  /** One long window at p.refRate, before the steps. */
  reference: StepResult;
  relay: StepResult[];
  highestRateP99Under10: number;
  fanout?: StreamResult & { attempts: number; cmCpuUsPerCopy: number; prosodyCpuUsPerCopy: number; sharedResults: string[] };
  /** Phase 2 (fan-out, relay) runs on fresh processes of its own. */
  pidsRelay: { cm?: number; prosody: number };
  affinityRelay: SystemRun['affinity'];
  errors: string[];
}

export interface FloorRun {
  round: number;
  /** At the CM's request rate of the reference relay step, or of the fan-out. */
  purpose: 'relay' | 'fanout';
  /** node:http; node:http and saxes; a responder on raw `net` sockets (no node:http). */
  variant: 'plain' | 'saxes' | 'raw';
  result: HttpRateResult & { attempts: number };
  cpuUsPerRequest: number;
  pid: number;
  affinity: string;
}

/**
 * One system's figures in one layout of the tabs scenario (issue #15 §1): what bench/results/tabs.json
 * holds in `figures`, and what the headline and the tabs chart read. Optional figures that a run
 * did not measure read "not measured".
 */
export interface TabsFigures {
  layout: 'http1' | 'h2';
  system: 'cm-shared' | 'cm-unshared' | 'mod_bosh' | 'ejabberd';
  users: number;
  tabs: number;
  /** Inbound messages per second (to users' bare JIDs), each delivered to every tab. */
  inboundPerS: number;
  /** Server CPU (CM + XMPP server) per inbound message delivered to all tabs, µs. */
  cpuPerInboundMsgUs: number;
  /** Server RSS per user with all its tabs, KiB, as the bench measures idle RSS (young generation out). */
  rssPerUserKiB: number;
  /** The CM's RSS before any session, MiB (CM systems only). */
  cmIdleRssMiB?: number;
  /** Server CPU for one of tabs 2..T to join, ms, and for a full login, ms (CM + XMPP server). */
  joinCpuMs?: number;
  loginCpuMs?: number;
  joinP50Ms?: number;
  /** Delivery to the last tab of a user, ms. */
  lastTabP50Ms?: number;
  lastTabP99Ms?: number;
  upstreamSessions?: number;
}

/** The 50,000-members scenario (issue #15 §3), as bench/results/members.json holds it in `figures`. */
export interface MembersFigures {
  members: number;
  links: number;
  transport: string;
  held: number;
  answered: number;
  failed: number;
  rssPerMemberKiB: number;
}

export interface Machine {
  date: string;
  nproc: number;
  cpuModel: string;
  kernel: string;
  node: string;
  prosody: string;
  /** Present when system (c) ran. */
  /** Versions of the other systems that ran: ejabberd, node-xmpp-bosh. */
  others?: string;
  openFilesLimit: number;
  memory: string;
}

export const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
export const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function goodStep(s: StreamResult): boolean {
  return s.latencyMs.p99 < 10 && s.stanzasLost === 0 && s.sessionsLost === 0
    && s.offeredPerS >= 0.95 * s.rate && s.deliveredPerS >= 0.95 * s.offeredPerS;
}

/** Past saturation: a backlog builds (p50 over 50 ms, or delivery falls behind), or anything is lost. */
export function overloaded(s: StreamResult): boolean {
  return s.latencyMs.p50 > 50 || s.sessionsLost > 0 || s.stanzasLost > 0.01 * Math.max(1, s.sentInWindow)
    || s.deliveredPerS < 0.9 * s.offeredPerS || !Number.isFinite(s.latencyMs.p99);
}

/** The kernel's share (stime) of a process's CPU in a window. */
export function kernelShare(r: { cpuMs: Record<number, number>; systemCpuMs: Record<number, number> }, pid: number): number {
  return (r.systemCpuMs[pid] ?? Number.NaN) / (r.cpuMs[pid] ?? Number.NaN);
}

/**
 * The worst p99 of a system's relay steps up to `upTo` msg/s over every round, and where. A step
 * of `steps` up to that rate that a round found overloaded or never reached makes it incomplete
 * (p99 infinite): the target "p99 < 10 ms at every step up to R, every round" is then missed.
 */
export function worstP99(runs: SystemRun[], steps: number[], upTo: number, system: System = 'cm'): { p99: number; where: string; complete: boolean } {
  let worst = { p99: Number.NaN, where: 'no round', complete: false };
  const rates = steps.filter((r) => r <= upTo);
  for (const r of runs.filter((x) => x.system === system)) {
    for (const rate of rates) {
      const s = r.relay.find((x) => x.rate === rate);
      if (s === undefined || overloaded(s)) {
        if (worst.p99 !== Number.POSITIVE_INFINITY) worst = { p99: Number.POSITIVE_INFINITY, where: `round ${r.round} ${s ? 'overloaded at' : 'never reached'} ${rate} msg/s`, complete: false };
      } else if (worst.p99 !== Number.POSITIVE_INFINITY && !(s.latencyMs.p99 <= worst.p99)) {
        worst = { p99: s.latencyMs.p99, where: `at ${fmtInt(rate)} msg/s, round ${r.round}`, complete: true };
      }
    }
  }
  return worst;
}
