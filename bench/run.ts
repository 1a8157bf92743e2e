/**
 * `npm run bench`: shared-bosh in front of Prosody's c2s port vs Prosody's own mod_bosh, vs
 * ejabberd's mod_bosh when `ejabberdctl` is on PATH, vs node-xmpp-bosh when installed
 * (`npm run bench:install-nxb`), with Prosody's c2s alone (no BOSH) as the floor, in one run,
 * alternating A B (C) D (E) per round. This file runs the measurements; bench/results.ts holds
 * what they record and bench/report.ts turns that into tables and docs/performance.md.
 * See docs/performance.md for the method and the last results.
 *
 *   npm run bench                 default (18-30 min with all five systems): 1k idle sessions, 2 rounds
 *   npm run bench -- --full       10k idle sessions (as many as RLIMIT_NOFILE allows), longer steps
 *   npm run bench -- --smoke      a few seconds: tiny counts, one round, docs not written
 *
 * Flags: --rounds N, --idle N, --steps 250,500,..., --ref-rate N, --cpu-prof (profile the CM;
 * results are then not written to the docs), --no-write, --write, --max-minutes N.
 *
 * Every server process (Prosody, ejabberd, the CM, the floor server) runs on core 0 (`taskset`); the load
 * generator (bench/loadgen.ts) and this orchestrator run on core 1. Everything listens on
 * 127.0.0.1 only. Progress goes to stderr, the result table to stdout.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFreePort } from '../test/support/prosody.js';
import { createTestCertificate } from '../test/support/certs.js';
import { DEFAULT_CONFIG, type CmConfig } from '../src/config.js';
import { BENCH_PASSWORD, prosodyVersion, startBenchProsody, type BenchProsody } from './prosody-bench.js';
import { ejabberdInstall, ejabberdVersion, startBenchEjabberd, type BeamMemory, type BenchEjabberd } from './ejabberd-bench.js';
import { nxbInstalled, nxbVersion } from './nxb.js';
import { cpuMs, cpusAllowed, machineBusyMs, nproc, openFilesLimit, pin, renice, rssKiB, type TcpCounters } from './proc.js';
import { formatProfile, summarizeProfile } from './profile-summary.js';
import type { HttpRateResult, OpenResult, PingResult, StatusResult, StreamResult } from './types.js';
import type { Target } from './bosh-client.js';
import { blockKey, DOCS, RESULTS_DIR, resultsBlock, summarize, summaryText, writeDocs } from './report.js';
import {
  ALL_SYSTEMS, fmt, fmtInt, goodStep, kernelShare, overloaded, RESULTS_FORMAT, SERVER_NAME, SYSTEM_TITLE,
  type FloorRun, type Hiccups, type Machine, type Params, type StepResult, type System, type SystemRun,
} from './results.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const PROFILE_DIR = join(ROOT, 'bench', 'profiles');

// ---------------------------------------------------------------- parameters


function parseParams(argv: string[]): Params {
  const has = (f: string): boolean => argv.includes(f);
  const val = (f: string): string | undefined => {
    const i = argv.indexOf(f);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const known = ['--idle-h2', '--smoke', '--full', '--rounds', '--idle', '--steps', '--ref-rate', '--cpu-prof', '--no-write', '--write', '--max-minutes', '--systems', '--cm-log-level', '--prosody-gc'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!known.includes(a)) throw new Error(`unknown argument ${a} (known: ${known.join(' ')})`);
    if (['--rounds', '--idle', '--steps', '--ref-rate', '--max-minutes', '--systems', '--cm-log-level', '--prosody-gc'].includes(a)) i++;
  }
  const mode: Params['mode'] = has('--smoke') ? 'smoke' : has('--full') ? 'full' : 'default';
  const p: Params = mode === 'smoke'
    ? {
      mode, rounds: 1, idleSessions: 20, warmSessions: 4, setupConcurrency: 8, pingConcurrency: 20, settleMs: 300, idleCpuWindowMs: 500,
      pairs: 10, steps: [50, 100], refRate: 100, stepWarmupMs: 300, stepDurationMs: 1000, stepDrainMs: 1000, refWindowMs: 1000, relayWarmupMs: 500,
      fanMembers: 4, fanRate: 50, fanWarmupMs: 300, fanDurationMs: 1000, floorWarmupMs: 200, floorDurationMs: 800,
      quietProbeMs: 300, quietWaitMs: 0, quietBudgetMs: 0, retries: 0, cpuProf: false, cmLogLevel: 'info', prosodyGc: 'default', write: false, maxMinutes: 3, systems: defaultSystems(), argv,
    }
    : {
      mode, rounds: 2, idleSessions: 1000, warmSessions: 50, setupConcurrency: 50, pingConcurrency: 100, settleMs: 2000, idleCpuWindowMs: 5000,
      pairs: 100, steps: [25, 50, 100, 200, 300, 400, 500, 700, 1000, 1400, 2000, 2800, 4000, 5600, 8000], refRate: 300,
      stepWarmupMs: 1000, stepDurationMs: 3000, stepDrainMs: 2000, refWindowMs: 10_000, relayWarmupMs: 2000,
      fanMembers: 16, fanRate: 200, fanWarmupMs: 1000, fanDurationMs: 5000, floorWarmupMs: 1000, floorDurationMs: 5000,
      quietProbeMs: 1000, quietWaitMs: 60_000, quietBudgetMs: 5 * 60_000, retries: 2, cpuProf: false, cmLogLevel: 'info', prosodyGc: 'default', write: true, maxMinutes: 40, systems: defaultSystems(), argv,
    };
  if (mode === 'full') {
    p.idleSessions = 10_000;
    p.stepDurationMs = 5000;
    p.refWindowMs = 20_000;
    p.fanDurationMs = 10_000;
    p.floorDurationMs = 6000;
    p.steps = [25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 1000, 1200, 1400, 1700, 2000, 2400, 2800, 3400, 4000, 5600, 8000];
    p.maxMinutes = 60;
    p.quietBudgetMs = 10 * 60_000;
  }
  if (val('--rounds') !== undefined) p.rounds = Math.max(1, Number(val('--rounds')));
  if (val('--idle') !== undefined) p.idleSessions = Math.max(1, Number(val('--idle')));
  if (val('--steps') !== undefined) p.steps = val('--steps')!.split(',').map(Number).filter((n) => n > 0);
  if (val('--ref-rate') !== undefined) p.refRate = Number(val('--ref-rate'));
  if (val('--max-minutes') !== undefined) p.maxMinutes = Number(val('--max-minutes'));
  p.cpuProf = has('--cpu-prof');
  if (val('--systems') !== undefined) {
    const asked = val('--systems')!.split(',').filter((x) => x !== '');
    const unknown = asked.filter((x) => !(ALL_SYSTEMS as readonly string[]).includes(x));
    if (unknown.length > 0) throw new Error(`--systems: unknown ${unknown.join(',')} (known: ${ALL_SYSTEMS.join(',')})`);
    if (asked.includes('ejabberd') && !ejabberdInstall()) throw new Error('--systems ejabberd: ejabberd is not installed (no `ejabberdctl` on PATH; `apt-get install -y ejabberd`)');
    if (asked.includes('nxb') && !nxbInstalled()) throw new Error('--systems nxb: node-xmpp-bosh is not installed (`npm run bench:install-nxb`)');
    p.systems = ALL_SYSTEMS.filter((x) => asked.includes(x));
    if (p.systems.length < defaultSystems().length) p.write = false;
  }
  if (val('--prosody-gc') !== undefined) {
    const gc = val('--prosody-gc');
    if (gc !== 'default' && gc !== 'generational') throw new Error('--prosody-gc is default or generational');
    p.prosodyGc = gc;
  }
  if (val('--cm-log-level') !== undefined) {
    p.cmLogLevel = val('--cm-log-level')!;
    p.write = false;
  }
  // Extra Prosody config (experiments such as `gc = { mode = "generational" }`) is not the
  // default setup: such runs do not replace the documented results unless --write is given.
  if ((process.env.BENCH_PROSODY_EXTRA ?? '') !== '') p.write = false;
  // The same for extra `erl` arguments of ejabberd (BENCH_EJABBERD_ERL_ARGS, split at spaces).
  if ((process.env.BENCH_EJABBERD_ERL_ARGS ?? '') !== '') p.write = false;
  if ((process.env.BENCH_CM_NODE_ARGS ?? '') !== '') p.write = false;
  if (process.env.BENCH_PROSODY_CORE !== undefined) p.write = false;
  if (has('--no-write') || p.cpuProf) p.write = false;
  if (has('--write')) p.write = true;
  // Over HTTP/1.1 each CM session holds one HTTP connection and one upstream TCP connection: 2
  // descriptors. Over HTTP/2 the held requests share a few connections, so about 1 per session
  // (mod_bosh and ejabberd need 1 per session either way).
  const fdLimit = openFilesLimit();
  const maxIdleHttp1 = Math.floor((fdLimit - 600) / 2);
  const maxIdle = fdLimit - 600;
  if (has('--idle-h2')) p.idleH2 = '--idle-h2';
  else if (p.idleSessions > maxIdleHttp1) {
    p.idleH2 = `RLIMIT_NOFILE is ${fdLimit} (hard limit, cannot be raised here) and a CM session over HTTP/1.1 needs 2 descriptors `
      + `(its held request's connection + upstream TCP), so at most ${maxIdleHttp1} would fit`;
  }
  if (p.idleSessions > maxIdleHttp1 && p.systems.includes('nxb')) {
    // node-xmpp-bosh has no HTTP/2: two descriptors per session, like the CM over HTTP/1.1.
    p.systems = p.systems.filter((x) => x !== 'nxb');
    p.nxbSkipped = `${fmtInt(p.idleSessions)} idle sessions do not fit node-xmpp-bosh (HTTP/1.1 only, 2 descriptors per session, RLIMIT_NOFILE ${fdLimit}): column (e) is skipped`;
  }
  if (p.idleSessions > maxIdle) {
    p.idleLimitedBy = `RLIMIT_NOFILE is ${fdLimit} (hard limit, cannot be raised here); every server needs a descriptor `
      + `per session, so at most ${maxIdle} sessions fit instead of ${p.idleSessions}`;
    p.idleSessions = maxIdle;
  }
  return p;
}

// ---------------------------------------------------------------- small helpers

const T0 = Date.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
function log(msg: string): void {
  const s = Math.floor((Date.now() - T0) / 1000);
  process.stderr.write(`[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${msg}\n`);
}

function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function targetOf(url: string): Target {
  const u = new URL(url);
  // https: the CM with http.tls, spoken to over HTTP/2 (bench/h2-client.ts).
  return { host: u.hostname, port: Number(u.port), path: u.pathname, ...(u.protocol === 'https:' ? { h2: true } : {}) };
}

/** Processes this run started, killed by PID on the way out (never by name). */
const children = new Set<ChildProcess>();
const prosodies = new Set<BenchProsody>();
const ejabberds = new Set<BenchEjabberd>();

