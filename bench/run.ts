/**
 * `npm run bench`: shared-bosh in front of Prosody's c2s port vs Prosody's own mod_bosh (and vs
 * ejabberd's mod_bosh when `ejabberdctl` is on PATH), with Prosody's c2s alone (no BOSH) as the
 * floor, in one run, alternating A B (C) D per round.
 * See docs/performance.md for the method and the last results.
 *
 *   npm run bench                 default (~10 min, ~15 with ejabberd): 1k idle sessions, 2 rounds
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
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFreePort } from '../test/support/prosody.js';
import { createTestCertificate } from '../test/support/certs.js';
import { DEFAULT_CONFIG, type CmConfig } from '../src/config.js';
import { BENCH_PASSWORD, ITERATIONS, prosodyVersion, startBenchProsody, type BenchProsody, type ProsodyGc } from './prosody-bench.js';
import { ejabberdInstall, ejabberdVersion, startBenchEjabberd, type BeamMemory, type BenchEjabberd } from './ejabberd-bench.js';
import { nxbInstalled, nxbVersion } from './nxb.js';
import { cpuMs, cpusAllowed, machineBusyMs, nproc, openFilesLimit, pin, renice, rssKiB, type TcpCounters } from './proc.js';
import { formatProfile, summarizeProfile } from './profile-summary.js';
import type { HttpRateResult, OpenResult, PingResult, StatusResult, StreamResult } from './types.js';
import type { Target } from './bosh-client.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const DOCS = join(ROOT, 'docs', 'performance.md');
const PROFILE_DIR = join(ROOT, 'bench', 'profiles');
/** Full JSON of the runs that write docs/performance.md, one file per block. */
const RESULTS_DIR = join(ROOT, 'bench', 'results');
/** docs/performance.md keeps one generated block per mode (default, full) between these markers. */
const begin = (mode: string): string => `<!-- bench:results:${mode}:begin -->`;
const end = (mode: string): string => `<!-- bench:results:${mode}:end -->`;

// ---------------------------------------------------------------- parameters

interface Params {
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
  argv: string[];
}

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
const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');

function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
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

interface Hiccups {
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  gcPauses: number;
  gcMaxMs: number;
  gcTotalMs: number;
}

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
function kernelShare(r: { cpuMs: Record<number, number>; systemCpuMs: Record<number, number> }, pid: number): number {
  return (r.systemCpuMs[pid] ?? Number.NaN) / (r.cpuMs[pid] ?? Number.NaN);
}

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

/** (a) shared-bosh + Prosody c2s, (b) Prosody's mod_bosh, (c) ejabberd's mod_bosh, (d) Prosody's c2s alone. */
const ALL_SYSTEMS = ['cm', 'mod_bosh', 'ejabberd', 'c2s', 'nxb'] as const;
type System = (typeof ALL_SYSTEMS)[number];

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

const SYSTEM_TITLE: Record<System, string> = {
  cm: 'shared-bosh + Prosody c2s',
  mod_bosh: 'Prosody mod_bosh',
  ejabberd: 'ejabberd mod_bosh',
  c2s: 'Prosody c2s alone (XMPP over TCP, no BOSH)',
  nxb: 'node-xmpp-bosh 0.7 + Prosody c2s',
};
const ROUND_NAME: Record<System, string> = { cm: 'shared-bosh', mod_bosh: 'Prosody\'s mod_bosh', ejabberd: 'ejabberd\'s mod_bosh', c2s: 'Prosody\'s c2s alone', nxb: 'node-xmpp-bosh' };
/** The XMPP server process of a system. */
const SERVER_NAME: Record<System, string> = { cm: 'Prosody', mod_bosh: 'Prosody', ejabberd: 'ejabberd', c2s: 'Prosody', nxb: 'Prosody' };

/*
 * Per-process figures are keyed `cm` and `prosody`: `prosody` is the XMPP server's process, that
 * is Prosody in systems cm, mod_bosh and c2s and ejabberd's BEAM in system ejabberd.
 */
