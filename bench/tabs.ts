/**
 * `npm run bench:tabs`: one user, many tabs (issue 15, part 1). U users with T tabs each, every
 * tab a BOSH client like the load generator's, against
 *   (a) shared-bosh with Shared BOSH: each user's first tab logs in with a `shared:key`, tabs
 *       2..T attach with it, so the user is one link of T members and one c2s session upstream;
 *   (b) shared-bosh without sharing: T full logins per user (distinct resources);
 *   (c) Prosody's mod_bosh and (d) ejabberd's mod_bosh (when `ejabberdctl` is on PATH): T sessions.
 * Senders (plain XMPP over TCP to the server's c2s port, the same for every system) send messages
 * to each user's BARE JID at `--rate` per second in total; every tab must show every message
 * exactly once (the servers deliver to every resource of equal priority; in (a) the CM fans out).
 *
 * In two layouts: plain HTTP/1.1 on loopback, and HTTPS as browsers do it (the CM: all tabs of a
 * user on ONE HTTP/2 connection; mod_bosh and ejabberd: HTTPS/1.1), with the harness's test
 * certificate everywhere. Servers run on core 0, this process and its generator
 * (bench/tabs-loadgen.ts) on core 1; systems alternate within a round.
 *
 *   npm run bench:tabs                       U=100, T=8, 100 msg/s, both layouts, 2 rounds
 *   npm run bench:tabs -- --smoke            a functional check in well under a minute, nothing written
 *   npm run bench:tabs -- --tabs 16          (or 2) more or fewer tabs: bench/results/tabs-t16.json and its own block
 *
 * Flags: --users U, --tabs T, --rate R, --rounds N, --systems shared,unshared,mod_bosh,ejabberd,
 * --layouts http1,https, --window-s S, --no-write, --write, --max-minutes N, --cpu-prof (profiles of
 * the CM's joins and stream window in bench/profiles/, nothing written). Only the default
 * shape (U=100, R=100, both layouts, every system; any T) replaces its results file and docs
 * block, unless --write.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCertificate } from '../test/support/certs.js';
import { ejabberdInstall, ejabberdVersion } from './ejabberd-bench.js';
import { prosodyVersion, BENCH_PASSWORD } from './prosody-bench.js';
import { machineInfo, openFilesLimit, rssKiB } from './proc.js';
import { fmt } from './results.js';
import { ejabberds, killChildren, log, placeOrchestrator, prosodies, sleep } from './children.js';
import { LoadGen } from './load-generator.js';
import { cmLoadable, cmNodeFlagsChanged } from './server-processes.js';
import { disturbances, measure, quietGate } from './quiet-gate.js';
import { withServers, type Servers, type TlsFiles } from './servers.js';
import { RESULTS_DIR, writeDocs } from './report.js';
import { renderTabs, tabsBlockKey, tabsFigures, tabsSummaryText } from './tabs-report.js';
import { writeGenerated } from './generated.js';
import {
  TABS_LAYOUTS, TABS_RESULTS_FORMAT, TABS_SYSTEMS, TABS_SYSTEM_TITLE, type Parts, type TabsLayout, type TabsOpen, type TabsParams, type TabsRun,
  type TabsStored, type TabsStream, type TabsSystem,
} from './tabs-results.js';

export function parseTabsParams(argv: string[]): TabsParams {
  const valued = ['--users', '--tabs', '--rate', '--rounds', '--systems', '--layouts', '--window-s', '--max-minutes'];
  const flags = ['--smoke', '--no-write', '--write', '--cpu-prof'];
  for (let i = 0; i < argv.length; i++) {
    if (valued.includes(argv[i]!)) i++;
    else if (!flags.includes(argv[i]!)) throw new Error(`unknown argument ${argv[i]} (known: ${[...valued, ...flags].join(' ')})`);
  }
  const val = (f: string): string | undefined => {
    const i = argv.indexOf(f);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const smoke = argv.includes('--smoke');
  const p: TabsParams = {
    mode: smoke ? 'smoke' : 'default',
    users: smoke ? 5 : 100,
    tabs: smoke ? 3 : 8,
    rate: smoke ? 20 : 100,
    senders: smoke ? 2 : 10,
    rounds: smoke ? 1 : 2,
    systems: TABS_SYSTEMS.filter((s) => s !== 'ejabberd' || ejabberdInstall() !== undefined),
    layouts: [...TABS_LAYOUTS],
    firstConcurrency: 8,
    joinConcurrency: 1,
    settleMs: smoke ? 300 : 2000,
    warmupMs: smoke ? 300 : 2000,
    windowMs: smoke ? 1500 : 10_000,
    drainMs: smoke ? 2000 : 3000,
    quietProbeMs: smoke ? 300 : 1000,
    quietWaitMs: smoke ? 0 : 60_000,
    quietBudgetMs: smoke ? 0 : 3 * 60_000,
    retries: smoke ? 0 : 1,
    cpuProf: false,
    cmLogLevel: 'info',
    prosodyGc: 'default',
    write: !smoke,
    maxMinutes: smoke ? 3 : 30,
    argv,
  };
  const num = (f: string, min: number): number | undefined => {
    const v = val(f);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`${f}: a number >= ${min}`);
    return n;
  };
  const shape = { users: p.users, rate: p.rate };
  p.users = num('--users', 1) ?? p.users;
  p.tabs = num('--tabs', 2) ?? p.tabs;
  p.rate = num('--rate', 1) ?? p.rate;
  p.rounds = num('--rounds', 1) ?? p.rounds;
  p.maxMinutes = num('--max-minutes', 1) ?? p.maxMinutes;
  if (val('--window-s') !== undefined) p.windowMs = num('--window-s', 1)! * 1000;
  p.senders = Math.min(p.senders, p.users);
  const list = <X extends string>(f: string, known: readonly X[]): X[] | undefined => {
    const v = val(f);
    if (v === undefined) return undefined;
    const asked = v.split(',').filter((x) => x !== '');
    const bad = asked.filter((x) => !(known as readonly string[]).includes(x));
    if (bad.length > 0) throw new Error(`${f}: unknown ${bad.join(',')} (known: ${known.join(',')})`);
    return known.filter((x) => asked.includes(x));
  };
  const systems = list('--systems', TABS_SYSTEMS);
  if (systems?.includes('ejabberd') && !ejabberdInstall()) throw new Error('--systems ejabberd: ejabberd is not installed (no `ejabberdctl` on PATH)');
  p.systems = systems ?? p.systems;
  p.layouts = list('--layouts', TABS_LAYOUTS) ?? p.layouts;
  // Any T is written (T = 8 to bench/results/tabs.json, others to tabs-t<T>.json), other shapes only with --write.
  const defaultShape = p.users === shape.users && p.rate === shape.rate
    && p.layouts.length === TABS_LAYOUTS.length && p.systems.length === TABS_SYSTEMS.filter((s) => s !== 'ejabberd' || ejabberdInstall()).length;
  if (!defaultShape) p.write = false;
  if (argv.includes('--write')) p.write = true;
  p.cpuProf = argv.includes('--cpu-prof');
  if (argv.includes('--no-write') || p.cpuProf || cmNodeFlagsChanged()) p.write = false;
  return p;
}

const SERVER_SYSTEM: Record<TabsSystem, 'cm' | 'mod_bosh' | 'ejabberd'> = { shared: 'cm', unshared: 'cm', mod_bosh: 'mod_bosh', ejabberd: 'ejabberd' };

const range = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** CPU ms of the CM and the XMPP server in a window, per item. */
function perItem(s: Servers, cpu: Record<number, number>, n: number): Parts {
  const at = (pid: number): number => (pid > 0 ? (cpu[pid] ?? Number.NaN) / Math.max(1, n) : Number.NaN);
  const cm = at(s.cmPid);
  const server = at(s.xmpp.pid);
  return { cm, server, total: (Number.isFinite(cm) ? cm : 0) + server };
}