function killChildren(): void {
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
let NICE: number | null = null;

function spawnPinned(core: number, nodeArgs: string[], script: string, opts: { env?: NodeJS.ProcessEnv; stdout?: number | 'inherit' | 'ignore'; args?: string[] } = {}): ChildProcess {
  const child = spawn('taskset', ['-c', String(core), process.execPath, ...nodeArgs, script, ...(opts.args ?? [])], {
    cwd: ROOT,
    env: opts.env ?? process.env,
    stdio: ['ignore', opts.stdout ?? 'inherit', opts.stdout === 'ignore' ? 'ignore' : (opts.stdout ?? 'inherit'), 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function waitMessage<T>(child: ChildProcess, pred: (m: unknown) => m is T, timeoutMs: number, what: string): Promise<T> {
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

async function stopChild(child: ChildProcess, message: unknown, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try { child.send(message as object); } catch { /* channel closed */ }
  const timer = sleep(timeoutMs).then(() => 'timeout' as const);
  if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'timeout' && child.pid !== undefined) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
    await exited;
  }
}

// ---------------------------------------------------------------- load generator

class LoadGen {
  private seq = 0;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  constructor(readonly child: ChildProcess, readonly pid: number) {
    child.on('message', (m: { id?: number; ok?: boolean; result?: unknown; error?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`loadgen: ${m.error}`));
    });
    child.once('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`loadgen exited (${code})`));
      this.pending.clear();
    });
  }

  call<T>(command: Record<string, unknown>, timeoutMs = 15 * 60_000): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`loadgen ${String(command.cmd)}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolvePromise(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      // Once the generator is gone (killed at the time limit), reject instead of letting send()
      // emit an unhandled 'error' that would end this process before the servers are stopped.
      if (!this.child.connected) {
        this.pending.get(id)?.reject(new Error(`loadgen ${String(command.cmd)}: the load generator is gone`));
        return;
      }
      this.child.send({ id, command }, (err) => {
        if (err) this.pending.get(id)?.reject(new Error(`loadgen ${String(command.cmd)}: ${err.message}`));
      });
    });
  }

  static async start(core: number, maxSockets: number): Promise<LoadGen> {
    const child = spawnPinned(core, [], join(HERE, 'loadgen.js'), { env: { ...process.env, BENCH_MAX_SOCKETS: String(maxSockets) } });
    const ready = await waitMessage(child, (m): m is { ready: true; pid: number } => (m as { ready?: boolean }).ready === true, 15_000, 'loadgen');
    return new LoadGen(child, ready.pid);
  }
}

// ---------------------------------------------------------------- the CM and the floor as processes


/** What the CM's (or node-xmpp-bosh's) control channel answers to `stats`: see bench/child-ipc.ts. */
interface CmMemory {
  stats: { sessions: number; links: number };
  memory: NodeJS.MemoryUsage;
  /** Resident bytes of V8's young generation (a per-process buffer of 1 to 32 MiB). */
  youngGenBytes: number;
}

interface CmProc {
  pid: number;
  url: string;
  logFile: string;
  gc(): Promise<void>;
  /** The CM's event-loop delay and GC pauses since the previous call (which resets them). */
  hiccups(): Promise<Hiccups>;
  /** process.memoryUsage() of the CM and its sessions/links count. */
  memory(): Promise<CmMemory>;
  /** With --cpu-prof: a V8 CPU profile of the CM over exactly `fn` (node:inspector in the CM process). */
  profile<T>(name: string, fn: () => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

async function startCm(c2sPort: number, core: number, cpuProf: boolean, logLevel: string, label: string, workDir: string, h2 = false): Promise<CmProc> {
  const port = await getFreePort();
  let tls: CmConfig['http']['tls'] = null;
  if (h2) {
    // HTTPS with HTTP/2 (http.tls; http.http2 is on by default), the harness's test certificate.
    const cert = await createTestCertificate(['localhost']);
    tls = { certFile: join(workDir, 'cm-cert.pem'), keyFile: join(workDir, 'cm-key.pem') };
    writeFileSync(tls.certFile, cert.cert);
    writeFileSync(tls.keyFile, cert.key, { mode: 0o600 });
  }
  const config: CmConfig = {
    ...DEFAULT_CONFIG,
    http: { ...DEFAULT_CONFIG.http, host: '127.0.0.1', port, tls },
    domains: { localhost: { host: '127.0.0.1', port: c2sPort, tls: 'off', insecure: false } },
    bosh: { ...DEFAULT_CONFIG.bosh, creationsPerMinute: 0, maxSessions: 60_000 },
    logLevel: logLevel as CmConfig['logLevel'],
  };
  // BENCH_CM_NODE_ARGS: extra node flags for experiments (e.g. --trace-gc); such runs are not written to the docs.
  const nodeArgs = ['--expose-gc', ...(process.env.BENCH_CM_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')];
  return startServerProcess({ kind: 'cm', label, core, nodeArgs, script: 'cm-process.js', env: { BENCH_CM_CONFIG: JSON.stringify(config) }, workDir, cpuProf });
}

/**
 * System (e): node-xmpp-bosh (bench/nxb-process.ts) in front of the same c2s port, pinned like
 * the CM, with its own default config (INFO logging to a file, as the CM logs at info).
 */
async function startNxb(c2sPort: number, domain: string, core: number, cpuProf: boolean, label: string, workDir: string): Promise<CmProc> {
  const port = await getFreePort();
  return startServerProcess({
    kind: 'nxb', label, core, nodeArgs: ['--expose-gc'], script: 'nxb-process.js',
    env: { BENCH_NXB_PORT: String(port), BENCH_NXB_C2S_PORT: String(c2sPort), BENCH_NXB_DOMAIN: domain }, workDir, cpuProf,
  });
}

/**
 * Starts bench/<script> pinned to `core`, its stdout in <workDir>/<kind>-<label>.log, and waits
 * for its `ready` message (with the log's tail in the error if it never comes).
 */
async function startServerProcess(o: { kind: 'cm' | 'nxb'; label: string; core: number; nodeArgs: string[]; script: string; env: Record<string, string>; workDir: string; cpuProf: boolean }): Promise<CmProc> {
  const logFile = join(o.workDir, `${o.kind}-${o.label}.log`);
  const fd = openSync(logFile, 'a');
  if (o.cpuProf) mkdirSync(PROFILE_DIR, { recursive: true });
  const child = spawnPinned(o.core, o.nodeArgs, join(HERE, o.script), { env: { ...process.env, ...o.env }, stdout: fd });
  closeSync(fd);
  let ready: { url: string; pid: number };
  try {
    ready = await waitMessage(child, (m): m is { ready: true; url: string; pid: number } => (m as { ready?: boolean }).ready === true,
      20_000, `${o.script} process`);
  } catch (err) {
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : '';
    throw new Error(`${(err as Error).message}\n${tail}`);
  }
  return controlHandle(child, ready, logFile, o.cpuProf, o.kind, o.label);
}

/** The orchestrator's side of bench/child-ipc.ts for a server process (the CM, node-xmpp-bosh). */
function controlHandle(child: ChildProcess, ready: { url: string; pid: number }, logFile: string, cpuProf: boolean, kind: 'cm' | 'nxb', label: string): CmProc {
  let gcSeq = 0;
  return {
    pid: ready.pid,
    url: ready.url,
    logFile,
    async gc() {
      const id = ++gcSeq;
      child.send({ cmd: 'gc', id });
      await waitMessage(child, (m): m is { id: number } => (m as { id?: number; gc?: boolean }).id === id, 10_000, 'CM gc');
    },
    async hiccups() {
      const id = ++gcSeq;
      child.send({ cmd: 'hiccups', id });
      const m = await waitMessage(child, (x): x is { id: number; hiccups: Hiccups } => (x as { id?: number }).id === id, 10_000, 'CM hiccups');
      return m.hiccups;
    },
    async memory() {
      const id = ++gcSeq;
      child.send({ cmd: 'stats', id });
      return waitMessage(child, (m): m is { id: number } & CmMemory => (m as { id?: number }).id === id,
        10_000, 'CM stats');
    },
    async profile<T>(name: string, fn: () => Promise<T>): Promise<T> {
      if (!cpuProf) return fn();
      const start = ++gcSeq;
      child.send({ cmd: 'prof-start', id: start });
      await waitMessage(child, (m): m is { id: number } => (m as { id?: number }).id === start, 10_000, 'CM profiler');
      try {
        return await fn();
      } finally {
        const stop = ++gcSeq;
        const file = join(PROFILE_DIR, `${kind}-${label}-${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.cpuprofile`);
        child.send({ cmd: 'prof-stop', id: stop, file });
        await waitMessage(child, (m): m is { id: number } => (m as { id?: number }).id === stop, 30_000, 'CM profiler');
        log(`  CPU profile: ${file}`);
      }
    },
    stop: () => stopChild(child, { cmd: 'stop' }, 15_000),
  };
}

/** Can the CM be loaded at all (others may still be writing src/http and src/xmpp)? */
function cmLoadable(): { ok: boolean; why?: string } {
  try {
    execFileSync(process.execPath, ['-e', `import(${JSON.stringify(join(ROOT, 'dist', 'src', 'cm.js'))}).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); })`],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
    return { ok: true };
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    return { ok: false, why: stderr.trim().split('\n')[0] };
  }
}

async function startFloor(core: number, saxes: boolean): Promise<{ pid: number; port: number; stop(): Promise<void> }> {
  const child = spawnPinned(core, [], join(HERE, 'floor-server.js'), { args: saxes ? ['--saxes'] : [] });
  const ready = await waitMessage(child, (m): m is { ready: true; port: number; pid: number } => (m as { ready?: boolean }).ready === true,
    15_000, 'floor server');
  return { pid: ready.pid, port: ready.port, stop: () => stopChild(child, { cmd: 'stop' }) };
}

/** Share of a process's CPU in a window that was kernel time. */
/** Anything in a window that is not the system under test: other processes, TCP trouble, reconnects. */
function disturbances(r: { windowS: number; otherCpuMs: number; tcp: TcpCounters; newConnections?: number }): string {
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
function otherShare(r: { otherCpuMs: number }, windowMs: number): number {
  return r.otherCpuMs / windowMs;
}

const QUIET_SHARE = 0.1;
const DISTURBED_SHARE = 0.15;

/**
 * Waits (up to p.quietWaitMs) until everything except `ourPids` (the servers, the generator,
 * this process) uses less than 10 % of one CPU over a second. Other jobs on the machine would
 * otherwise share the pinned cores with the servers and the generator.
 */
let quietBudgetMs = Number.NaN;

async function quietGate(p: Params, ourPids: number[], what: string): Promise<number> {
  if (Number.isNaN(quietBudgetMs)) quietBudgetMs = p.quietBudgetMs;
  const started = Date.now();
  const deadline = started + Math.min(p.quietWaitMs, Math.max(0, quietBudgetMs));
  try {
    return await probeUntilQuiet(p, ourPids, what, deadline);
  } finally {
    quietBudgetMs -= Date.now() - started;
  }
}

async function probeUntilQuiet(p: Params, ourPids: number[], what: string, deadline: number): Promise<number> {
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
async function measure<T extends { otherCpuMs: number }>(p: Params, ourPids: number[], what: string, windowMs: number, run: () => Promise<T>): Promise<T & { attempts: number }> {
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

// ---------------------------------------------------------------- one system, one round


/**
 * (a), (b) and (d) always; (c) when ejabberd is installed (`ejabberdctl` on PATH); (e) when
 * node-xmpp-bosh is (`npm run bench:install-nxb`). (d) `c2s` is no BOSH at all: the load generator
 * speaks XMPP over TCP straight to Prosody's c2s port, which is the floor for any connection
 * manager in front of that Prosody.
 */
function defaultSystems(): System[] {
  return ALL_SYSTEMS.filter((x) => (x !== 'ejabberd' || ejabberdInstall()) && (x !== 'nxb' || nxbInstalled()));
}

/** Systems with a connection manager of their own in front of Prosody's c2s port: shared-bosh and node-xmpp-bosh. */
function hasFrontEnd(system: System): boolean {
  return system === 'cm' || system === 'nxb';
}



interface Users {
  warm: string[];
  idle: string[];
  a: string[];
  b: string[];
  fan: string;
  fanSource: string;
}

function makeUsers(p: Params): Users {
  const range = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  return {
    warm: range('warm', p.warmSessions),
    idle: range('idle', p.idleSessions),
    a: range('a', p.pairs),
    b: range('b', p.pairs),
    fan: 'fan',
    fanSource: 'fansrc',
  };
}


interface Servers {
  /** The XMPP server: Prosody (systems cm, mod_bosh) or ejabberd. */
  xmpp: { pid: number; domain: string; boshUrl: string };
  cm?: CmProc;
  url: string;
  target: Target;
  pids: number[];
  cmPid: number;
  common: { target: Target; domain: string; password: string; cpuPids: number[]; transport?: 'xmpp' };
  gc(): Promise<void>;
  rss(): { cm: number; prosody: number };
  /** ejabberd only: `erlang:memory()` as of the last gc(). */
  beamMemory?: () => BeamMemory | undefined;
  affinity: SystemRun['affinity'];
}

/** Fresh Prosody (+ CM), or ejabberd, pinned to the server core, for one phase; stopped afterwards by PID. */
async function withServers<T>(system: System, label: string, p: Params, lg: LoadGen, workDir: string, cores: { server: number; client: number },
  users: readonly string[], fn: (s: Servers) => Promise<T>, cmOverH2 = false): Promise<T> {
  if (system === 'ejabberd') return withEjabberd(label, lg, cores, users, fn);
  // BENCH_PROSODY_CORE (experiments only, never written to the docs): put Prosody on another core,
  // e.g. with the load generator, so that a CM CPU profile is not skewed by Prosody preempting it.
  const prosodyCore = process.env.BENCH_PROSODY_CORE !== undefined ? Number(process.env.BENCH_PROSODY_CORE) : cores.server;
  const prosody = await startBenchProsody(prosodyCore, p.prosodyGc);
  prosodies.add(prosody);
  if (NICE !== null) renice(prosody.pid, NICE);
  let cm: CmProc | undefined;
  try {
    await prosody.addUsers(users);
    if (system === 'cm') cm = await startCm(prosody.c2sPort, cores.server, p.cpuProf, p.cmLogLevel, label, workDir, cmOverH2);
    if (system === 'nxb') cm = await startNxb(prosody.c2sPort, prosody.domain, cores.server, p.cpuProf, label, workDir);
    const url = cm ? cm.url : system === 'c2s' ? `xmpp://127.0.0.1:${prosody.c2sPort}` : prosody.boshUrl;
    const target = system === 'c2s' ? { host: '127.0.0.1', port: prosody.c2sPort, path: '' } : targetOf(url);
    const pids = cm ? [cm.pid, prosody.pid] : [prosody.pid];
    const affinity = {
      cm: cm ? cpusAllowed(cm.pid) : undefined,
      prosody: cpusAllowed(prosody.pid),
      loadgen: cpusAllowed(lg.pid),
      orchestrator: cpusAllowed(process.pid),
    };
    log(`  ${label}: ${url} (CPUs: Prosody ${affinity.prosody}${cm ? `, CM ${affinity.cm}` : ''}, load generator ${affinity.loadgen})`);
    const servers: Servers = {
      xmpp: { pid: prosody.pid, domain: prosody.domain, boshUrl: prosody.boshUrl },
      cm,
      url,
      target,
      pids,
      cmPid: cm?.pid ?? -1,
      common: { target, domain: prosody.domain, password: BENCH_PASSWORD, cpuPids: pids, ...(system === 'c2s' ? { transport: 'xmpp' as const } : {}) },
      async gc() {
        await prosody.gc();
        await cm?.gc();
      },
      rss: () => ({ cm: cm ? rssKiB(cm.pid) : Number.NaN, prosody: rssKiB(prosody.pid) }),
      affinity,
    };
    return await fn(servers);
  } finally {
    if (cm) await cm.stop();
    await prosody.stop();
    prosodies.delete(prosody);
  }
}

