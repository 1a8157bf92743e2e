/** Shapes of the load generator's answers (bench/loadgen.ts) as bench/run.ts reads them. */

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
}

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
}

export interface StatusResult {
  groups: Record<string, { sessions: number; lost: number; online: number }>;
  lostReasons: Record<string, number>;
}
