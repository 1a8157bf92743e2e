/**
 * The systems under test that run as Node processes of their own: the CM (bench/cm-process.ts),
 * node-xmpp-bosh (bench/nxb-process.ts) and the floor server (bench/floor-server.ts).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getFreePort } from '../test/support/prosody.js';
import { createTestCertificate } from '../test/support/certs.js';
import { DEFAULT_CONFIG, type CmConfig } from '../src/config.js';
import { NODE_FLAGS } from '../src/node-flags.js';
import type { FloorRun, Hiccups } from './results.js';
import { HERE, ROOT, log, spawnPinned, stopChild, waitMessage } from './children.js';

export const PROFILE_DIR = join(ROOT, 'bench', 'profiles');

/** What the CM's (or node-xmpp-bosh's) control channel answers to `stats`: see bench/child-ipc.ts. */
export interface CmMemory {
  stats: { sessions: number; links: number };
  memory: NodeJS.MemoryUsage;
  /** Resident bytes of V8's young generation (a per-process buffer of 1 to 32 MiB). */
  youngGenBytes: number;
}

export interface CmProc {
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

export async function startCm(c2sPort: number, core: number, cpuProf: boolean, logLevel: string, label: string, workDir: string, h2 = false): Promise<CmProc> {
  const config = await benchCmConfig({ port: await getFreePort(), c2sPort, workDir, h2, logLevel });
  return startServerProcess({ kind: 'cm', label, core, nodeArgs: cmNodeArgs(), script: 'cm-process.js', env: { BENCH_CM_CONFIG: JSON.stringify(config) }, workDir, cpuProf });
}

/**
 * The CM's configuration in every bench (also bench/alloc-count.ts): `localhost` served by the
 * XMPP server on 127.0.0.1:`c2sPort` without TLS; with `h2`, HTTPS (and so HTTP/2) with the
 * harness's test certificate, written to `workDir`.
 */
export async function benchCmConfig(o: { port: number; c2sPort: number; workDir: string; h2: boolean; logLevel: string }): Promise<CmConfig> {
  let tls: CmConfig['http']['tls'] = null;
  if (o.h2) {
    // HTTPS with HTTP/2 (http.tls; http.http2 is on by default), the harness's test certificate.
    const cert = await createTestCertificate(['localhost']);
    tls = { certFile: join(o.workDir, 'cm-cert.pem'), keyFile: join(o.workDir, 'cm-key.pem') };
    writeFileSync(tls.certFile, cert.cert);
    writeFileSync(tls.keyFile, cert.key, { mode: 0o600 });
  }
  return {
    ...DEFAULT_CONFIG,
    // Every client of the bench comes from 127.0.0.1: the per-address limits would refuse it.
    http: { ...DEFAULT_CONFIG.http, host: '127.0.0.1', port: o.port, tls, maxConnectionsPerAddress: 0, maxRequestsPerAddress: 0 },
    domains: { localhost: { host: '127.0.0.1', port: o.c2sPort, tls: 'off', insecure: false } },
    bosh: { ...DEFAULT_CONFIG.bosh, creationsPerMinute: 0, maxSessions: 60_000 },
    logLevel: o.logLevel as CmConfig['logLevel'],
  };
}

/**
 * The CM runs with the flags it ships with (src/node-flags.ts, as `shared-bosh` and `npm start`
 * run it), plus --expose-gc for the bench's own collections between phases. For experiments
 * (such runs are not written to the docs): BENCH_CM_NODE_ARGS adds node flags (e.g. --trace-gc),
 * BENCH_CM_NODE_FLAGS=none leaves the shipped ones out (node's defaults, for an A/B).
 */
export function cmNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const shipped = env.BENCH_CM_NODE_FLAGS === 'none' ? [] : NODE_FLAGS;
  return ['--expose-gc', ...shipped, ...(env.BENCH_CM_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')];
}

/** Does `env` run the CM with other node flags than it ships with (an experiment, never written to the docs)? */
export function cmNodeFlagsChanged(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.BENCH_CM_NODE_ARGS ?? '') !== '' || env.BENCH_CM_NODE_FLAGS !== undefined;
}

/**
 * System (e): node-xmpp-bosh (bench/nxb-process.ts) in front of the same c2s port, pinned like
 * the CM, with its own default config (INFO logging to a file, as the CM logs at info).
 */
export async function startNxb(c2sPort: number, domain: string, core: number, cpuProf: boolean, label: string, workDir: string): Promise<CmProc> {
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
export async function startServerProcess(o: { kind: 'cm' | 'nxb'; label: string; core: number; nodeArgs: string[]; script: string; env: Record<string, string>; workDir: string; cpuProf: boolean }): Promise<CmProc> {
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
export function controlHandle(child: ChildProcess, ready: { url: string; pid: number }, logFile: string, cpuProf: boolean, kind: 'cm' | 'nxb', label: string): CmProc {
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
export function cmLoadable(): { ok: boolean; why?: string } {
  try {
    execFileSync(process.execPath, ['-e', `import(${JSON.stringify(join(ROOT, 'dist', 'src', 'cm.js'))}).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); })`],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
    return { ok: true };
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    return { ok: false, why: stderr.trim().split('\n')[0] };
  }
}

export async function startFloor(core: number, variant: FloorRun['variant']): Promise<{ pid: number; port: number; stop(): Promise<void> }> {
  const child = spawnPinned(core, [], join(HERE, 'floor-server.js'), { args: variant === 'plain' ? [] : [`--${variant}`] });
  const ready = await waitMessage(child, (m): m is { ready: true; port: number; pid: number } => (m as { ready?: boolean }).ready === true,
    15_000, 'floor server');
  return { pid: ready.pid, port: ready.port, stop: () => stopChild(child, { cmd: 'stop' }) };
}
