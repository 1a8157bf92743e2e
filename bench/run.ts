/**
 * `npm run bench`: shared-bosh in front of Prosody's c2s port vs Prosody's own mod_bosh, vs
 * ejabberd's mod_bosh when `ejabberdctl` is on PATH, vs node-xmpp-bosh when installed
 * (`npm run bench:install-nxb`), with Prosody's c2s alone (no BOSH) as the floor, in one run,
 * alternating A B (C) D (E) per round. This file is the run loop (one system, one round; the
 * floor; main). Beside it: params.ts (the command line), children.ts (child processes by PID and
 * the progress log), load-generator.ts (IPC to bench/loadgen.ts), server-processes.ts (the CM,
 * node-xmpp-bosh and the floor as processes), quiet-gate.ts (measure only on a quiet machine),
 * servers.ts (server lifecycles per phase); results.ts holds what a run records and report.ts
 * turns that into tables and docs/performance.md.
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
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prosodyVersion } from './prosody-bench.js';
import { ejabberdInstall, ejabberdVersion, type BeamMemory } from './ejabberd-bench.js';
import { nxbInstalled, nxbVersion } from './nxb.js';
import { cpuMs, cpusAllowed, machineInfo, openFilesLimit } from './proc.js';
import { formatProfile, summarizeProfile } from './profile-summary.js';
import type { HttpRateResult, OpenResult, PingResult, StatusResult, StreamResult } from './types.js';
import { writeGenerated } from './generated.js';
import { blockKey, DOCS, RESULTS_DIR, resultsBlock, summarize, summaryText, writeDocs } from './report.js';
import {
  fmt, goodStep, kernelShare, overloaded, RESULTS_FORMAT, SERVER_NAME, SYSTEM_TITLE, type FloorRun, type Hiccups, type Params, type StepResult, type System, type SystemRun,
} from './results.js';
import { parseParams } from './params.js';
import { ROOT, ejabberds, killChildren, log, placeOrchestrator, prosodies, sleep, targetOf, which } from './children.js';
import { LoadGen } from './load-generator.js';
import { PROFILE_DIR, cmLoadable, startFloor } from './server-processes.js';
import { DISTURBED_SHARE, disturbances, measure, otherShare, quietGate } from './quiet-gate.js';
import { hasFrontEnd, makeUsers, withServers, type Servers } from './servers.js';
import { tailsLine } from './tails.js';

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
    const relayAt = async (rate: number, durationMs: number, label: string, arrivals = p.arrivals): Promise<StepResult> => {
      const runStep = (): Promise<StreamResult> => lg.call<StreamResult>({
        cmd: 'stream', mode: 'relay', from: 'a', to: 'b', rate, warmupMs: p.stepWarmupMs, durationMs,
        drainMs: p.stepDrainMs, cpuPids: s.pids, countTarget: s.target, arrivals,
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
        + `${cmHiccups ? `; ${tailsLine(cmHiccups, r, s.cmPid, s.xmpp.pid)}` : ''}`
        + `${disturbances(r)}`);
      return step;
    };
    const reference = await relayAt(p.refRate, p.refWindowMs, 'reference relay');
    const relay: StepResult[] = [];
    // --arrivals even,poisson: each rate once per spacing, back to back (an A/B in one run); the
    // first decides when stepping stops and the highest rate with p99 < 10 ms.
    const spacings = p.arrivalsCompared ?? [p.arrivals ?? 'even'];
    steps: for (const rate of p.steps) {
      for (const arrivals of spacings) {
        const step = await relayAt(rate, p.stepDurationMs, spacings.length > 1 ? `relay (${arrivals})` : 'relay', arrivals);
        relay.push(step);
        if (overloaded(step) && arrivals === spacings[0]) {
          log(`  relay: stopping at ${rate}/s (overloaded)`);
          break steps;
        }
      }
    }
    const passing = relay.filter((x) => (x.arrivals ?? 'even') === spacings[0] && goodStep(x)).map((x) => x.rate);
    const highestRateP99Under10 = passing.length > 0 ? Math.max(...passing) : 0;
    await lg.call({ cmd: 'close', group: 'a', concurrency: 25 });
    await lg.call({ cmd: 'close', group: 'b', concurrency: 25 });
    return { reference, relay, highestRateP99Under10, fanout, pidsRelay: { cm: s.cm?.pid, prosody: s.xmpp.pid }, affinityRelay: s.affinity };
  });

  return { system, round, ...phase1, ...phase2, errors };
}

/** The floor server at the request rate of a CM measurement: `relay` (plain, saxes, raw) or `fanout` (plain, raw). */
async function runFloor(round: number, purpose: 'relay' | 'fanout', rate: number, p: Params, lg: LoadGen, core: number): Promise<FloorRun[]> {
  const out: FloorRun[] = [];
  const variants = purpose === 'relay' ? (['plain', 'saxes', 'raw'] as const) : (['plain', 'raw'] as const);
  for (const variant of variants) {
    const floor = await startFloor(core, variant);
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


// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const p = parseParams(process.argv.slice(2));
  const { cpuCount, cores, notes } = placeOrchestrator();
  // The CM's (and node-xmpp-bosh's) event-loop probe (bench/child-ipc.ts), inherited by the servers.
  process.env.BENCH_LOOP_PROBE_MS = String(p.loopProbeMs ?? 20);
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
    writeGenerated(); // the headline and the charts read every stored result, this one included
    log(`wrote ${DOCS} (this run's block, the headline), docs/img/*.svg and ${join(RESULTS_DIR, `${blockKey(p)}.json`)}`);
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
