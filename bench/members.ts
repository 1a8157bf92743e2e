/**
 * `node dist/bench/members.js`: many idle Shared BOSH members in one CM process (issue 15, §3).
 *
 * L links of M members each (default 5,000 x 10 = 50,000 members) over HTTPS + HTTP/2, as a
 * browser's tabs reach the CM: the first member of each link logs in with a `shared:key` (one
 * upstream c2s session in Prosody per link), the other M-1 attach with the same key and hold no
 * upstream socket of their own. Every member then sends a XEP-0199 ping to the server through its
 * link and must get the answer itself (the CM routes an IQ result to the member that asked, D12;
 * the generator counts an answer delivered to another member as a failure). Reported: RSS per
 * member of the CM (V8's young generation taken out, as bench/run.ts does for idle sessions, and
 * raw), V8 heap per member, Prosody's RSS per link, set-up times and CPU, the ping result, and how
 * long the run took.
 *
 *   node dist/bench/members.js                 5,000 links x 10 members (about 5 minutes)
 *   node dist/bench/members.js --smoke         20 links x 3 members, nothing written
 *   flags: --links N --members M --max-minutes N --no-write --write; --http1 (plain HTTP/1.1);
 *   --members 1: plain sessions without a shared key (idle sessions as bench/run.ts sets them up)
 *
 * Servers on core 0, the generator and this script on core 1, everything on 127.0.0.1, every
 * process started here stopped by PID; a hard time limit (--max-minutes, default 20) stops the
 * run. Results go to bench/results/members.json and the `members` block of docs/performance.md
 * (only for the default counts, unless --write); bench/members-report.ts renders that block.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_PASSWORD, prosodyVersion, startBenchProsody } from './prosody-bench.js';
import { cpuMs, machineBusyMs, openFilesLimit, renice, rssKiB } from './proc.js';
import { NICE, killChildren, log, placeOrchestrator, prosodies, sleep, targetOf } from './children.js';
import { LoadGen } from './load-generator.js';
import { cmNodeFlagsChanged, startCm } from './server-processes.js';
import { RESULTS_DIR, writeDocs } from './report.js';
import { writeGenerated } from './generated.js';
import { MEMBERS_BLOCK, MEMBERS_FORMAT, renderMembers, type MembersRun } from './members-report.js';
import type { OpenResult, PingResult } from './types.js';

interface Args {
  links: number;
  members: number;
  /** Plain HTTP/1.1 (one connection per held request) instead of HTTPS + HTTP/2. */
  http1: boolean;
  maxMinutes: number;
  write: boolean;
  smoke: boolean;
}

function parseArgs(argv: string[]): Args {
  const known = ['--links', '--members', '--max-minutes', '--smoke', '--write', '--no-write', '--http1'];
  for (let i = 0; i < argv.length; i++) {
    if (!known.includes(argv[i]!)) throw new Error(`unknown argument ${argv[i]} (known: ${known.join(' ')})`);
    if (['--links', '--members', '--max-minutes'].includes(argv[i]!)) i++;
  }
  const val = (f: string): number | undefined => (argv.includes(f) ? Number(argv[argv.indexOf(f) + 1]) : undefined);
  const smoke = argv.includes('--smoke');
  const a: Args = { links: smoke ? 20 : 5000, members: smoke ? 3 : 10, http1: argv.includes('--http1'), maxMinutes: smoke ? 3 : 20, write: !smoke, smoke };
  if (val('--links') !== undefined) a.links = Math.max(1, val('--links')!);
  if (val('--members') !== undefined) a.members = Math.max(1, val('--members')!);
  if (val('--max-minutes') !== undefined) a.maxMinutes = val('--max-minutes')!;
  // Other counts than the documented ones are experiments: written only when asked.
  if (a.links !== 5000 || a.members !== 10 || a.http1 || cmNodeFlagsChanged() || argv.includes('--no-write')) a.write = false;
  if (argv.includes('--write')) a.write = true;
  return a;
}