/** Fresh ejabberd (its own mod_bosh) pinned to the server core, for one phase; stopped afterwards by PID. */
async function withEjabberd<T>(label: string, lg: LoadGen, cores: { server: number; client: number }, users: readonly string[], fn: (s: Servers) => Promise<T>): Promise<T> {
  const extra = (process.env.BENCH_EJABBERD_ERL_ARGS ?? '').split(' ').filter((x) => x !== '');
  const ej = await startBenchEjabberd(cores.server, { extraErlArgs: extra });
  ejabberds.add(ej);
  if (NICE !== null) renice(ej.pid, NICE);
  try {
    const t0 = Date.now();
    await ej.addUsers(users, BENCH_PASSWORD);
    const target = targetOf(ej.boshUrl);
    const pids = [ej.pid];
    let lastBeamMemory: BeamMemory | undefined;
    const affinity = { cm: undefined, prosody: cpusAllowed(ej.pid), loadgen: cpusAllowed(lg.pid), orchestrator: cpusAllowed(process.pid) };
    log(`  ${label}: ${ej.boshUrl} (${users.length} accounts in ${fmt((Date.now() - t0) / 1000)} s; CPUs: ejabberd ${affinity.prosody} (all BEAM threads), load generator ${affinity.loadgen})`);
    return await fn({
      xmpp: { pid: ej.pid, domain: ej.domain, boshUrl: ej.boshUrl },
      url: ej.boshUrl,
      target,
      pids,
      cmPid: -1,
      common: { target, domain: ej.domain, password: BENCH_PASSWORD, cpuPids: pids },
      async gc() {
        lastBeamMemory = await ej.gc();
      },
      beamMemory: () => lastBeamMemory,
      rss: () => ({ cm: Number.NaN, prosody: rssKiB(ej.pid) }),
      affinity,
    });
  } finally {
    await ej.stop();
    ejabberds.delete(ej);
  }
}