async function runTabs(system: TabsSystem, layout: TabsLayout, round: number, p: TabsParams, lg: LoadGen, workDir: string,
  cores: { server: number; client: number }, tls: TlsFiles): Promise<TabsRun> {
  log(`round ${round}, ${layout}: ${TABS_SYSTEM_TITLE[system]}`);
  const users = range('tab', p.users);
  const senderUsers = range('tsend', p.senders);
  const warmUsers = range('twarm', 2);
  const errors: string[] = [];
  const shared = system === 'shared';
  return withServers(SERVER_SYSTEM[system], `tabs-${system}-${layout}-round${round}`, p, lg, workDir, cores, [...warmUsers, ...users, ...senderUsers], async (s) => {
    const common = { target: s.target, domain: s.xmpp.domain, password: BENCH_PASSWORD, cpuPids: s.pids };
    await s.gc();
    const idleKiB = { cm: s.cm ? rssKiB(s.cm.pid) : Number.NaN, server: rssKiB(s.xmpp.pid) };
    // Warm-up (JIT, pools, the server's module caches): two users' tabs, logged in and closed.
    const warmEntries = warmUsers.flatMap((user) => [0, 1].map((tab) => ({ user, tab })));
    const warm = await lg.call<TabsOpen>({ cmd: 'open', group: 'warm', entries: warmEntries, concurrency: 1, presence: true, shared, ...common });
    if (warm.failed > 0) errors.push(`warm-up: ${warm.failed} logins failed: ${warm.errors.join(' | ')}`);
    await lg.call({ cmd: 'close-group', group: 'warm', concurrency: 4 });
    const snd = await lg.call<{ opened: number; errors: string[] }>({ cmd: 'senders', users: senderUsers, host: '127.0.0.1', port: s.xmpp.c2sPort, domain: s.xmpp.domain, password: BENCH_PASSWORD });
    if (snd.opened < senderUsers.length) errors.push(`senders: ${senderUsers.length - snd.opened} logins failed: ${snd.errors.join(' | ')}`);
    await sleep(500);
    await s.gc();
    const rssBeforeKiB = s.rss();
    const memBefore = await s.cm?.memory();
    const ours = [...s.pids, lg.pid, process.pid];

    await quietGate(p, ours, 'the logins');
    const firstArgs = { cmd: 'open', group: 'tabs', entries: users.map((user) => ({ user, tab: 0 })), concurrency: p.firstConcurrency, presence: true, shared, ...common };
    const firstRaw = await lg.call<TabsOpen>(firstArgs);
    if (firstRaw.failed > 0) errors.push(`first tabs: ${firstRaw.failed} logins failed: ${firstRaw.errors.join(' | ')}`);
    const first = { ...firstRaw, cpuMsPer: perItem(s, firstRaw.cpuMs, firstRaw.opened) };
    // Tabs 2..T, one user after another per tab index (a user opening one more tab at a time).
    const joinEntries = Array.from({ length: p.tabs - 1 }, (_, t) => users.map((user) => ({ user, tab: t + 1 }))).flat();
    const doJoin = (): Promise<TabsOpen> => lg.call<TabsOpen>({ cmd: 'open', group: 'tabs', entries: joinEntries, concurrency: p.joinConcurrency, presence: !shared, shared, ...common });
    const joinRaw = s.cm ? await s.cm.profile('join', doJoin) : await doJoin();
    if (joinRaw.failed > 0) errors.push(`joining tabs: ${joinRaw.failed} failed: ${joinRaw.errors.join(' | ')}`);
    const join = { ...joinRaw, cpuMsPer: perItem(s, joinRaw.cpuMs, joinRaw.opened) };
    if (shared && (first.sharedResults.join() !== 'created' || join.sharedResults.join() !== 'attached')) {
      errors.push(`shared:result of first tabs ${first.sharedResults.join('/')}, of joining tabs ${join.sharedResults.join('/')} (expected created, attached)`);
    }
    await sleep(p.settleMs);
    await s.gc();
    const rssAfterKiB = s.rss();
    const memAfter = await s.cm?.memory();
    const cmYoungGenKiB = memBefore && memAfter ? (memAfter.youngGenBytes - memBefore.youngGenBytes) / 1024 : Number.NaN;
    const perUser = (k: 'cm' | 'server'): number => (rssAfterKiB[k === 'cm' ? 'cm' : 'prosody'] - rssBeforeKiB[k === 'cm' ? 'cm' : 'prosody']) / p.users;
    const cmRaw = perUser('cm');
    const cmPerUser = cmRaw - (Number.isFinite(cmYoungGenKiB) ? cmYoungGenKiB / p.users : 0);
    const serverPerUser = perUser('server');
    const perUserKiB = { cm: cmPerUser, cmRaw, server: serverPerUser, total: (s.cm ? cmPerUser : 0) + serverPerUser };
    const xmppSessions = await s.sessionsOf('tab');

    const doStream = (): Promise<Omit<TabsStream, 'attempts'>> => lg.call<Omit<TabsStream, 'attempts'>>({
      cmd: 'stream', rate: p.rate, warmupMs: p.warmupMs, durationMs: p.windowMs, drainMs: p.drainMs, domain: s.xmpp.domain, cpuPids: s.pids, countTarget: s.target,
    });
    const streamRaw = await measure(p, ours, `${p.rate} msg/s to ${p.users} users x ${p.tabs} tabs`, p.windowMs, () => (s.cm ? s.cm.profile('stream', doStream) : doStream()));
    const copies = streamRaw.sentInWindow * p.tabs;
    const stream = {
      ...streamRaw,
      cpuMsPerInbound: perItem(s, streamRaw.cpuMs, streamRaw.sentInWindow),
      cpuUsPerCopy: ((x: Parts): Parts => ({ cm: x.cm * 1000, server: x.server * 1000, total: x.total * 1000 }))(perItem(s, streamRaw.cpuMs, copies)),
    };
    const missing = stream.missingPerTab.reduce((a, b) => a + b, 0);
    const dups = stream.duplicatesPerTab.reduce((a, b) => a + b, 0);
    if (missing + dups + stream.misrouted > 0 || stream.sessionsLost > 0) {
      errors.push(`delivery: ${missing} missing (per tab ${stream.missingPerTab.join(',')}), ${dups} duplicates (per tab ${stream.duplicatesPerTab.join(',')}), `
        + `${stream.misrouted} to the wrong user, ${stream.sessionsLost} sessions lost`);
    }
    const cm = s.cm ? 'CM ' : '';
    log(`  logins: first tab ${first.opened}/${p.users} CPU ${s.cm ? `CM ${fmt(first.cpuMsPer.cm, 2)} + ` : ''}server ${fmt(first.cpuMsPer.server, 2)} ms, p50 ${fmt(first.setupMs.p50, 2)} ms; `
      + `tabs 2..${p.tabs} ${join.opened}/${joinEntries.length} (${join.sharedResults.join('/')}) CPU ${s.cm ? `CM ${fmt(join.cpuMsPer.cm, 2)} + ` : ''}server ${fmt(join.cpuMsPer.server, 2)} ms, `
      + `p50 ${fmt(join.setupMs.p50, 2)} ms, p99 ${fmt(join.setupMs.p99, 2)} ms${disturbances({ windowS: join.elapsedMs / 1000, otherCpuMs: join.otherCpuMs, tcp: join.tcp })}`);
    log(`  HTTP connections opened: ${first.connections} by the first tabs, ${join.connections} by tabs 2..${p.tabs}`);
    log(`  RSS per user: ${s.cm ? `CM ${fmt(perUserKiB.cm)} KiB (raw ${fmt(perUserKiB.cmRaw)}, CM idle ${fmt(idleKiB.cm / 1024)} MiB) + ` : ''}server ${fmt(perUserKiB.server)} KiB; `
      + `sessions in the XMPP server ${xmppSessions}${memAfter ? `, CM ${memAfter.stats.sessions} sessions / ${memAfter.stats.links} links` : ''}`);
    log(`  ${p.rate} msg/s: ${stream.deliveredToAll}/${stream.sentInWindow} to all ${p.tabs} tabs, last tab p50 ${fmt(stream.lastTabMs.p50, 2)} ms p99 ${fmt(stream.lastTabMs.p99, 2)} ms, `
      + `CPU/inbound msg ${s.cm ? `${cm}${fmt(stream.cpuMsPerInbound.cm, 3)} + ` : ''}server ${fmt(stream.cpuMsPerInbound.server, 3)} ms, `
      + `missing ${missing}, duplicates ${dups}${disturbances(stream)}`);
    await lg.call({ cmd: 'close', concurrency: 20 });
    return {
      system, layout, round,
      pids: { cm: s.cm?.pid, server: s.xmpp.pid, loadgen: lg.pid },
      affinity: { cm: s.affinity.cm, server: s.affinity.prosody, loadgen: s.affinity.loadgen },
      idleKiB, rssBeforeKiB: { cm: rssBeforeKiB.cm, server: rssBeforeKiB.prosody }, rssAfterKiB: { cm: rssAfterKiB.cm, server: rssAfterKiB.prosody },
      cmYoungGenKiB, perUserKiB, first, join, xmppSessions, cmStats: memAfter?.stats, stream, errors,
    };
  }, false, { tls: layout === 'https' ? tls : undefined, c2s: true });
}