/** Links set up at a time (as many as bench/run.ts has logins in flight): each a login, then its other members attach together. */
const LINKS_IN_FLIGHT = 50;

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const { cpuCount, cores } = placeOrchestrator();
  const fdLimit = openFilesLimit();
  // The CM needs one descriptor per link (upstream) plus its HTTP/2 connections; Prosody one per link.
  if (a.links + 600 > fdLimit) throw new Error(`${a.links} links need more than RLIMIT_NOFILE ${fdLimit} descriptors`);
  const deadline = setTimeout(() => {
    log(`time limit of ${a.maxMinutes} min reached: stopping`);
    killChildren();
    for (const pr of prosodies) void pr.stop(1000);
    setTimeout(() => process.exit(3), 2500).unref();
  }, a.maxMinutes * 60_000);
  deadline.unref();
  const total = a.links * a.members;
  log(`members: ${a.links} links x ${a.members} members = ${total} members over ${a.http1 ? 'HTTP/1.1' : 'HTTPS + HTTP/2'}${a.members === 1 ? ' (plain sessions, no shared key)' : ''}; servers on core ${cores.server}, generator on core ${cores.client}`);
  const workDir = mkdtempSync(join(tmpdir(), 'shared-bosh-members-'));
  const users = Array.from({ length: a.links }, (_, i) => `member${i}`);
  const warm = Array.from({ length: 20 }, (_, i) => `warm${i}`);
  const prosody = await startBenchProsody(cores.server);
  prosodies.add(prosody);
  if (NICE !== null) renice(prosody.pid, NICE);
  const lg = await LoadGen.start(cores.client, Math.max(1000, fdLimit - 500));
  let run: MembersRun | undefined;
  try {
    await prosody.addUsers([...warm, ...users]);
    const cm = await startCm(prosody.c2sPort, cores.server, false, 'info', 'members', workDir, !a.http1);
    try {
      const target = targetOf(cm.url);
      const common = { target, domain: prosody.domain, password: BENCH_PASSWORD, cpuPids: [cm.pid, prosody.pid] };
      // Warm-up: a few logins, attaches, pings and logouts (JIT, pools, Prosody's caches).
      const warmKey = randomBytes(24).toString('base64url');
      await lg.call<OpenResult>({ cmd: 'open', group: 'warm', users: warm.slice(0, 1), resourcePrefix: 'w', concurrency: 1, presence: true, sharedKey: warmKey, ...common });
      await lg.call<OpenResult>({ cmd: 'open', group: 'warm', users: Array(5).fill(warm[0]), resourcePrefix: 'wm', concurrency: 5, presence: false, sharedKey: warmKey, ...common });
      await lg.call<OpenResult>({ cmd: 'open', group: 'warm', users: warm.slice(1), resourcePrefix: 'w', concurrency: 10, presence: true, ...common });
      await lg.call<PingResult>({ cmd: 'ping', group: 'warm', domain: prosody.domain, concurrency: 20, timeoutMs: 10_000 });
      await lg.call({ cmd: 'close', group: 'warm', concurrency: 20 });
      await sleep(1000);
      await prosody.gc();
      await cm.gc();
      const rssBefore = { cm: rssKiB(cm.pid), prosody: rssKiB(prosody.pid) };
      const memBefore = await cm.memory();

      log(`  setting up ${a.links} links (${LINKS_IN_FLIGHT} at a time), each a login and ${a.members - 1} attaches`);
      const cpu0 = { cm: cpuMs(cm.pid), prosody: cpuMs(prosody.pid) };
      const busy0 = machineBusyMs();
      const setupStart = Date.now();
      let creatorsFailed = 0;
      let membersFailed = 0;
      let attached = 0;
      const errors: string[] = [];
      let next = 0;
      let lastReport = Date.now();
      const up: number[] = [];
      const worker = async (): Promise<void> => {
        for (let i = next++; i < a.links; i = next++) {
          // One member per link: plain sessions, as bench/run.ts sets up idle sessions.
          const key = a.members === 1 ? undefined : randomBytes(24).toString('base64url');
          up.push(i);
          // A group per link: the generator answers each `open` with its group's JIDs.
          const creator = await lg.call<OpenResult>({ cmd: 'open', group: `link${i}`, users: [users[i]!], resourcePrefix: `l${i}-`, concurrency: 1, presence: true, sharedKey: key, ...common });
          if (creator.failed > 0) {
            creatorsFailed++;
            if (errors.length < 5) errors.push(...creator.errors);
            continue;
          }
          if (a.members > 1) {
            const rest = await lg.call<OpenResult>({ cmd: 'open', group: `link${i}`, users: Array(a.members - 1).fill(users[i]), resourcePrefix: `l${i}-m`, concurrency: a.members - 1, presence: false, sharedKey: key, ...common });
            membersFailed += rest.failed;
            attached += rest.sharedResults.includes('attached') ? rest.opened : 0;
            if (rest.failed > 0 && errors.length < 5) errors.push(...rest.errors);
          }
          if (Date.now() - lastReport > 10_000) {
            lastReport = Date.now();
            log(`    ${i + 1}/${a.links} links`);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(LINKS_IN_FLIGHT, a.links) }, worker));
      const setupMs = Date.now() - setupStart;
      const setupCpu = { cm: cpuMs(cm.pid) - cpu0.cm, prosody: cpuMs(prosody.pid) - cpu0.prosody };
      const otherCpuMs = Math.max(0, machineBusyMs() - busy0 - setupCpu.cm - setupCpu.prosody);
      await sleep(2000);
      await prosody.gc();
      await cm.gc();
      const rssAfter = { cm: rssKiB(cm.pid), prosody: rssKiB(prosody.pid) };
      const memAfter = await cm.memory();
      const opened = memAfter.stats.sessions - memBefore.stats.sessions;
      const links = memAfter.stats.links - memBefore.stats.links;
      log(`  pinging every member (${LINKS_IN_FLIGHT} links at a time, each link's members together)`);
      const pingStart = Date.now();
      const ping = { sessions: 0, ok: 0, failed: 0, worstP99Ms: 0, p50s: [] as number[] };
      const pingLinks = [...up];
      const pinger = async (): Promise<void> => {
        for (let i = pingLinks.pop(); i !== undefined; i = pingLinks.pop()) {
          const r = await lg.call<PingResult>({ cmd: 'ping', group: `link${i}`, domain: prosody.domain, concurrency: a.members, timeoutMs: 60_000 });
          ping.sessions += r.sessions;
          ping.ok += r.ok;
          ping.failed += r.failed;
          if (r.ok > 0) {
            ping.worstP99Ms = Math.max(ping.worstP99Ms, r.latencyMs.p99);
            ping.p50s.push(r.latencyMs.p50);
          }
        }
      };
      await Promise.all(Array.from({ length: LINKS_IN_FLIGHT }, pinger));
      const pingMs = Date.now() - pingStart;
      ping.p50s.sort((x, y) => x - y);
      const perMember = (bytes: number): number => bytes / 1024 / Math.max(1, opened);
      const youngGen = perMember(memAfter.youngGenBytes - memBefore.youngGenBytes);
      const cmRaw = (rssAfter.cm - rssBefore.cm) / Math.max(1, opened);
      run = {
        format: MEMBERS_FORMAT,
        date: new Date().toISOString(),
        machine: { date: new Date().toISOString(), nproc: cpuCount, node: process.version, prosody: await prosodyVersion(), openFilesLimit: fdLimit },
        figures: {
          members: total,
          links,
          transport: a.http1 ? 'HTTP/1.1' : 'HTTP/2',
          held: opened,
          answered: ping.ok,
          failed: ping.failed + creatorsFailed + membersFailed,
          rssPerMemberKiB: cmRaw - youngGen,
        },
        params: { links: a.links, members: a.members, linksInFlight: LINKS_IN_FLIGHT, http1: a.http1 },
        sessions: opened,
        links,
        attached,
        creatorsFailed,
        membersFailed,
        errors,
        setupS: setupMs / 1000,
        setupCpuMs: setupCpu,
        setupOtherCpuShare: otherCpuMs / Math.max(1, setupMs),
        rssPerMemberKiB: { cm: cmRaw - youngGen, cmRaw, youngGen },
        heapPerMemberKiB: perMember(memAfter.memory.heapUsed - memBefore.memory.heapUsed),
        externalPerMemberKiB: perMember(memAfter.memory.external - memBefore.memory.external),
        prosodyRssPerLinkKiB: (rssAfter.prosody - rssBefore.prosody) / Math.max(1, links),
        rssKiB: { before: rssBefore, after: rssAfter },
        ping: { members: ping.sessions, ok: ping.ok, failed: ping.failed, medianLinkP50Ms: ping.p50s[Math.floor(ping.p50s.length / 2)] ?? Number.NaN, worstLinkP99Ms: ping.worstP99Ms, seconds: pingMs / 1000 },
        durationS: 0,
      };
      log(`  ${opened} members on ${links} links in ${run.setupS.toFixed(1)} s (${creatorsFailed} logins and ${membersFailed} attaches failed); `
        + `CM RSS/member ${run.rssPerMemberKiB.cm.toFixed(2)} KiB (raw ${cmRaw.toFixed(2)}, young generation ${youngGen.toFixed(2)}), V8 heap ${run.heapPerMemberKiB.toFixed(2)} KiB; `
        + `Prosody RSS/link ${run.prosodyRssPerLinkKiB.toFixed(1)} KiB; ping ${ping.ok} ok, ${ping.failed} failed in ${run.ping.seconds.toFixed(1)} s`);
      const closing = [...up];
      const closer = async (): Promise<void> => {
        for (let i = closing.pop(); i !== undefined; i = closing.pop()) await lg.call({ cmd: 'close', group: `link${i}`, concurrency: a.members });
      };
      await Promise.all(Array.from({ length: LINKS_IN_FLIGHT }, closer));
    } finally {
      await cm.stop();
    }
  } finally {
    await lg.call({ cmd: 'exit' }).catch(() => undefined);
    await prosody.stop();
    prosodies.delete(prosody);
    rmSync(workDir, { recursive: true, force: true });
  }
  run.durationS = (Date.now() - t0) / 1000;
  const block = renderMembers(run);
  process.stdout.write(`${block}\n`);
  if (a.write) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `${MEMBERS_BLOCK}.json`);
    writeFileSync(file, `${JSON.stringify(run, null, 1)}\n`);
    writeDocs(block, MEMBERS_BLOCK);
    const also = writeGenerated();
    log(`wrote ${file}, its block in docs/performance.md and ${also.join(', ')}`);
  } else {
    log('docs not written (other counts than 5,000 x 10, --smoke or --no-write)');
  }
  clearTimeout(deadline);
  log(`done in ${run.durationS.toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`members bench failed: ${(err as Error).stack ?? String(err)}\n`);
    killChildren();
    Promise.all([...prosodies].map((pr) => pr.stop(1000))).finally(() => process.exit(1));
  },
);