/** Logs in, pings and closes a few sessions: JIT, pools, Prosody's module caches. */
async function warmUp(lg: LoadGen, s: Servers, users: string[], errors: string[]): Promise<void> {
  const warm = await lg.call<OpenResult>({ cmd: 'open', group: 'warm', users, resourcePrefix: 'w', concurrency: Math.min(16, users.length), presence: true, ...s.common });
  if (warm.failed > 0) errors.push(`warm-up: ${warm.failed} logins failed: ${warm.errors.join(' | ')}`);
  await lg.call<PingResult>({ cmd: 'ping', group: 'warm', domain: s.xmpp.domain, concurrency: 16, timeoutMs: 10_000 });
  await lg.call({ cmd: 'close', group: 'warm', concurrency: 16 });
  await sleep(1000);
}

async function runSystem(system: System, round: number, p: Params, lg: LoadGen, workDir: string, cores: { server: number; client: number }): Promise<SystemRun> {
  log(`round ${round}: ${SYSTEM_TITLE[system]}`);
  const srv = SERVER_NAME[system];
  const users = makeUsers(p);
  const errors: string[] = [];
  const isCm = hasFrontEnd(system);

  // Phase 1 (scenarios 1 + 2): idle sessions set up at a fixed concurrency; memory; ping.
  const phase1 = await withServers(system, `${system}-round${round}-idle`, p, lg, workDir, cores, [...users.warm, ...users.idle], async (s) => {
    await warmUp(lg, s, users.warm, errors);
    await s.gc();
    const rssBeforeKiB = s.rss();
    const before = s.cm ? await s.cm.memory() : undefined;
    const beamBefore = s.beamMemory?.();
    await quietGate(p, [...s.pids, lg.pid, process.pid], 'the session setup');
    log(`  setting up ${p.idleSessions} idle sessions (concurrency ${p.setupConcurrency})`);
    const doOpen = (): Promise<OpenResult> => lg.call<OpenResult>({ cmd: 'open', group: 'idle', users: users.idle, resourcePrefix: 'idle', concurrency: p.setupConcurrency, presence: true, ...s.common });
    const open = s.cm ? await s.cm.profile('setup', doOpen) : await doOpen();
    if (open.failed > 0) errors.push(`idle: ${open.failed} logins failed: ${open.errors.join(' | ')}`);
    await sleep(p.settleMs);
    // CPU of the servers while N sessions just sit there, each with a request held.
    const idleCpu0 = s.pids.map((pid) => cpuMs(pid));
    await sleep(p.idleCpuWindowMs);
    const idleCpuMsPerS = Object.fromEntries(s.pids.map((pid, i) => [pid === s.cmPid ? 'cm' : 'prosody', ((cpuMs(pid) - idleCpu0[i]!) * 1000) / p.idleCpuWindowMs]));
    await s.gc();
    const rssAfterKiB = s.rss();
    const after = s.cm ? await s.cm.memory() : undefined;
    const beamAfter = s.beamMemory?.();
    const beamMemoryPerSessionKiB = beamBefore && beamAfter
      ? Object.fromEntries((Object.keys(beamAfter) as (keyof BeamMemory)[]).map((k) => [k, (beamAfter[k] - beamBefore[k]) / 1024 / Math.max(1, open.opened)])) as unknown as BeamMemory
      : undefined;
    // Where the CM's memory per session goes: V8 heap vs off-heap (buffers) vs the rest of RSS
    // (native: sockets, HTTP parsers, zlib, malloc arenas).
    const perOpened = (bytes: number): number => bytes / 1024 / Math.max(1, open.opened);
    const cmMemoryPerSessionKiB = before && after ? {
      heapUsed: perOpened(after.memory.heapUsed - before.memory.heapUsed),
      heapTotal: perOpened(after.memory.heapTotal - before.memory.heapTotal),
      external: perOpened(after.memory.external - before.memory.external),
      arrayBuffers: perOpened(after.memory.arrayBuffers - before.memory.arrayBuffers),
      youngGen: perOpened(after.youngGenBytes - before.youngGenBytes),
      cmSessions: after.stats.sessions,
      cmLinks: after.stats.links,
    } : undefined;
    const perSession = (k: 'cm' | 'prosody'): number => (rssAfterKiB[k] - rssBeforeKiB[k]) / Math.max(1, open.opened);
    const cmRaw = perSession('cm');
    const cmPerSession = cmRaw - (cmMemoryPerSessionKiB?.youngGen ?? 0);
    const prosodyPerSession = perSession('prosody');
    const perSessionKiB = { cm: cmPerSession, cmRaw, prosody: prosodyPerSession, total: (isCm ? cmPerSession : 0) + prosodyPerSession };
    const ping = await lg.call<PingResult>({ cmd: 'ping', group: 'idle', domain: s.xmpp.domain, concurrency: p.pingConcurrency, timeoutMs: 30_000 });
    const status = await lg.call<StatusResult>({ cmd: 'status' });
    const setupCpu = (pid: number): number => (pid > 0 ? (open.cpuMs[pid] ?? Number.NaN) / Math.max(1, open.opened) : Number.NaN);
    const setup = {
      sessions: open.opened,
      perS: open.opened / (open.elapsedMs / 1000),
      cpuMsPerSetup: { cm: setupCpu(s.cmPid), prosody: setupCpu(s.xmpp.pid), total: (isCm ? setupCpu(s.cmPid) : 0) + setupCpu(s.xmpp.pid) },
      p50Ms: open.setupMs.p50,
      p99Ms: open.setupMs.p99,
      concurrency: p.setupConcurrency,
    };
    log(`  idle: ${open.opened}/${p.idleSessions} up in ${fmt(open.elapsedMs / 1000)} s (${fmt(setup.perS, 0)}/s), `
      + `CPU/setup ${isCm ? `CM ${fmt(setup.cpuMsPerSetup.cm, 3)} ms + ` : ''}${srv} ${fmt(setup.cpuMsPerSetup.prosody, 3)} ms; `
      + `RSS/session ${isCm ? `CM ${fmt(perSessionKiB.cm)} KiB (raw ${fmt(perSessionKiB.cmRaw)} KiB of which V8's young generation ${fmt(cmMemoryPerSessionKiB?.youngGen ?? Number.NaN)}; V8 heap used ${fmt(cmMemoryPerSessionKiB?.heapUsed ?? Number.NaN)} KiB), ` : ''}${srv} ${fmt(perSessionKiB.prosody)} KiB`
      + `${beamMemoryPerSessionKiB ? ` (erlang:memory total ${fmt(beamMemoryPerSessionKiB.total)} KiB: processes ${fmt(beamMemoryPerSessionKiB.processes)}, ets ${fmt(beamMemoryPerSessionKiB.ets)}, binary ${fmt(beamMemoryPerSessionKiB.binary)})` : ''}; `
      + `idle CPU ${Object.entries(idleCpuMsPerS).map(([k, v]) => `${k === 'prosody' && system === 'ejabberd' ? 'ejabberd' : k} ${fmt(v / 10, 1)} %`).join(', ')}; `
      + `ping ${ping.ok} ok, ${ping.failed} failed`
      + `${disturbances({ windowS: open.elapsedMs / 1000, otherCpuMs: open.otherCpuMs, tcp: open.tcp })}`);
    await lg.call({ cmd: 'close', group: 'idle', concurrency: 100 });
    return {
      pids: { cm: s.cm?.pid, prosody: s.xmpp.pid, loadgen: lg.pid },
      affinity: s.affinity,
      idle: { requested: p.idleSessions, open, rssBeforeKiB, rssAfterKiB, perSessionKiB, cmMemoryPerSessionKiB, beamMemoryPerSessionKiB, idleCpuMsPerS, ping, status },
      setup,
    };
  }, p.idleH2 !== undefined);

  // Phase 2 (scenarios 4 + 3): fan-out (the CM only), then relay at stepped rates up to overload.
  const relayUsers = [...users.warm, ...users.a, ...users.b, users.fan, users.fanSource];
  const phase2 = await withServers(system, `${system}-round${round}-relay`, p, lg, workDir, cores, relayUsers, async (s) => {
    await warmUp(lg, s, users.warm, errors);
    const oa = await lg.call<OpenResult>({ cmd: 'open', group: 'a', users: users.a, resourcePrefix: 'ra', concurrency: 25, presence: true, ...s.common });
    const ob = await lg.call<OpenResult>({ cmd: 'open', group: 'b', users: users.b, resourcePrefix: 'rb', concurrency: 25, presence: true, ...s.common });
    if (oa.failed + ob.failed > 0) errors.push(`relay logins failed: ${[...oa.errors, ...ob.errors].join(' | ')}`);
    // Warm-up relay (not recorded), then one full GC in each server so that the garbage of 200
    // logins is not collected inside the first measurement window.
    await lg.call<StreamResult>({
      cmd: 'stream', mode: 'relay', from: 'a', to: 'b', rate: Math.min(100, p.steps[0]! * 2), warmupMs: 0, durationMs: p.relayWarmupMs,
      drainMs: p.stepDrainMs, cpuPids: s.pids, countTarget: s.target,
    });
    await s.gc();
    await sleep(500);
    const ours = [...s.pids, lg.pid, process.pid];

    // (4) 1 link, N members; the sender uses Prosody's mod_bosh directly, so that the CM's CPU is
    // the fan-out path alone.
    let fanout: SystemRun['fanout'];
    if (system === 'cm' && s.cm) {
      const key = randomBytes(32).toString('base64url');
      const creator = await lg.call<OpenResult>({ cmd: 'open', group: 'fan', users: [users.fan], resourcePrefix: 'fan', concurrency: 1, presence: true, sharedKey: key, ...s.common });
      const members = await lg.call<OpenResult>({ cmd: 'open', group: 'fan', users: Array(p.fanMembers - 1).fill(users.fan), resourcePrefix: 'fan-m', concurrency: 4, presence: false, sharedKey: key, ...s.common });
      const source = await lg.call<OpenResult>({ cmd: 'open', group: 'fansrc', users: [users.fanSource], resourcePrefix: 'src', concurrency: 1, presence: true, ...s.common, target: targetOf(s.xmpp.boshUrl) });
      const sharedResults = [...new Set([...creator.sharedResults, ...members.sharedResults])];
      if (creator.failed + members.failed + source.failed > 0) {
        errors.push(`fan-out logins failed: ${[...creator.errors, ...members.errors, ...source.errors].join(' | ')}`);
      }
      const cmProc = s.cm;
      const r = await measure(p, ours, 'the fan-out', p.fanDurationMs, () => cmProc.profile('fanout', () => lg.call<StreamResult>({
        cmd: 'stream', mode: 'fanout', from: 'fansrc', to: 'fan', toJid: creator.jids[0], rate: p.fanRate, warmupMs: p.fanWarmupMs,
        durationMs: p.fanDurationMs, drainMs: p.stepDrainMs, cpuPids: s.pids, countTarget: s.target,
      })));
      fanout = {
        ...r,
        cmCpuUsPerCopy: ((r.cpuMs[s.cm.pid] ?? Number.NaN) * 1000) / Math.max(1, r.deliveredCopies),
        prosodyCpuUsPerCopy: ((r.cpuMs[s.xmpp.pid] ?? Number.NaN) * 1000) / Math.max(1, r.deliveredCopies),
        sharedResults,
      };
      log(`  fan-out ${p.fanRate}/s to ${r.receivers} members (${sharedResults.join('/')}): ${r.deliveredCopies} copies, `
        + `p50 ${fmt(r.latencyMs.p50, 2)} ms, p99 ${fmt(r.latencyMs.p99, 2)} ms, CM CPU/copy ${fmt(fanout.cmCpuUsPerCopy, 1)} µs, `
        + `lost ${r.stanzasLost} / ${r.sessionsLost} sessions${disturbances(r)}`);
      await lg.call({ cmd: 'close', group: 'fan', concurrency: 4 });
      await lg.call({ cmd: 'close', group: 'fansrc', concurrency: 1 });
      await sleep(500);
    }

    // (3) relay: 100 pairs, A_i -> B_i. First one long window at the reference rate (CPU per
    // message and per HTTP request come from it: a short window would see 0 or 1 of Prosody's Lua
    // GC cycles and scatter by +-20 %), then stepped rates until overload.
    const relayAt = async (rate: number, durationMs: number, label: string): Promise<StepResult> => {
      const runStep = (): Promise<StreamResult> => lg.call<StreamResult>({
        cmd: 'stream', mode: 'relay', from: 'a', to: 'b', rate, warmupMs: p.stepWarmupMs, durationMs,
        drainMs: p.stepDrainMs, cpuPids: s.pids, countTarget: s.target,
      });
      const cmProc = s.cm;
      let cmHiccups: Hiccups | undefined;
      const r = await measure(p, ours, `${label} ${rate}/s`, durationMs, async () => {
        await cmProc?.hiccups();
        const res = await (cmProc ? cmProc.profile(`${label}-${rate}`, runStep) : runStep());
        cmHiccups = await cmProc?.hiccups();
        return res;
      });
      const per = (pid: number): number => (pid > 0 ? ((r.cpuMs[pid] ?? Number.NaN) * 1000) / Math.max(1, r.sentInWindow) : Number.NaN);
      const perHttp = (pid: number): number => (pid > 0 ? ((r.cpuMs[pid] ?? Number.NaN) * 1000) / Math.max(1, r.httpRequests) : Number.NaN);
      const step: StepResult = {
        ...r,
        cmHiccups,
        cpuUsPerMsg: { cm: per(s.cmPid), prosody: per(s.xmpp.pid), total: (isCm ? per(s.cmPid) : 0) + per(s.xmpp.pid) },
        cpuUsPerHttp: { cm: perHttp(s.cmPid), prosody: perHttp(s.xmpp.pid) },
      };
      const coreBusy = (ms: number): string => `${fmt((ms / (r.windowS * 1000)) * 100, 0)} %`;
      log(`  ${label} ${rate}/s: delivered ${fmt(r.deliveredPerS, 0)}/s, p50 ${fmt(r.latencyMs.p50, 2)} ms, p99 ${fmt(r.latencyMs.p99, 2)} ms, `
        + `CPU/msg ${isCm ? `CM ${fmt(step.cpuUsPerMsg.cm, 0)} µs + ` : ''}${srv} ${fmt(step.cpuUsPerMsg.prosody, 0)} µs `
        + `(kernel: ${isCm ? `CM ${fmt(kernelShare(r, s.cmPid) * 100, 0)} %, ` : ''}${srv} ${fmt(kernelShare(r, s.xmpp.pid) * 100, 0)} %) `
        + `(core 0 ${coreBusy(s.pids.reduce((acc, pid) => acc + (r.cpuMs[pid] ?? 0), 0))}, load generator ${coreBusy(r.loadgenCpuMs)}), `
        + `HTTP ${fmt(r.httpRequests / r.windowS, 0)}/s, lost ${r.stanzasLost} stanzas / ${r.sessionsLost} sessions`
        + `${r.loadgen ? `; generator loop delay p99 ${fmt(r.loadgen.loopDelayP99Ms, 1)} / max ${fmt(r.loadgen.loopDelayMaxMs, 1)} ms, GC max ${fmt(r.loadgen.gcMaxMs, 1)} ms` : ''}`
        + `${cmHiccups ? `; CM loop delay p99 ${fmt(cmHiccups.loopDelayP99Ms, 1)} / max ${fmt(cmHiccups.loopDelayMaxMs, 1)} ms, GC ${cmHiccups.gcPauses}× max ${fmt(cmHiccups.gcMaxMs, 1)} ms` : ''}`
        + `${disturbances(r)}`);
      return step;
    };
    const reference = await relayAt(p.refRate, p.refWindowMs, 'reference relay');
    const relay: StepResult[] = [];
    for (const rate of p.steps) {
      const step = await relayAt(rate, p.stepDurationMs, 'relay');
      relay.push(step);
      if (overloaded(step)) {
        log(`  relay: stopping at ${rate}/s (overloaded)`);
        break;
      }
    }
    const passing = relay.filter(goodStep).map((x) => x.rate);
    const highestRateP99Under10 = passing.length > 0 ? Math.max(...passing) : 0;
    await lg.call({ cmd: 'close', group: 'a', concurrency: 25 });
    await lg.call({ cmd: 'close', group: 'b', concurrency: 25 });
    return { reference, relay, highestRateP99Under10, fanout, pidsRelay: { cm: s.cm?.pid, prosody: s.xmpp.pid }, affinityRelay: s.affinity };
  });

  return { system, round, ...phase1, ...phase2, errors };
}

/** The floor server at the request rate of a CM measurement: `relay` (plain + saxes) or `fanout` (plain). */
async function runFloor(round: number, purpose: 'relay' | 'fanout', rate: number, p: Params, lg: LoadGen, core: number): Promise<FloorRun[]> {
  const out: FloorRun[] = [];
  const variants = purpose === 'relay' ? (['plain', 'saxes'] as const) : (['plain'] as const);
  for (const variant of variants) {
    const floor = await startFloor(core, variant === 'saxes');
    try {
      const affinity = cpusAllowed(floor.pid);
      const r = await measure(p, [floor.pid, lg.pid, process.pid], `the floor (${variant}, ${purpose} rate)`, p.floorDurationMs, () => lg.call<HttpRateResult>({
        cmd: 'http-rate', target: { host: '127.0.0.1', port: floor.port, path: '/http-bind' }, rate: Math.max(10, Math.round(rate)),
        warmupMs: p.floorWarmupMs, durationMs: p.floorDurationMs, concurrency: 64, cpuPids: [floor.pid],
      }));
      const cpuUsPerRequest = ((r.cpuMs[floor.pid] ?? Number.NaN) * 1000) / Math.max(1, r.requests);
      out.push({ round, purpose, variant, result: r, cpuUsPerRequest, pid: floor.pid, affinity });
      log(`  floor (${variant}) at ${fmt(r.requestsPerS, 0)} req/s (the CM's ${purpose} rate): CPU/request ${fmt(cpuUsPerRequest, 1)} µs, p99 ${fmt(r.latencyMs.p99, 2)} ms`
        + `${r.otherCpuMs / p.floorDurationMs > 0.1 ? ` [other CPU ${fmt((r.otherCpuMs / p.floorDurationMs) * 100, 0)} %]` : ''}`);
    } finally {
      await floor.stop();
    }
  }
  return out;
}

// ---------------------------------------------------------------- the machine


/** `others`: the versions of the other systems that ran (ejabberd, node-xmpp-bosh). */
function machineInfo(prosody: string, cpuCount: number, others?: string): Machine {
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

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const p = parseParams(process.argv.slice(2));
  const cpuCount = nproc();
  const cores = { server: 0, client: cpuCount >= 2 ? 1 : 0 };
  const notes: string[] = [];
  if (cpuCount < 2) notes.push('only one CPU: servers and load generator share core 0, results are not meaningful');
  pin(process.pid, cores.client);
  if (renice(process.pid, -10)) {
    NICE = -10;
  } else {
    notes.push('could not raise the priority of the benchmark processes (nice -10 not permitted): other jobs on the machine compete for the pinned cores on equal terms');
  }
  if (p.idleLimitedBy) notes.push(`idle sessions: ${p.idleLimitedBy}`);
  if (p.idleH2) {
    notes.push(`idle sessions and session setup of the CM over HTTPS + HTTP/2 (the CM's http.tls with the test certificate; the generator puts up to 200 sessions' requests on one connection, as a browser puts its tabs): ${p.idleH2}. `
      + 'Its RSS and CPU per session therefore include TLS and HTTP/2 framing; mod_bosh (and ejabberd) are driven over HTTP/1.1, which they need one descriptor per session for. Relay and fan-out use HTTP/1.1 for every system.');
  }
  notes.push('TLS is off on both sides: Prosody\'s mod_bosh is plain HTTP, the CM is plain HTTP and talks plain TCP to Prosody\'s c2s port (`c2s_require_encryption = false`, `allow_unencrypted_plain_auth = true`)');
  if (!which('ejabberdctl')) notes.push('ejabberd is not installed (no `ejabberdctl` on PATH): column (c), ejabberd\'s mod_bosh, is skipped');
  else if (!ejabberdInstall()) notes.push('`ejabberdctl` is on PATH but does not name `erl` and ejabberd\'s ERL_LIBS as the Debian package\'s does: column (c), ejabberd\'s mod_bosh, is skipped');
  else if (!p.systems.includes('ejabberd')) notes.push('ejabberd is installed but not selected (`--systems`): column (c), ejabberd\'s mod_bosh, is skipped');
  else {
    notes.push('(c) ejabberd\'s mod_bosh: a throwaway node started with `erl` directly (not the system service, not `ejabberdctl`), one BEAM scheduler (`+S 1:1 +SDcpu 1:1`), every thread on core 0; plain HTTP, SCRAM-SHA-1 accounts with 4096 iterations like Prosody\'s; its CPU and RSS are the whole BEAM process');
    notes.push('ejabberd\'s RSS is read after `erlang:garbage_collect/1` on every Erlang process of the node. The BEAM\'s allocators keep their carriers (blocks of 0.1 to 8 MiB), so its RSS moves in such steps and stays well above `erlang:memory(total)` (its own row); with few sessions its RSS per session is noise');
  }
  if (p.nxbSkipped) notes.push(p.nxbSkipped);
  else if (!nxbInstalled()) notes.push('node-xmpp-bosh is not installed (`npm run bench:install-nxb`): column (e) is skipped');
  else if (!p.systems.includes('nxb')) notes.push('node-xmpp-bosh is installed but not selected (`--systems`): column (e) is skipped');
  else {
    notes.push('(e) node-xmpp-bosh 0.7.10 (npm) with node-expat 2.4.1 instead of the ~2.0.0 it pins (which does not build on Node 20): its default config, '
      + 'a direct TCP connect to the c2s port instead of its DNS SRV lookup (its `lookup_service` option), no STARTTLS (`no_tls_domains`), INFO logging to a file; no fan-out (it has no Shared BOSH)');
  }
  if (p.prosodyGc === 'generational') notes.push('Prosody (every Prosody system) runs with `gc = { mode = "generational" }` instead of its default incremental GC');
  if ((process.env.BENCH_PROSODY_EXTRA ?? '') !== '') notes.push(`extra Prosody config (BENCH_PROSODY_EXTRA): \`${process.env.BENCH_PROSODY_EXTRA}\``);
  if ((process.env.BENCH_EJABBERD_ERL_ARGS ?? '') !== '' && p.systems.includes('ejabberd')) notes.push(`extra \`erl\` arguments for ejabberd (BENCH_EJABBERD_ERL_ARGS): \`${process.env.BENCH_EJABBERD_ERL_ARGS}\``);
  const prosodyVer = await prosodyVersion();
  const machine = machineInfo(prosodyVer, cpuCount, [
    ...(p.systems.includes('ejabberd') ? [ejabberdVersion()] : []),
    ...(p.systems.includes('nxb') ? [nxbVersion()] : []),
  ].join(', ') || undefined);
  log(`shared-bosh bench (${p.mode}): ${machine.nproc} CPUs, ${machine.cpuModel}, Node ${machine.node}, ${prosodyVer}; `
    + `servers on core ${cores.server}, load generator on core ${cores.client}; ${p.rounds} round(s), ${p.idleSessions} idle sessions`);
  if (p.nxbSkipped) log(p.nxbSkipped);
  const cmCheck = cmLoadable();
  if (!cmCheck.ok) {
    log(`the CM cannot be loaded from dist/src/cm.js (${cmCheck.why}); measuring mod_bosh and the floor only`);
    notes.push(`the CM could not be loaded (${cmCheck.why}): its columns are empty`);
  }
  const workDir = mkdtempSync(join(tmpdir(), 'shared-bosh-bench-'));
  if (p.cpuProf) rmSync(PROFILE_DIR, { recursive: true, force: true });
  const deadline = setTimeout(() => {
    log(`time limit of ${p.maxMinutes} min reached: stopping`);
    killChildren();
    for (const pr of prosodies) void pr.stop(1000);
    for (const ej of ejabberds) void ej.stop(1000);
    setTimeout(() => process.exit(3), 2500).unref();
  }, p.maxMinutes * 60_000);
  deadline.unref();
  const onSignal = (): void => {
    killChildren();
    for (const pr of prosodies) void pr.stop(1000);
    for (const ej of ejabberds) void ej.stop(1000);
    setTimeout(() => process.exit(130), 2500).unref();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const lg = await LoadGen.start(cores.client, Math.max(1000, openFilesLimit() - 500));
  const runs: SystemRun[] = [];
  const floors: FloorRun[] = [];
  const systems: System[] = p.systems.filter((s) => s !== 'cm' || cmCheck.ok);
  try {
    for (let round = 1; round <= p.rounds; round++) {
      for (const system of systems) runs.push(await runSystem(system, round, p, lg, workDir, cores));
      const last = runs.filter((r) => r.round === round);
      const refRun = last.find((r) => r.system === 'cm') ?? last[0]!;
      const ref = refRun.reference;
      log(`round ${round}: floor at the ${refRun.system === 'cm' ? 'CM' : refRun.system}'s request rates`);
      floors.push(...await runFloor(round, 'relay', ref.httpRequests / ref.windowS, p, lg, cores.server));
      const fan = refRun.fanout;
      if (fan) floors.push(...await runFloor(round, 'fanout', fan.httpRequests / fan.windowS, p, lg, cores.server));
    }
  } finally {
    await lg.call({ cmd: 'exit' }).catch(() => undefined);
  }

  const summary = summarize(runs, floors, p);
  for (const r of runs) for (const e of r.errors) notes.push(`round ${r.round} ${r.system}: ${e}`);
  const lossSteps = runs.flatMap((r) => r.relay.filter((s) => overloaded(s)).map((s) => `${r.system} round ${r.round} at ${s.rate}/s`));
  if (lossSteps.length > 0) notes.push(`overloaded steps (not counted for "highest rate", stepping stopped there): ${lossSteps.join(', ')}`);
  const loadgenBound = runs.flatMap((r) => r.relay.filter((s) => s.loadgenCpuMs / (s.windowS * 1000) > 0.85).map((s) => `${r.system} round ${r.round} at ${s.rate}/s`));
  if (loadgenBound.length > 0) notes.push(`the load generator was above 85 % of its core at: ${loadgenBound.join(', ')}`);

  const disturbed: string[] = [];
  for (const r of runs) {
    const idleShare = r.idle.open.otherCpuMs / r.idle.open.elapsedMs;
    if (idleShare > DISTURBED_SHARE) disturbed.push(`${r.system} round ${r.round} session setup (${fmt(idleShare * 100, 0)} %)`);
    if (r.fanout && otherShare(r.fanout, r.fanout.windowS * 1000) > DISTURBED_SHARE) {
      disturbed.push(`${r.system} round ${r.round} fan-out (${fmt(otherShare(r.fanout, r.fanout.windowS * 1000) * 100, 0)} %)`);
    }
    for (const st of [r.reference, ...r.relay]) {
      if (otherShare(st, st.windowS * 1000) > DISTURBED_SHARE) disturbed.push(`${r.system} round ${r.round} relay ${st.rate}/s (${fmt(otherShare(st, st.windowS * 1000) * 100, 0)} %)`);
    }
  }
  for (const f of floors) {
    if (otherShare(f.result, f.result.windowS * 1000) > DISTURBED_SHARE) disturbed.push(`floor ${f.variant} (${f.purpose} rate) round ${f.round} (${fmt(otherShare(f.result, f.result.windowS * 1000) * 100, 0)} %)`);
  }
  if (disturbed.length > 0) {
    notes.push(`other processes on the machine used more than ${DISTURBED_SHARE * 100} % of a CPU during (after waiting and up to ${p.retries} repeats): ${disturbed.join(', ')}; treat those numbers with care`);
  } else {
    notes.push(`no measurement window was disturbed by other processes (each used less than ${DISTURBED_SHARE * 100} % of a CPU outside the measured processes)`);
  }

  let profileText = '';
  if (p.cpuProf && existsSync(PROFILE_DIR)) {
    for (const f of readdirSync(PROFILE_DIR).filter((n) => n.endsWith('.cpuprofile')).sort()) {
      const s = summarizeProfile(join(PROFILE_DIR, f), 20, ROOT);
      profileText += formatProfile(s, f) + '\n';
    }
    process.stderr.write(`\nCPU profiles of the CM (${PROFILE_DIR}):\n\n${profileText}\n`);
  }

  // The JIDs of every session are only needed while running.
  const slimRuns = runs.map((r) => ({ ...r, idle: { ...r.idle, open: { ...r.idle.open, jids: undefined } } }));
  const json = { format: RESULTS_FORMAT, machine, params: p, summary: summary.values, verdicts: summary.verdicts, runs: slimRuns, floors, notes };
  process.stdout.write(summaryText(summary, runs, notes));
  if (p.write) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(join(RESULTS_DIR, `${blockKey(p)}.json`), `${JSON.stringify(json, null, 1)}\n`);
    writeDocs(resultsBlock(machine, p, summary, runs, floors, notes), blockKey(p));
    log(`wrote ${DOCS} and ${join(RESULTS_DIR, `${blockKey(p)}.json`)}`);
  } else {
    const out = join(workDir, 'results.json');
    writeFileSync(out, JSON.stringify(json, null, 1));
    log(`docs not written (${p.mode === 'smoke' ? 'smoke run' : p.cpuProf ? '--cpu-prof' : '--no-write'}); JSON in ${out}`);
  }
  if (p.write) rmSync(workDir, { recursive: true, force: true });
  clearTimeout(deadline);
  log('done');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    killChildren();
    Promise.all([...[...prosodies].map((pr) => pr.stop(1000)), ...[...ejabberds].map((ej) => ej.stop(1000))]).finally(() => process.exit(1));
  },
);