async function main(): Promise<void> {
  const p = parseTabsParams(process.argv.slice(2));
  const { cpuCount, cores, notes } = placeOrchestrator();
  const check = cmLoadable();
  if (!check.ok) throw new Error(`the CM cannot be loaded from dist/src/cm.js: ${check.why}`);
  if (!p.systems.includes('ejabberd')) notes.push(ejabberdInstall() ? 'ejabberd is installed but not selected: (d) is skipped' : 'ejabberd is not installed (no `ejabberdctl` on PATH): (d) is skipped');
  const machine = machineInfo(await prosodyVersion(), cpuCount, p.systems.includes('ejabberd') ? ejabberdVersion() : undefined);
  log(`tabs bench (${p.mode}): ${p.users} users x ${p.tabs} tabs, ${p.rate} msg/s to bare JIDs, ${p.rounds} round(s), layouts ${p.layouts.join(', ')}, systems ${p.systems.join(', ')}`);
  const workDir = mkdtempSync(join(tmpdir(), 'shared-bosh-tabs-'));
  const cert = await createTestCertificate(['localhost']);
  const tls: TlsFiles = { certFile: join(workDir, 'cert.pem'), keyFile: join(workDir, 'key.pem'), bothFile: join(workDir, 'cert-and-key.pem') };
  writeFileSync(tls.certFile, cert.cert);
  writeFileSync(tls.keyFile, cert.key, { mode: 0o600 });
  writeFileSync(tls.bothFile, cert.cert + cert.key, { mode: 0o600 });
  const stopAll = (): void => {
    killChildren();
    for (const pr of prosodies) void pr.stop(1000);
    for (const ej of ejabberds) void ej.stop(1000);
  };
  const deadline = setTimeout(() => {
    log(`time limit of ${p.maxMinutes} min reached: stopping`);
    stopAll();
    setTimeout(() => process.exit(3), 2500).unref();
  }, p.maxMinutes * 60_000);
  deadline.unref();
  const onSignal = (): void => {
    stopAll();
    setTimeout(() => process.exit(130), 2500).unref();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const t0 = Date.now();
  const lg = await LoadGen.start(cores.client, Math.max(1000, openFilesLimit() - 500), 'tabs-loadgen.js');
  const runs: TabsRun[] = [];
  try {
    for (let round = 1; round <= p.rounds; round++) {
      for (const layout of p.layouts) {
        for (const system of p.systems) runs.push(await runTabs(system, layout, round, p, lg, workDir, cores, tls));
      }
    }
  } finally {
    await lg.call({ cmd: 'exit' }).catch(() => undefined);
  }
  for (const r of runs) for (const e of r.errors) notes.push(`round ${r.round} ${r.layout} ${r.system}: ${e}`);

  notes.push(`affinity: servers on CPU ${runs[0]?.affinity.server ?? '?'}, load generator on CPU ${runs[0]?.affinity.loadgen ?? '?'}`);
  notes.push(`the whole run took ${fmt((Date.now() - t0) / 60_000)} min`);
  const stored: TabsStored = { scenario: 'tabs', format: TABS_RESULTS_FORMAT, machine, params: p, runs, notes, figures: tabsFigures({ runs, params: p }) };
  process.stdout.write(tabsSummaryText(stored));
  if (p.write) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const key = tabsBlockKey(p.tabs);
    const file = join(RESULTS_DIR, `${key}.json`);
    writeFileSync(file, `${JSON.stringify(stored, null, 1)}\n`);
    writeDocs(renderTabs(stored), key);
    writeGenerated(); // the headline and the charts read every stored result, this one included
    log(`wrote ${file}, the "${key}" block of docs/performance.md, its headline and charts`);
    rmSync(workDir, { recursive: true, force: true });
  } else {
    const out = join(workDir, 'tabs.json');
    writeFileSync(out, JSON.stringify(stored, null, 1));
    log(`docs not written (${p.mode === 'smoke' ? 'smoke run' : 'not the default shape, or --no-write'}); JSON in ${out}`);
  }
  clearTimeout(deadline);
  log('done');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`tabs bench failed: ${(err as Error).stack ?? String(err)}\n`);
    killChildren();
    Promise.all([...[...prosodies].map((pr) => pr.stop(1000)), ...[...ejabberds].map((ej) => ej.stop(1000))]).finally(() => process.exit(1));
  },
);
