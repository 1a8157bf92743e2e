/**
 * /proc readings and CPU pinning for the benchmark (Linux only).
 *
 * CPU time is utime + stime of /proc/PID/stat (every thread of the process, in clock ticks of
 * `getconf CLK_TCK`, usually 10 ms). Memory is VmRSS of /proc/PID/status.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