interface StepResult extends StreamResult {
  attempts: number;
  /** The CM's event-loop delay and GC pauses over the whole step (warm-up, window, drain). */
  cmHiccups?: Hiccups;
  cpuUsPerMsg: { cm: number; prosody: number; total: number };
  cpuUsPerHttp: { cm: number; prosody: number };
}

interface SystemRun {
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

interface FloorRun {
  round: number;
  /** At the CM's request rate of the reference relay step, or of the fan-out. */
  purpose: 'relay' | 'fanout';
  variant: 'plain' | 'saxes';
  result: HttpRateResult & { attempts: number };
  cpuUsPerRequest: number;
  pid: number;
  affinity: string;
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

function goodStep(s: StreamResult): boolean {
  return s.latencyMs.p99 < 10 && s.stanzasLost === 0 && s.sessionsLost === 0
    && s.offeredPerS >= 0.95 * s.rate && s.deliveredPerS >= 0.95 * s.offeredPerS;
}

/** Past saturation: a backlog builds (p50 over 50 ms, or delivery falls behind), or anything is lost. */
function overloaded(s: StreamResult): boolean {
  return s.latencyMs.p50 > 50 || s.sessionsLost > 0 || s.stanzasLost > 0.01 * Math.max(1, s.sentInWindow)
    || s.deliveredPerS < 0.9 * s.offeredPerS || !Number.isFinite(s.latencyMs.p99);
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
    const cmPerSession = perSession('cm') - (cmMemoryPerSessionKiB?.youngGen ?? 0);
    const perSessionKiB = { cm: cmPerSession, cmRaw: perSession('cm'), prosody: perSession('prosody'), total: (isCm ? cmPerSession : 0) + perSession('prosody') };
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

// ---------------------------------------------------------------- report

interface Machine {
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

interface Row {
  metric: string;
  cm: string;
  other: string;
  ratio: string;
  target: string;
  result: string;
}

interface Verdict {
  target: string;
  met: boolean | undefined;
  detail: string;
}

/**
 * The "highest relay rate with p99 < 10 ms" row against one reference system, whose target is
 * `factor` times the reference's rate. A reference that never got p99 under 10 ms, not even at
 * the lowest step, makes the ratio unbounded: the CM then meets it by holding `factor` × that step.
 */
function highestRateRow(refName: string, cmHighest: number, refHighest: number, cmCell: string, refCell: string, lowest: number, factor: number)
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

function ratioStr(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a';
}

/** `value <= limit`: met, or missed by value/limit. */
function atMost(value: number, limit: number, unit: string): { met: boolean | undefined; text: string } {
  if (!Number.isFinite(value)) return { met: undefined, text: 'not measured' };
  if (value <= limit) return { met: true, text: `met (${fmt(value, 2)}${unit} ≤ ${limit}${unit})` };
  return { met: false, text: `**missed**: ${fmt(value, 2)}${unit} is ${fmt(value / limit, 2)}× the limit ${limit}${unit}` };
}

function atLeast(value: number, limit: number, unit: string): { met: boolean | undefined; text: string } {
  if (!Number.isFinite(value)) return { met: undefined, text: 'not measured' };
  if (value >= limit) return { met: true, text: `met (${fmt(value, 2)}${unit} ≥ ${limit}${unit})` };
  return { met: false, text: `**missed**: ${fmt(value, 2)}${unit} is ${fmt((1 - value / limit) * 100, 0)} % short of ${limit}${unit}` };
}

interface Summary {
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
function medianOf(rs: SystemRun[], f: (r: SystemRun) => number): number {
  return median(rs.map(f));
}

/** The median, then every round's value: "340.0 (367.0, 313.0)". */
function rounds(rs: SystemRun[], f: (r: SystemRun) => number, digits = 1): string {
  return rs.length > 1 ? `${fmt(medianOf(rs, f), digits)} (${rs.map((r) => fmt(f(r), digits)).join(', ')})` : fmt(medianOf(rs, f), digits);
}

function summarize(runs: SystemRun[], floors: FloorRun[], p: Params): Summary {
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
    floorRate: median(floors.filter((f) => f.purpose === 'relay').map((f) => f.result.requestsPerS)),
    floorFanout: median(floors.filter((f) => f.purpose === 'fanout').map((f) => f.cpuUsPerRequest)),
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
  add(`CPU per relayed message at ${R} msg/s (µs): CM alone vs mod_bosh`, rounds(cmRuns, (r) => ref(r)?.cpuUsPerMsg.cm ?? Number.NaN), rounds(mbRuns, (r) => ref(r)?.cpuUsPerMsg.prosody ?? Number.NaN), ratioStr(r1), '≤ 0.3×', atMost(r1, 0.3, '×'));
  const r2 = ratio(v.cmTotalCpuPerMsg!, v.mbCpuPerMsg!);
  add(`CPU per relayed message at ${R} msg/s (µs): CM + Prosody c2s vs mod_bosh`, `${fmt(v.cmTotalCpuPerMsg!)} (${fmt(v.cmCpuPerMsg!)} + ${fmt(v.cmProsodyCpuPerMsg!)})`, fmt(v.mbCpuPerMsg!), ratioStr(r2), '≤ 0.7×', atMost(r2, 0.7, '×'));
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
    add(`CPU per relayed message at ${hi.rate} msg/s (µs, 3 s steps): CM alone vs mod_bosh`, fmt(hi.cm), fmt(hi.mb), ratioStr(h1), '≤ 0.3×', atMost(h1, 0.3, '×'));
    add(`CPU per relayed message at ${hi.rate} msg/s (µs, 3 s steps): CM + Prosody c2s vs mod_bosh`, `${fmt(hi.cm + hi.cmProsody)} (${fmt(hi.cm)} + ${fmt(hi.cmProsody)})`, fmt(hi.mb), ratioStr(h2), '≤ 0.7×', atMost(h2, 0.7, '×'));
  }
  add(...highestRateRow('mod_bosh', v.cmHighest!, v.mbHighest!, rounds(cmRuns, (r) => r.highestRateP99Under10, 0), rounds(mbRuns, (r) => r.highestRateP99Under10, 0), Math.min(...p.steps), 2));
  add(`Relay latency p50 / p99 at ${R} msg/s (ms)`, `${fmt(v.cmP50!, 2)} / ${fmt(v.cmP99!, 2)}`, `${fmt(v.mbP50!, 2)} / ${fmt(v.mbP99!, 2)}`, ratioStr(v.cmP99! / v.mbP99!), '—');
  add('Relay: stanzas lost / sessions lost (steps below overload, all rounds)', `${v.cmStanzasLost} / ${v.cmSessionsLost}`, `${v.mbStanzasLost} / ${v.mbSessionsLost}`, '—', '0 / 0',
    { met: v.cmStanzasLost === 0 && v.cmSessionsLost === 0, text: v.cmStanzasLost === 0 && v.cmSessionsLost === 0 ? 'met' : '**missed**' });
  add(`RSS per idle session (KiB), ${fmtInt(p.idleSessions)} sessions${p.idleH2 ? ' (the CM over HTTP/2 + TLS)' : ''}: CM alone, without V8's young generation`, rounds(cmRuns, (r) => r.idle.perSessionKiB.cm), '—', '—', '≤ 16 KiB', atMost(v.cmRss!, 16, ' KiB'));
  add('RSS per idle session (KiB): CM alone, raw (with the growth of V8\'s young generation, up to 32 MiB per process)', rounds(cmRuns, (r) => r.idle.perSessionKiB.cmRaw ?? Number.NaN), '—', '—', '—');
  add('RSS per idle session (KiB): CM + Prosody c2s vs mod_bosh', fmt(v.cmTotalRss!), fmt(v.mbRss!), ratioStr(v.cmTotalRss! / v.mbRss!), '—');
  const idleTarget = 10_000;
  const idleCheck = p.idleSessions >= idleTarget
    ? { met: v.cmIdleHeld! >= idleTarget && v.cmPingFailed === 0, text: v.cmIdleHeld! >= idleTarget && v.cmPingFailed === 0 ? 'met' : `**missed** (${fmtInt(v.cmIdleHeld!)} held, ${v.cmPingFailed} failed)` }
    : { met: undefined, text: `not measured at 10,000 (${fmtInt(p.idleSessions)} run${p.idleLimitedBy ? `: ${p.idleLimitedBy}` : '; use --full'}); ${v.cmPingFailed === 0 ? 'every session answered' : `${v.cmPingFailed} failed`}` };
  add(`Idle sessions held / failed to set up or answer a ping${p.idleH2 ? ' (the CM over HTTP/2 + TLS)' : ''}`, `${fmtInt(v.cmIdleHeld!)} / ${v.cmPingFailed}`, `${fmtInt(v.mbIdleHeld!)} / ${v.mbPingFailed}`, '—', '10,000 held, all answer', idleCheck);
  add(`CPU while ${fmtInt(p.idleSessions)} sessions sit idle (% of a core): CM (+ Prosody c2s) vs mod_bosh`, `${fmt(v.cmIdleCpu! / 10, 2)} (+ ${fmt(v.cmIdleProsodyCpu! / 10, 2)})`, fmt(v.mbIdleCpu! / 10, 2), '—', '—');
  add(`Session setup rate (sessions/s, ${p.setupConcurrency} concurrent logins, PLAIN, SCRAM ${ITERATIONS} iterations)`, fmt(v.cmSetupRate!, 0), fmt(v.mbSetupRate!, 0), ratioStr(v.cmSetupRate! / v.mbSetupRate!), '—');
  add('CPU per session set up (ms): CM alone', rounds(cmRuns, (r) => r.setup.cpuMsPerSetup.cm, 3), '—', '—', '≤ 0.5 ms', atMost(v.cmSetupCpu!, 0.5, ' ms'));
  add('CPU per session set up (ms): CM + Prosody c2s vs mod_bosh', fmt(v.cmSetupTotalCpu!, 3), fmt(v.mbSetupCpu!, 3), ratioStr(v.cmSetupTotalCpu! / v.mbSetupCpu!), '—');
  add(`Shared fan-out, 1 link × ${p.fanMembers} members at ${p.fanRate} msg/s: p50 / p99 (ms)`, `${fmt(v.fanP50!, 2)} / ${rounds(cmRuns, (r) => r.fanout?.latencyMs.p99 ?? Number.NaN, 2)}`, '—', '—', 'p99 < 10 ms', atMost(v.fanP99!, 10, ' ms'));
  const r4 = v.fanCpuPerCopy! / v.cmCpuPerMsg!;
  add('Shared fan-out: CM CPU per delivered copy (µs) vs CM CPU per relayed message', rounds(cmRuns, (r) => r.fanout?.cmCpuUsPerCopy ?? Number.NaN), fmt(v.cmCpuPerMsg!), ratioStr(r4), '≤ 0.1×', atMost(r4, 0.1, '×'));
  add(`Shared fan-out: CM CPU per HTTP request (µs, ${fmt(v.fanHttpPerCopy!, 2)} requests per delivered copy) vs the floor at the same rate (${fmt(v.floorFanoutRate!, 0)} req/s)`,
    fmt(v.fanCpuPerHttp!), fmt(v.floorFanout!), ratioStr(v.fanCpuPerHttp! / v.floorFanout!), '—');
  const r5 = v.cmCpuPerHttp! / v.floorPlain!;
  add(`CPU per HTTP request (µs): CM at ${R} msg/s (${fmt(v.cmHttpPerS!, 0)} req/s) vs trivial node:http floor (${fmt(v.floorRate!, 0)} req/s)`, fmt(v.cmCpuPerHttp!), fmt(v.floorPlain!), ratioStr(r5), '≤ 3×', atMost(r5, 3, '×'));
  add('CPU per HTTP request (µs): CM vs floor that also parses the body with saxes', fmt(v.cmCpuPerHttp!), fmt(v.floorSaxes!), ratioStr(v.cmCpuPerHttp! / v.floorSaxes!), '—');
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
function summarizeC2s(runs: SystemRun[], p: Params, v: Record<string, number>): Row[] {
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
function latencyByRateMarkdown(runs: SystemRun[]): string {
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
function summarizeEjabberd(runs: SystemRun[], p: Params, v: Record<string, number>, verdicts: Verdict[]): Row[] {
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
  add(...highestRateRow('ejabberd', v.cmHighest!, v.ejHighest!, rounds(cmRuns, (r) => r.highestRateP99Under10, 0), rounds(ejRuns, (r) => r.highestRateP99Under10, 0), Math.min(...p.steps), 1.5));
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
function summarizeNxb(runs: SystemRun[], p: Params, v: Record<string, number>, verdicts: Verdict[]): Row[] {
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
    ratioStr(r1), '≤ 0.5×', atMost(r1, 0.5, '×'));
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
    add(`CPU per relayed message at ${hi} msg/s (µs, ${fmt(p.stepDurationMs / 1000, 0)} s steps): CM alone vs node-xmpp-bosh alone`, fmt(cm), fmt(nx), ratioStr(cm / nx), '≤ 0.5×', atMost(cm / nx, 0.5, '×'));
    add(`CPU per relayed message at ${hi} msg/s (µs, ${fmt(p.stepDurationMs / 1000, 0)} s steps): CM + Prosody c2s vs node-xmpp-bosh + Prosody c2s`,
      `${fmt(cm + cmC2s)} (${fmt(cm)} + ${fmt(cmC2s)})`, `${fmt(nx + nxC2s)} (${fmt(nx)} + ${fmt(nxC2s)})`, ratioStr((cm + cmC2s) / (nx + nxC2s)), '—');
  }
  const [metric, cmCell, nxbCell, ratio] = highestRateRow('node-xmpp-bosh', v.cmHighest!, v.nxbHighest!, rounds(cmRuns, (r) => r.highestRateP99Under10, 0), rounds(nRuns, (r) => r.highestRateP99Under10, 0), Math.min(...p.steps), 1);
  add(metric, cmCell, nxbCell, ratio, '—');
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
function goodOrAll(s: StreamResult): boolean {
  return !overloaded(s);
}

function tableMarkdown(rows: Row[], other = 'Prosody mod_bosh / reference'): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| Metric | shared-bosh | ${other} | Ratio | Target | Result |`,
    '|---|---:|---:|---:|---|---|',
    ...rows.map((r) => `| ${esc(r.metric)} | ${esc(r.cm)} | ${esc(r.other)} | ${r.ratio} | ${esc(r.target)} | ${esc(r.result)} |`),
  ].join('\n');
}

interface RateRow {
  rate: number;
  cm: number;
  cmProsody: number;
  mb: number;
}

/**
 * CPU per relayed message at every step rate that no round of either system (the CM and `other`)
 * found overloaded (median of rounds). `mb` is the other system's value.
 */
function cpuByRate(allRuns: SystemRun[], other: 'mod_bosh' | 'ejabberd'): RateRow[] {
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

function cpuByRateMarkdown(rows: RateRow[], other = 'mod_bosh'): string {
  if (rows.length === 0) return 'No step rate was below overload in every round of both systems.\n';
  return [
    `| msg/s | CM µs | Prosody c2s µs | ${other} µs | CM / ${other} | (CM + c2s) / ${other} |`,
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.rate} | ${fmt(r.cm)} | ${fmt(r.cmProsody)} | ${fmt(r.mb)} | ${ratioStr(r.cm / r.mb)} | ${ratioStr((r.cm + r.cmProsody) / r.mb)} |`),
    '',
  ].join('\n');
}

function stepsMarkdown(runs: SystemRun[]): string {
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

function commandsMarkdown(p: Params): string[] {
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
    '- floor: `taskset -c 0 node dist/bench/floor-server.js [--saxes]`',
    '- load generator: `taskset -c 1 node dist/bench/loadgen.js`; orchestrator `node dist/bench/run.js` pinned with `taskset -a -pc 1`',
  ];
}

function resultsBlock(m: Machine, p: Params, s: Summary, runs: SystemRun[], floors: FloorRun[], notes: string[], json: unknown): string {
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
    ...commandsMarkdown(p).map((c) => `  ${c}`),
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
    '### Floor',
    '',
    '| round | at the CM\'s rate of | variant | req/s | CPU/request µs | p99 ms |',
    '|---:|---|---|---:|---:|---:|',
    ...floors.map((f) => `| ${f.round} | ${f.purpose === 'relay' ? 'the reference relay step' : 'the fan-out'} | ${f.variant} | ${fmt(f.result.requestsPerS, 0)} | ${fmt(f.cpuUsPerRequest, 1)} | ${fmt(f.result.latencyMs.p99, 2)} |`),
    '',
    '### Results as JSON',
    '',
    `Every window of this run (per-step latencies, CPU per process with its kernel share, TCP counters, the generator's own hiccups) is in [bench/results/${blockKey(p)}.json](../bench/results/${blockKey(p)}.json). The summary:`,
    '',
    '<details><summary>JSON summary</summary>',
    '',
    '```json',
    JSON.stringify(json, null, 1),
    '```',
    '',
    '</details>',
    end(blockKey(p)),
  ].join('\n');
}

/** Which generated block of docs/performance.md a run replaces. */
function blockKey(p: Params): string {
  return p.prosodyGc === 'generational' ? `${p.mode}-prosody-gc-generational` : p.mode;
}

function writeDocs(block: string, mode: string): void {
  let text = existsSync(DOCS) ? readFileSync(DOCS, 'utf8') : '';
  const b = text.indexOf(begin(mode));
  const e = text.indexOf(end(mode));
  if (b >= 0 && e > b) {
    text = text.slice(0, b) + block + text.slice(e + end(mode).length);
  } else {
    text = `${text === '' ? '# Performance\n\nGenerated by `npm run bench`; see bench/run.ts.\n' : text.trimEnd() + '\n'}\n${block}\n`;
  }
  const tmp = `${DOCS}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, DOCS);
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
  const json = { machine, params: p, summary: summary.values, verdicts: summary.verdicts, runs: slimRuns, floors, notes };
  const table = tableMarkdown(summary.rows);
  process.stdout.write(`\n${table}\n\n`);
  if (summary.ejRows.length > 0) process.stdout.write(`Compared with ejabberd's mod_bosh:\n\n${tableMarkdown(summary.ejRows, 'ejabberd mod_bosh')}\n\n`);
  if (summary.nxbRows.length > 0) process.stdout.write(`Compared with node-xmpp-bosh:\n\n${tableMarkdown(summary.nxbRows, 'node-xmpp-bosh')}\n\n`);
  if (summary.c2sRows.length > 0) process.stdout.write(`Compared with Prosody's c2s alone:\n\n${tableMarkdown(summary.c2sRows, 'Prosody c2s alone')}\n\n${latencyByRateMarkdown(runs)}\n`);
  for (const n of notes) process.stdout.write(`- ${n}\n`);
  if (p.write) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(join(RESULTS_DIR, `${blockKey(p)}.json`), `${JSON.stringify(json, null, 1)}\n`);
    const brief = { machine, params: p, summary: summary.values, verdicts: summary.verdicts, notes };
    writeDocs(resultsBlock(machine, p, summary, runs, floors, notes, brief), blockKey(p));
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
