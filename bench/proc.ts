/**
 * /proc readings and CPU pinning for the benchmark (Linux only).
 *
 * CPU time is utime + stime of /proc/PID/stat (every thread of the process, in clock ticks of
 * `getconf CLK_TCK`, usually 10 ms). Memory is VmRSS of /proc/PID/status.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { Machine } from './results.js';

let clkTck: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`). */
export function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of a process, in milliseconds of CPU. NaN when the process is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return ((utime + stime) * 1000) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** utime and stime of a process separately, in ms (user: the process's own code; system: kernel work on its behalf, e.g. the loopback TCP stack). */
export function cpuSplitMs(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: (Number(rest[11]) * 1000) / ticksPerSecond(), system: (Number(rest[12]) * 1000) / ticksPerSecond() };
  } catch {
    return { user: Number.NaN, system: Number.NaN };
  }
}

/** Several processes' CPU at once, keyed by PID. */
export function cpuSnapshot(pids: readonly number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const p of pids) out[p] = cpuMs(p);
  return out;
}

/** CPU ms used per PID between two snapshots. */
export function cpuDelta(a: Record<number, number>, b: Record<number, number>): Record<number, number> {
  const out: Record<number, number> = {};
  for (const k of Object.keys(b)) out[Number(k)] = b[Number(k)]! - (a[Number(k)] ?? Number.NaN);
  return out;
}

/**
 * How the scheduler treated a process's main thread (the one that runs the event loop): ns on a
 * CPU and ns waiting in a run queue while runnable (/proc/PID/schedstat), and its voluntary
 * (blocked on I/O) and involuntary (preempted) context switches (/proc/PID/status). NaN when gone.
 */
export interface SchedCounters {
  runNs: number;
  waitNs: number;
  voluntary: number;
  involuntary: number;
}

export function schedCounters(pid: number): SchedCounters {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return {
      runNs: run ?? Number.NaN,
      waitNs: wait ?? Number.NaN,
      voluntary: Number(statusField(pid, 'voluntary_ctxt_switches') ?? Number.NaN),
      involuntary: Number(statusField(pid, 'nonvoluntary_ctxt_switches') ?? Number.NaN),
    };
  } catch {
    return { runNs: Number.NaN, waitNs: Number.NaN, voluntary: Number.NaN, involuntary: Number.NaN };
  }
}

/** Scheduler counters per PID between two snapshots: run and run-queue wait in ms, switch counts. */
export function schedDelta(a: Record<number, SchedCounters>, b: Record<number, SchedCounters>): Record<number, { runMs: number; waitMs: number; voluntary: number; involuntary: number }> {
  const out: Record<number, { runMs: number; waitMs: number; voluntary: number; involuntary: number }> = {};
  for (const k of Object.keys(b)) {
    const x = a[Number(k)];
    const y = b[Number(k)]!;
    out[Number(k)] = x
      ? { runMs: (y.runNs - x.runNs) / 1e6, waitMs: (y.waitNs - x.waitNs) / 1e6, voluntary: y.voluntary - x.voluntary, involuntary: y.involuntary - x.involuntary }
      : { runMs: Number.NaN, waitMs: Number.NaN, voluntary: Number.NaN, involuntary: Number.NaN };
  }
  return out;
}

function statusField(pid: number, field: string): string | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status);
    return m?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/** VmRSS in KiB (NaN when the process is gone). */
export function rssKiB(pid: number): number {
  const v = statusField(pid, 'VmRSS');
  return v === undefined ? Number.NaN : Number.parseInt(v, 10);
}

/** The CPUs a process may run on, as `Cpus_allowed_list` shows them ("0", "0-1"). */
export function cpusAllowed(pid: number): string {
  return statusField(pid, 'Cpus_allowed_list') ?? '?';
}

/** Pins every thread of a running process to `cpu` (`taskset -a -pc CPU PID`). */
export function pin(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-pc', String(cpu), String(pid)], { stdio: 'ignore' });
}

/**
 * Sets the nice value of every thread of a process (Linux nice values are per thread). Returns
 * false when not permitted. The bench runs its processes at -10 so that other jobs on a shared
 * machine take less of the pinned cores' time while a window is measured.
 */
export function renice(pid: number, nice: number): boolean {
  try {
    const tids = readdirSync(`/proc/${pid}/task`).map(Number);
    for (const tid of tids) setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}

/** Number of online CPUs (`nproc`). */
export function nproc(): number {
  try {
    return Number(execFileSync('nproc', [], { encoding: 'utf8' }).trim());
  } catch {
    return 1;
  }
}

/** Soft RLIMIT_NOFILE of this process (`/proc/self/limits`). */
export function openFilesLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
    if (!m) return 1024;
    return m[1] === 'unlimited' ? 1_000_000 : Number(m[1]);
  } catch {
    return 1024;
  }
}

/** Nearest-rank percentile (0..100) of an ascending sample; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const idx = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
  return sorted[idx]!;
}

/** Sorted copy as a Float64Array (numeric sort). */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  const a = Float64Array.from(values as ArrayLike<number>);
  a.sort();
  return a;
}

/** Busy CPU time of the whole machine (all CPUs, from /proc/stat), in ms. */
export function machineBusyMs(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
    return (busy * 1000) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** Host-wide TCP counters that reveal trouble on loopback (accept queue overflows, SYN retries). */
export interface TcpCounters {
  ListenOverflows: number;
  ListenDrops: number;
  TCPSynRetrans: number;
  TCPTimeouts: number;
  RetransSegs: number;
  ActiveOpens: number;
}

function readPairs(file: string, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(`${prefix}:`));
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i]!.split(/\s+/).slice(1);
      const values = lines[i + 1]!.split(/\s+/).slice(1);
      names.forEach((n, j) => {
        out[n] = Number(values[j]);
      });
    }
  } catch { /* not Linux */ }
  return out;
}

export function tcpCounters(): TcpCounters {
  const ext = readPairs('/proc/net/netstat', 'TcpExt');
  const tcp = readPairs('/proc/net/snmp', 'Tcp');
  return {
    ListenOverflows: ext.ListenOverflows ?? 0,
    ListenDrops: ext.ListenDrops ?? 0,
    TCPSynRetrans: ext.TCPSynRetrans ?? 0,
    TCPTimeouts: ext.TCPTimeouts ?? 0,
    RetransSegs: tcp.RetransSegs ?? 0,
    ActiveOpens: tcp.ActiveOpens ?? 0,
  };
}

export function tcpDelta(a: TcpCounters, b: TcpCounters): TcpCounters {
  const out = { ...b };
  for (const k of Object.keys(b) as (keyof TcpCounters)[]) out[k] = b[k] - a[k];
  return out;
}

/** `others`: the versions of the other systems that ran (ejabberd, node-xmpp-bosh). */
export function machineInfo(prosody: string, cpuCount: number, others?: string): Machine {
  let cpuModel = 'unknown';
  try {
    const lscpu = execFileSync('lscpu', [], { encoding: 'utf8' });
    cpuModel = /^Model name:\s*(.+)$/m.exec(lscpu)?.[1]?.trim() ?? cpuModel;
  } catch { /* no lscpu */ }
  let memory = 'unknown';
  try {
    const kb = Number(/^MemTotal:\s*(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]);
    memory = `${(kb / 1024 / 1024).toFixed(1)} GiB`;
  } catch { /* no /proc/meminfo */ }
  let kernel = 'unknown';
  try { kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim(); } catch { /* no uname */ }
  return { date: new Date().toISOString(), nproc: cpuCount, cpuModel, kernel, node: process.version, prosody, others, openFilesLimit: openFilesLimit(), memory };
}
