/** The bench's command line: modes (--smoke, default, --full), rounds, steps, systems and limits. */
import { ejabberdInstall } from './ejabberd-bench.js';
import { nxbInstalled } from './nxb.js';
import { openFilesLimit } from './proc.js';
import { ALL_SYSTEMS, fmtInt, type Params, type System } from './results.js';
import type { Arrivals } from './types.js';
import { cmNodeFlagsChanged } from './server-processes.js';

export function parseParams(argv: string[]): Params {
  const has = (f: string): boolean => argv.includes(f);
  const val = (f: string): string | undefined => {
    const i = argv.indexOf(f);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const known = ['--idle-h2', '--smoke', '--full', '--rounds', '--idle', '--steps', '--ref-rate', '--cpu-prof', '--no-write', '--write', '--max-minutes', '--systems', '--cm-log-level', '--prosody-gc', '--arrivals', '--fine-loop-probe'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!known.includes(a)) throw new Error(`unknown argument ${a} (known: ${known.join(' ')})`);
    if (['--rounds', '--idle', '--steps', '--ref-rate', '--max-minutes', '--systems', '--cm-log-level', '--prosody-gc', '--arrivals'].includes(a)) i++;
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
  // Messages as independent users send them: Poisson arrivals (bench/types.ts Arrivals). Evenly
  // spaced messages hid the CM's tail: see "The load generator" in docs/performance.md.
  p.arrivals = 'poisson';
  if (val('--arrivals') !== undefined) {
    const asked = val('--arrivals')!.split(',');
    if (asked.length === 0 || asked.some((x) => x !== 'even' && x !== 'poisson')) throw new Error('--arrivals is even, poisson, or both (even,poisson) to compare them step by step');
    const list = asked as Arrivals[];
    if (list.length > 1) p.arrivalsCompared = list;
    if (list.length > 1 || list[0] !== p.arrivals) p.write = false;
    p.arrivals = list[0];
  }
  // The CM's event-loop probe at 1 ms instead of 20 (bench/child-ipc.ts): finer delays, but it
  // wakes the CM 1,000 times a second, which its CPU figures would then include.
  p.loopProbeMs = 20;
  if (has('--fine-loop-probe')) {
    p.loopProbeMs = 1;
    p.write = false;
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
  if (cmNodeFlagsChanged()) p.write = false;
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

/**
 * (a), (b) and (d) always; (c) when ejabberd is installed (`ejabberdctl` on PATH); (e) when
 * node-xmpp-bosh is (`npm run bench:install-nxb`). (d) `c2s` is no BOSH at all: the load generator
 * speaks XMPP over TCP straight to Prosody's c2s port, which is the floor for any connection
 * manager in front of that Prosody.
 */
export function defaultSystems(): System[] {
  return ALL_SYSTEMS.filter((x) => (x !== 'ejabberd' || ejabberdInstall()) && (x !== 'nxb' || nxbInstalled()));
}
