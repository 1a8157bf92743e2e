/**
 * The quiet gate: measure only while the rest of the machine is (nearly) idle, and measure again
 * when other processes disturbed a window.
 */
import { cpuMs, machineBusyMs, type TcpCounters } from './proc.js';
import { fmt, type Params } from './results.js';

/** What the gate reads of a run's parameters (bench/run.ts and bench/tabs.ts). */
type GateParams = Pick<Params, 'quietProbeMs' | 'quietWaitMs' | 'quietBudgetMs' | 'retries'>;
import { log, sleep } from './children.js';

/** Anything in a window that is not the system under test: other processes, TCP trouble, reconnects. */
export function disturbances(r: { windowS: number; otherCpuMs: number; tcp: TcpCounters; newConnections?: number }): string {
  const out: string[] = [];
  const other = r.otherCpuMs / (r.windowS * 1000);
  if (other > 0.1) out.push(`other CPU ${fmt(other * 100, 0)} %`);
  if (r.tcp.ListenOverflows > 0) out.push(`${r.tcp.ListenOverflows} accept-queue overflows`);
  if (r.tcp.TCPSynRetrans > 0) out.push(`${r.tcp.TCPSynRetrans} SYN retries`);
  if (r.tcp.TCPTimeouts > 0) out.push(`${r.tcp.TCPTimeouts} TCP timeouts`);
  if ((r.newConnections ?? 0) > 0) out.push(`${r.newConnections} new connections`);
  return out.length > 0 ? ` [${out.join(', ')}]` : '';
}

/** Share of one CPU that the rest of the machine used in a window (other processes, interrupts). */
export function otherShare(r: { otherCpuMs: number }, windowMs: number): number {
  return r.otherCpuMs / windowMs;
}

export const QUIET_SHARE = 0.1;
export const DISTURBED_SHARE = 0.15;

/**
 * Waits (up to p.quietWaitMs) until everything except `ourPids` (the servers, the generator,
 * this process) uses less than 10 % of one CPU over a second. Other jobs on the machine would
 * otherwise share the pinned cores with the servers and the generator.
 */
export let quietBudgetMs = Number.NaN;

export async function quietGate(p: GateParams, ourPids: number[], what: string): Promise<number> {
  if (Number.isNaN(quietBudgetMs)) quietBudgetMs = p.quietBudgetMs;
  const started = Date.now();
  const deadline = started + Math.min(p.quietWaitMs, Math.max(0, quietBudgetMs));
  try {
    return await probeUntilQuiet(p, ourPids, what, deadline);
  } finally {
    quietBudgetMs -= Date.now() - started;
  }
}

export async function probeUntilQuiet(p: GateParams, ourPids: number[], what: string, deadline: number): Promise<number> {
  let announced = false;
  for (;;) {
    const ours = (): number => ourPids.reduce((a, pid) => a + (Number.isFinite(cpuMs(pid)) ? cpuMs(pid) : 0), 0);
    const b0 = machineBusyMs();
    const o0 = ours();
    const t0 = Date.now();
    await sleep(p.quietProbeMs);
    const share = Math.max(0, machineBusyMs() - b0 - (ours() - o0)) / (Date.now() - t0);
    if (share < QUIET_SHARE) return share;
    if (Date.now() > deadline) {
      log(`  the machine is still busy (${fmt(share * 100, 0)} % of a CPU used by other processes); measuring ${what} anyway`);
      return share;
    }
    if (!announced) {
      log(`  waiting for the machine to be quiet before ${what} (${fmt(share * 100, 0)} % of a CPU used by other processes)`);
      announced = true;
    }
  }
}

/** Runs a measurement, again (at most `p.retries` times) while others disturbed it; keeps the least disturbed. */
export async function measure<T extends { otherCpuMs: number }>(p: GateParams, ourPids: number[], what: string, windowMs: number, run: () => Promise<T>): Promise<T & { attempts: number }> {
  let best: T | undefined;
  let attempts = 0;
  for (;;) {
    await quietGate(p, ourPids, what);
    const r = await run();
    attempts++;
    if (best === undefined || otherShare(r, windowMs) < otherShare(best, windowMs)) best = r;
    if (otherShare(r, windowMs) <= DISTURBED_SHARE || attempts > p.retries) break;
    log(`  ${what}: other processes used ${fmt(otherShare(r, windowMs) * 100, 0)} % of a CPU during the window; measuring again`);
  }
  return { ...best, attempts };
}
