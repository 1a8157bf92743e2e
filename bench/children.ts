/**
 * Child processes of a bench run: pinned to a core, talked to over IPC, and killed by PID on the
 * way out (never by name); the run's progress log.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nproc, pin, renice } from './proc.js';
import type { BenchProsody } from './prosody-bench.js';
import type { BenchEjabberd } from './ejabberd-bench.js';
import type { Target } from './bosh-client.js';

/** The compiled bench folder (dist/bench) and the project root. */
export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '..', '..');

export const T0 = Date.now();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export function log(msg: string): void {
  const s = Math.floor((Date.now() - T0) / 1000);
  process.stderr.write(`[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${msg}\n`);
}

export function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function targetOf(url: string): Target {
  const u = new URL(url);
  // https: the CM with http.tls, spoken to over HTTP/2 (bench/h2-client.ts).
  return { host: u.hostname, port: Number(u.port), path: u.pathname, ...(u.protocol === 'https:' ? { h2: true } : {}) };
}

/** Processes this run started, killed by PID on the way out (never by name). */
export const children = new Set<ChildProcess>();
export const prosodies = new Set<BenchProsody>();
export const ejabberds = new Set<BenchEjabberd>();

export function killChildren(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}

/**
 * Nice value of the orchestrator and so of every process it starts (children inherit it), or
 * null when raising the priority is not permitted.
 */
export let NICE: number | null = null;

export function setNice(value: number): void {
  NICE = value;
}

/**
 * Where a bench orchestrator's processes run: servers on core 0, this process and the load
 * generator on core 1 (core 0 too on a one-CPU machine), this process pinned there and at nice
 * -10 when permitted (its children inherit it through spawnPinned). `notes` says what fell short.
 */
export function placeOrchestrator(): { cpuCount: number; cores: { server: number; client: number }; notes: string[] } {
  const cpuCount = nproc(); // before pinning this process to one core
  const cores = { server: 0, client: cpuCount >= 2 ? 1 : 0 };
  const notes: string[] = [];
  if (cpuCount < 2) notes.push('only one CPU: servers and load generator share core 0, results are not meaningful');
  pin(process.pid, cores.client);
  if (renice(process.pid, -10)) setNice(-10);
  else notes.push('could not raise the priority of the benchmark processes (nice -10 not permitted): other jobs on the machine compete for the pinned cores on equal terms');
  return { cpuCount, cores, notes };
}

export function spawnPinned(core: number, nodeArgs: string[], script: string, opts: { env?: NodeJS.ProcessEnv; stdout?: number | 'inherit' | 'ignore'; args?: string[] } = {}): ChildProcess {
  const child = spawn('taskset', ['-c', String(core), process.execPath, ...nodeArgs, script, ...(opts.args ?? [])], {
    cwd: ROOT,
    env: opts.env ?? process.env,
    stdio: ['ignore', opts.stdout ?? 'inherit', opts.stdout === 'ignore' ? 'ignore' : (opts.stdout ?? 'inherit'), 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function waitMessage<T>(child: ChildProcess, pred: (m: unknown) => m is T, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: unknown): void => {
      if (pred(m)) {
        cleanup();
        resolvePromise(m);
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`${what}: process exited (code ${code}, signal ${signal})`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export async function stopChild(child: ChildProcess, message: unknown, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try { child.send(message as object); } catch { /* channel closed */ }
  const timer = sleep(timeoutMs).then(() => 'timeout' as const);
  if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'timeout' && child.pid !== undefined) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
    await exited;
  }
}
