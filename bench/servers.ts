/**
 * Server lifecycles for one phase of one system: a fresh Prosody (+ the CM or node-xmpp-bosh),
 * or ejabberd, pinned to the server core and stopped afterwards by PID.
 */
import { BENCH_PASSWORD, startBenchProsody } from './prosody-bench.js';
import { startBenchEjabberd, type BeamMemory } from './ejabberd-bench.js';
import { cpusAllowed, renice, rssKiB } from './proc.js';
import type { Target } from './bosh-client.js';
import { fmt, type Params, type System, type SystemRun } from './results.js';
import { NICE, ejabberds, log, prosodies, targetOf } from './children.js';
import type { LoadGen } from './load-generator.js';
import { startCm, startNxb, type CmProc } from './server-processes.js';


/** Systems with a connection manager of their own in front of Prosody's c2s port: shared-bosh and node-xmpp-bosh. */
export function hasFrontEnd(system: System): boolean {
  return system === 'cm' || system === 'nxb';
}



export interface Users {
  warm: string[];
  idle: string[];
  a: string[];
  b: string[];
  fan: string;
  fanSource: string;
}

export function makeUsers(p: Params): Users {
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


/** HTTPS for every system (bench/tabs.ts): the CM over HTTP/2, Prosody's https port, ejabberd's TLS listener. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Certificate and key in one file (ejabberd's `certfiles`). */
  bothFile: string;
}

export interface ServerExtras {
  tls?: TlsFiles;
  /** ejabberd: a plain c2s listener too (Prosody always has one). */
  c2s?: boolean;
}

export interface Servers {
  /** The XMPP server: Prosody (systems cm, mod_bosh) or ejabberd. */
  xmpp: { pid: number; domain: string; boshUrl: string; c2sPort: number };
  /** Bound sessions in the XMPP server of users whose name starts with `prefix`. */
  sessionsOf(prefix: string): Promise<number>;
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
export async function withServers<T>(system: System, label: string, p: Pick<Params, 'prosodyGc' | 'cpuProf' | 'cmLogLevel'>, lg: LoadGen, workDir: string, cores: { server: number; client: number },
  users: readonly string[], fn: (s: Servers) => Promise<T>, cmOverH2 = false, extras: ServerExtras = {}): Promise<T> {
  if (system === 'ejabberd') return withEjabberd(label, lg, cores, users, fn, extras);
  // BENCH_PROSODY_CORE (experiments only, never written to the docs): put Prosody on another core,
  // e.g. with the load generator, so that a CM CPU profile is not skewed by Prosody preempting it.
  const prosodyCore = process.env.BENCH_PROSODY_CORE !== undefined ? Number(process.env.BENCH_PROSODY_CORE) : cores.server;
  const prosody = await startBenchProsody(prosodyCore, p.prosodyGc, extras.tls);
  prosodies.add(prosody);
  if (NICE !== null) renice(prosody.pid, NICE);
  let cm: CmProc | undefined;
  try {
    await prosody.addUsers(users);
    if (system === 'cm') cm = await startCm(prosody.c2sPort, cores.server, p.cpuProf, p.cmLogLevel, label, workDir, cmOverH2 || extras.tls !== undefined);
    if (system === 'nxb') cm = await startNxb(prosody.c2sPort, prosody.domain, cores.server, p.cpuProf, label, workDir);
    const url = cm ? cm.url : system === 'c2s' ? `xmpp://127.0.0.1:${prosody.c2sPort}` : prosody.boshUrl;
    const target = system === 'c2s' ? { host: '127.0.0.1', port: prosody.c2sPort, path: '' } : targetOf(url);
    // HTTPS: targetOf() makes it HTTP/2 (the CM); mod_bosh speaks HTTPS/1.1.
    if (extras.tls && system !== 'cm' && system !== 'c2s') {
      delete target.h2;
      target.tls = true;
    }
    const pids = cm ? [cm.pid, prosody.pid] : [prosody.pid];
    const affinity = {
      cm: cm ? cpusAllowed(cm.pid) : undefined,
      prosody: cpusAllowed(prosody.pid),
      loadgen: cpusAllowed(lg.pid),
      orchestrator: cpusAllowed(process.pid),
    };
    log(`  ${label}: ${url} (CPUs: Prosody ${affinity.prosody}${cm ? `, CM ${affinity.cm}` : ''}, load generator ${affinity.loadgen})`);
    const servers: Servers = {
      xmpp: { pid: prosody.pid, domain: prosody.domain, boshUrl: prosody.boshUrl, c2sPort: prosody.c2sPort },
      sessionsOf: (prefix) => prosody.sessionsOf(prefix),
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
export async function withEjabberd<T>(label: string, lg: LoadGen, cores: { server: number; client: number }, users: readonly string[], fn: (s: Servers) => Promise<T>,
  extras: ServerExtras = {}): Promise<T> {
  const extra = (process.env.BENCH_EJABBERD_ERL_ARGS ?? '').split(' ').filter((x) => x !== '');
  const ej = await startBenchEjabberd(cores.server, { extraErlArgs: extra, c2s: extras.c2s, tlsCertFile: extras.tls?.bothFile });
  ejabberds.add(ej);
  if (NICE !== null) renice(ej.pid, NICE);
  try {
    const t0 = Date.now();
    await ej.addUsers(users, BENCH_PASSWORD);
    const target = targetOf(ej.boshUrl);
    if (extras.tls) {
      delete target.h2;
      target.tls = true;
    }
    const pids = [ej.pid];
    let lastBeamMemory: BeamMemory | undefined;
    const affinity = { cm: undefined, prosody: cpusAllowed(ej.pid), loadgen: cpusAllowed(lg.pid), orchestrator: cpusAllowed(process.pid) };
    log(`  ${label}: ${ej.boshUrl} (${users.length} accounts in ${fmt((Date.now() - t0) / 1000)} s; CPUs: ejabberd ${affinity.prosody} (all BEAM threads), load generator ${affinity.loadgen})`);
    return await fn({
      xmpp: { pid: ej.pid, domain: ej.domain, boshUrl: ej.boshUrl, c2sPort: ej.c2sPort },
      sessionsOf: (prefix) => ej.sessionsOf(prefix),
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
