/** Shapes of the load generator's answers (bench/loadgen.ts) as bench/run.ts reads them. */
import type { TcpCounters } from './proc.js';

export interface LatencySummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface OpenResult {
  opened: number;
  failed: number;
  errors: string[];
  elapsedMs: number;
  /** CPU ms per server PID during the whole setup. */
  cpuMs: Record<number, number>;
  loadgenCpuMs: number;
  /** Machine CPU used by anything else (other processes, softirq) during the setup. */
  otherCpuMs: number;
  tcp: TcpCounters;
  /** The part of cpuMs that was kernel time (stime). */
  systemCpuMs: Record<number, number>;
  httpRequests: number;
  setupMs: LatencySummary;
  jids: string[];
  sharedResults: string[];
}

export interface PingResult {
  sessions: number;
  ok: number;
  failed: number;
  latencyMs: LatencySummary;
  lost: number;
  tcp: TcpCounters;
}

export interface StreamResult {
  mode: 'relay' | 'fanout';
  rate: number;
  senders: number;
  receivers: number;
  copies: number;
  windowS: number;
  sentInWindow: number;
  offeredPerS: number;
  deliveredCopies: number;
  deliveredPerS: number;
  stanzasLost: number;
  duplicates: number;
  lateFromEarlierRuns: number;
  sessionsLost: number;
  latencyMs: LatencySummary;
  maxSendLagMs: number;
  cpuMs: Record<number, number>;
  loadgenCpuMs: number;
  httpRequests: number;
  /** TCP connections the load generator opened to the measured endpoint in the window. */
  newConnections: number;
  /** Machine CPU used by anything else (other processes, softirq) in the window. */
  otherCpuMs: number;
  tcp: TcpCounters;
  /** The part of cpuMs that was kernel time (stime). */
  systemCpuMs: Record<number, number>;
  /** The generator's own event-loop delay and GC pauses in the window. */
  loadgen?: { loopDelayP99Ms: number; loopDelayMaxMs: number; gcPauses: number; gcMaxMs: number; gcTotalMs: number };
  /**
   * Per server PID, its main thread in the window: ms on the CPU, ms runnable but waiting for it
   * (the other server held core 0), voluntary and involuntary context switches.
   */
  sched?: Record<number, { runMs: number; waitMs: number; voluntary: number; involuntary: number }>;
  /** How messages were spaced in time (bench/loadgen.ts `arrivals`); absent in runs before 2026-12-06: even. */
  arrivals?: Arrivals;
}

/**
 * How the load generator spaces the messages of a stream. `even`: one every 1/rate s, from the
 * senders in turn. `poisson`: every sender on its own, at exponentially distributed intervals
 * (a Poisson process of the same total rate): messages come in bursts and gaps, as from users
 * that type independently.
 */
export type Arrivals = 'even' | 'poisson';

export interface HttpRateResult {
  rate: number;
  windowS: number;
  requests: number;
  requestsPerS: number;
  skipped: number;
  failures: number;
  latencyMs: LatencySummary;
  cpuMs: Record<number, number>;
  loadgenCpuMs: number;
  otherCpuMs: number;
  systemCpuMs: Record<number, number>;
}

export interface StatusResult {
  groups: Record<string, { sessions: number; lost: number; online: number }>;
  lostReasons: Record<string, number>;
}
