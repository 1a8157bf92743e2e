/**
 * The load generator: a child process (pinned to core 1 by bench/run.ts) that holds groups of
 * BOSH sessions and runs one measurement at a time on command over the IPC channel.
 *
 * Every message carries an id `m<seq>`; its send time is the moment the application hands it to
 * the session (before any queueing in the client), and its receipt time the moment the response
 * that carries it has been read completely. Both clocks are this process's `performance.now()`.
 *
 * CPU of the measured server processes is read from /proc by this process at the start and end of
 * each measurement window, so the window is exactly the one the latencies come from.
 */
import http from 'node:http';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { BoshSession, httpCounters, post, type Target } from './bosh-client.js';
import { XmppSession } from './xmpp-client.js';
import { cpuMs, cpuSnapshot, cpuDelta, cpuSplitMs, machineBusyMs, percentile, schedCounters, schedDelta, sortedCopy, tcpCounters, tcpDelta, type SchedCounters, type TcpCounters } from './proc.js';
import type { Arrivals } from './types.js';
import { serveGeneratorCommands } from './generator-child.js';

const agent = new http.Agent({
  keepAlive: true,
  maxSockets: Number(process.env.BENCH_MAX_SOCKETS ?? 20_000),
  maxFreeSockets: 256,
  scheduling: 'lifo',
});

/** A BOSH session, or (transport 'xmpp') a direct XMPP connection to the server's c2s port. */
type LoadSession = BoshSession | XmppSession;

const groups = new Map<string, LoadSession[]>();

// The generator's own hiccups (its GC pauses and event-loop delay) add to every latency it
// measures; each window reports them so that they can be told apart from the server's.
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
let gcPauses: number[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push(e.duration);
}).observe({ entryTypes: ['gc'] });

interface SelfHiccups {
  /** Event-loop delay of the generator in the window, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  gcPauses: number;
  gcMaxMs: number;
  gcTotalMs: number;
}

function startHiccups(): void {
  loopDelay.reset();
  gcPauses = [];
}

function hiccups(): SelfHiccups {
  return {
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    loopDelayMaxMs: loopDelay.max / 1e6,
    gcPauses: gcPauses.length,
    gcMaxMs: gcPauses.length > 0 ? Math.max(...gcPauses) : 0,
    gcTotalMs: gcPauses.reduce((a, b) => a + b, 0),
  };
}
const lostReasons = new Map<string, number>();

// ---- message bookkeeping (one measurement at a time) ----
let sentAt = new Float64Array(0);
let copiesLeft = new Int32Array(0);
let inWindow = new Uint8Array(0);
let latencies: number[] = [];
let duplicates = 0;
let received = 0;
/** Ids of one measurement are `m<idBase + k>`; stragglers of an earlier one fall below idBase. */
let idBase = 0;
let late = 0;

function resetMessages(capacity: number): void {
  idBase += sentAt.length;
  late = 0;
  sentAt = new Float64Array(capacity);
  copiesLeft = new Int32Array(capacity);
  inWindow = new Uint8Array(capacity);
  latencies = [];
  duplicates = 0;
  received = 0;
}

const MESSAGE_ID = /<message\b[^>]*?\sid=(['"])m(\d+)\1/g;
const IQ_ID = /<iq\b[^>]*?\sid=(['"])p(\d+)\1[^>]*>/g;
/** Outstanding pings by number: the session that sent it, which alone may receive its answer. */
const pendingPings = new Map<number, { session: LoadSession; done: (ok: boolean) => void }>();

function onPayload(s: LoadSession, payload: string, now: number): void {
  if (payload.includes('<message')) {
    MESSAGE_ID.lastIndex = 0;
    for (let m = MESSAGE_ID.exec(payload); m; m = MESSAGE_ID.exec(payload)) {
      const n = Number(m[2]) - idBase;
      if (n < 0 || n >= copiesLeft.length) {
        late++;
        continue;
      }
      if (copiesLeft[n]! <= 0) {
        duplicates++;
        continue;
      }
      copiesLeft[n]!--;
      received++;
      if (inWindow[n] === 1) latencies.push(now - sentAt[n]!);
    }
  }
  if (pendingPings.size > 0 && payload.includes('<iq')) {
    IQ_ID.lastIndex = 0;
    for (let m = IQ_ID.exec(payload); m; m = IQ_ID.exec(payload)) {
      const n = Number(m[2]);
      const pending = pendingPings.get(n);
      if (pending) {
        pendingPings.delete(n);
        // An answer delivered to another session (a member of the same shared link) does not count.
        pending.done(pending.session === s && /type=['"]result['"]/.test(m[0]));
      }
    }
  }
}

function onLost(_s: LoadSession, reason: string): void {
  const key = reason.replace(/\d+ ms/, 'N ms').slice(0, 80);
  lostReasons.set(key, (lostReasons.get(key) ?? 0) + 1);
}

function lostCount(group: readonly LoadSession[]): number {
  let n = 0;
  for (const s of group) if (s.lost !== undefined) n++;
  return n;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

function summary(values: number[]): { n: number; p50: number; p90: number; p99: number; max: number; mean: number } {
  const s = sortedCopy(values);
  let sum = 0;
  for (const v of s) sum += v;
  return {
    n: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s.length > 0 ? s[s.length - 1]! : Number.NaN,
    mean: s.length > 0 ? sum / s.length : Number.NaN,
  };
}

function httpCount(t: Target): number {
  return httpCounters.get(`${t.host}:${t.port}`)?.requests ?? 0;
}

function connectCount(t: Target): number {
  return httpCounters.get(`${t.host}:${t.port}`)?.connects ?? 0;
}

// ---- commands ----

interface OpenArgs {
  group: string;
  target: Target;
  domain: string;
  users: string[];
  password: string;
  resourcePrefix: string;
  concurrency: number;
  presence: boolean;
  sharedKey?: string;
  cpuPids: number[];
  /** 'xmpp': plain XMPP over TCP to `target.host:target.port` (a c2s port), no BOSH. @default 'bosh' */
  transport?: 'bosh' | 'xmpp';
}

async function open(a: OpenArgs): Promise<unknown> {
  const group = groups.get(a.group) ?? [];
  groups.set(a.group, group);
  const errors: string[] = [];
  let failed = 0;
  const setup: number[] = [];
  const cpu0 = cpuSnapshot(a.cpuPids);
  const self0 = cpuMs(process.pid);
  const http0 = httpCount(a.target);
  const tcp0 = tcpCounters();
  const sys0 = systemSnapshot(a.cpuPids);
  const busy0 = machineBusyMs();
  const parent0 = cpuMs(process.ppid);
  const t0 = performance.now();
  let lastReport = t0;
  await pool(a.users, a.concurrency, async (user, i) => {
    const resource = `${a.resourcePrefix}${i}`;
    const s: LoadSession = a.transport === 'xmpp'
      ? new XmppSession({ host: a.target.host, port: a.target.port, domain: a.domain, user, password: a.password, resource, presence: a.presence, onPayload, onLost })
      : new BoshSession({ agent, target: a.target, domain: a.domain, user, password: a.password, resource, sharedKey: a.sharedKey, presence: a.presence, onPayload, onLost });
    const start = performance.now();
    try {
      await s.login();
      setup.push(performance.now() - start);
      group.push(s);
    } catch (err) {
      failed++;
      if (errors.length < 5) errors.push((err as Error).message.slice(0, 300));
      void s.close();
    }
    const now = performance.now();
    if (now - lastReport > 5000) {
      lastReport = now;
      process.stderr.write(`    [loadgen] ${a.group}: ${setup.length + failed}/${a.users.length} set up\n`);
    }
  });
  const elapsedMs = performance.now() - t0;
  const cpu = cpuDelta(cpu0, cpuSnapshot(a.cpuPids));
  const selfMs = cpuMs(process.pid) - self0;
  return {
    opened: setup.length,
    failed,
    errors,
    elapsedMs,
    cpuMs: cpu,
    loadgenCpuMs: selfMs,
    otherCpuMs: otherCpu(machineBusyMs() - busy0, cpu, selfMs, cpuMs(process.ppid) - parent0),
    tcp: tcpDelta(tcp0, tcpCounters()),
    systemCpuMs: cpuDelta(sys0, systemSnapshot(a.cpuPids)),
    httpRequests: httpCount(a.target) - http0,
    setupMs: summary(setup),
    jids: group.map((s) => s.jid),
    sharedResults: [...new Set(group.map((s) => s.sharedResult ?? 'none'))],
  };
}

let pingSeq = 0;

async function ping(a: { group: string; domain: string; concurrency: number; timeoutMs: number }): Promise<unknown> {
  const group = groups.get(a.group) ?? [];
  const tcp0 = tcpCounters();
  let ok = 0;
  let failed = 0;
  const lat: number[] = [];
  await pool(group, a.concurrency, async (s) => {
    if (s.lost !== undefined) {
      failed++;
      return;
    }
    const n = ++pingSeq;
    const start = performance.now();
    const result = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        pendingPings.delete(n);
        resolve(false);
      }, a.timeoutMs);
      pendingPings.set(n, {
        session: s,
        done: (good) => {
          clearTimeout(timer);
          resolve(good);
        },
      });
      s.send(`<iq type='get' id='p${n}' to='${a.domain}' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`);
    });
    if (result) {
      ok++;
      lat.push(performance.now() - start);
    } else {
      failed++;
    }
  });
  return { sessions: group.length, ok, failed, latencyMs: summary(lat), lost: lostCount(group), tcp: tcpDelta(tcp0, tcpCounters()) };
}

async function close(a: { group: string; concurrency: number }): Promise<unknown> {
  const group = groups.get(a.group) ?? [];
  groups.delete(a.group);
  await pool(group, a.concurrency, (s) => s.close());
  return { closed: group.length };
}

interface StreamArgs {
  /** Sessions that send; message k goes from senders[k % n]. */
  from: string;
  /** For a relay, receivers[i] is the peer of senders[i]; for a fan-out, every session of the group gets each message. */
  to: string;
  mode: 'relay' | 'fanout';
  /** Fan-out: the JID every message is addressed to. */
  toJid?: string;
  rate: number;
  warmupMs: number;
  durationMs: number;
  drainMs: number;
  cpuPids: number[];
  /** The CM (or server) whose HTTP requests are counted. */
  countTarget: Target;
  /** @default 'even' (see Arrivals in bench/types.ts) */
  arrivals?: Arrivals;
}

/** A small seeded PRNG (mulberry32), so that a Poisson schedule is the same in every run and system. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Due times, ms after the start, of a Poisson process with exactly rate × duration messages in the warm-up and in the window. */
function poissonSchedule(random: () => number, rate: number, warmupMs: number, durationMs: number, capacity: number): Float64Array {
  const part = (from: number, ms: number): number[] => Array.from({ length: Math.floor((rate * ms) / 1000) }, () => from + random() * ms).sort((x, y) => x - y);
  return Float64Array.from([...part(0, warmupMs), ...part(warmupMs, durationMs)].slice(0, capacity));
}

/** Scheduler counters of several processes at once, keyed by PID. */
function schedSnapshot(pids: readonly number[]): Record<number, SchedCounters> {
  const out: Record<number, SchedCounters> = {};
  for (const p of pids) out[p] = schedCounters(p);
  return out;
}

async function stream(a: StreamArgs): Promise<unknown> {
  const senders = groups.get(a.from) ?? [];
  const receivers = groups.get(a.to) ?? [];
  if (senders.length === 0 || receivers.length === 0) throw new Error(`empty group ${a.from} or ${a.to}`);
  const copies = a.mode === 'fanout' ? receivers.length : 1;
  const capacity = Math.ceil((a.rate * (a.warmupMs + a.durationMs)) / 1000) + 1000;
  resetMessages(capacity);
  const lostBefore = lostCount(senders) + lostCount(receivers);
  const bodyText = 'x'.repeat(40);
  const start = performance.now();
  const winStart = start + a.warmupMs;
  const winEnd = winStart + a.durationMs;
  let seq = 0;
  let inWin = 0;
  let maxLagMs = 0;
  let cpu0: Record<number, number> = {};
  let self0 = 0;
  let http0 = 0;
  let started = false;
  let cpu1: Record<number, number> = {};
  let self1 = 0;
  let http1 = 0;
  let conn0 = 0;
  let conn1 = 0;
  let busy0 = 0;
  let busy1 = 0;
  let parent0 = 0;
  let parent1 = 0;
  let tcp0: TcpCounters = tcpCounters();
  let tcp1: TcpCounters = tcp0;
  let sys0: Record<number, number> = {};
  let sys1: Record<number, number> = {};
  let sched0: Record<number, SchedCounters> = {};
  let sched1: Record<number, SchedCounters> = {};
  let self: SelfHiccups | undefined;
  const arrivals: Arrivals = a.arrivals ?? 'even';
  // 'poisson': due times (ms after start) drawn uniformly at random, as many as an even spacing
  // would send in the warm-up and in the window, each part sorted: a Poisson process given its
  // count, so that the offered rate in the window is exact. Each message comes from a sender drawn
  // at random: together, one Poisson process per sender.
  const random = prng(0x5eed + a.rate);
  const dueTimes = arrivals === 'poisson' ? poissonSchedule(random, a.rate, a.warmupMs, a.durationMs, capacity) : undefined;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (!started && now >= winStart) {
        started = true;
        cpu0 = cpuSnapshot(a.cpuPids);
        self0 = cpuMs(process.pid);
        http0 = httpCount(a.countTarget);
        conn0 = connectCount(a.countTarget);
        busy0 = machineBusyMs();
        parent0 = cpuMs(process.ppid);
        tcp0 = tcpCounters();
        sys0 = systemSnapshot(a.cpuPids);
        sched0 = schedSnapshot(a.cpuPids);
        startHiccups();
      }
      if (now >= winEnd) {
        cpu1 = cpuSnapshot(a.cpuPids);
        self1 = cpuMs(process.pid);
        http1 = httpCount(a.countTarget);
        conn1 = connectCount(a.countTarget);
        busy1 = machineBusyMs();
        parent1 = cpuMs(process.ppid);
        tcp1 = tcpCounters();
        sys1 = systemSnapshot(a.cpuPids);
        sched1 = schedSnapshot(a.cpuPids);
        self = hiccups();
        clearInterval(timer);
        resolve();
        return;
      }
      let due: number;
      if (dueTimes) {
        due = seq;
        while (due < dueTimes.length && dueTimes[due]! <= now - start) due++;
      } else {
        due = Math.min(capacity, Math.floor((a.rate * (now - start)) / 1000));
        if (due - seq > 1) maxLagMs = Math.max(maxLagMs, ((due - seq - 1) * 1000) / a.rate);
      }
      const win = now >= winStart ? 1 : 0;
      while (seq < due) {
        const k = seq++;
        const i = arrivals === 'poisson' ? Math.floor(random() * senders.length) : k % senders.length;
        const sender = senders[i]!;
        const to = a.mode === 'fanout' ? a.toJid! : receivers[i % receivers.length]!.jid;
        sentAt[k] = now;
        copiesLeft[k] = copies;
        inWindow[k] = win;
        if (win) inWin++;
        sender.send(`<message to='${to}' id='m${idBase + k}' type='chat' xmlns='jabber:client'><body>${bodyText} ${k}</body></message>`);
      }
    };
    const timer = setInterval(tick, 1);
  });
  // Drain: wait for what was sent in the window (and before) to arrive.
  const drainEnd = performance.now() + a.drainMs;
  const expected = (): number => {
    let missing = 0;
    for (let k = 0; k < seq; k++) if (inWindow[k] === 1) missing += copiesLeft[k]!;
    return missing;
  };
  while (performance.now() < drainEnd && expected() > 0) await sleep(50);
  const missing = expected();
  const windowS = (winEnd - winStart) / 1000;
  const lat = summary(latencies);
  return {
    mode: a.mode,
    rate: a.rate,
    senders: senders.length,
    receivers: receivers.length,
    copies,
    windowS,
    sentInWindow: inWin,
    offeredPerS: inWin / windowS,
    deliveredCopies: lat.n,
    deliveredPerS: lat.n / windowS,
    stanzasLost: missing,
    duplicates,
    lateFromEarlierRuns: late,
    sessionsLost: lostCount(senders) + lostCount(receivers) - lostBefore,
    latencyMs: lat,
    maxSendLagMs: maxLagMs,
    cpuMs: cpuDelta(cpu0, cpu1),
    loadgenCpuMs: self1 - self0,
    httpRequests: http1 - http0,
    newConnections: conn1 - conn0,
    otherCpuMs: otherCpu(busy1 - busy0, cpuDelta(cpu0, cpu1), self1 - self0, parent1 - parent0),
    tcp: tcpDelta(tcp0, tcp1),
    systemCpuMs: cpuDelta(sys0, sys1),
    loadgen: self,
    sched: schedDelta(sched0, sched1),
    arrivals,
  };
}

/** stime (kernel time) per PID, ms. */
function systemSnapshot(pids: readonly number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const p of pids) out[p] = cpuSplitMs(p).system;
  return out;
}

/** Machine CPU in the window that none of the measured processes, the generator or the orchestrator used. */
function otherCpu(machine: number, servers: Record<number, number>, self: number, parent: number): number {
  let ours = self + parent;
  for (const v of Object.values(servers)) ours += v;
  return Math.max(0, machine - ours);
}

interface HttpRateArgs {
  target: Target;
  rate: number;
  warmupMs: number;
  durationMs: number;
  concurrency: number;
  cpuPids: number[];
}

/** Open-loop POSTs at `rate` per second against a trivial server (the floor). */
async function httpRate(a: HttpRateArgs): Promise<unknown> {
  const bodies = [
    `<body rid='1000001' sid='0123456789abcdef0123456789abcdef' xmlns='http://jabber.org/protocol/httpbind'/>`,
    `<body rid='1000002' sid='0123456789abcdef0123456789abcdef' xmlns='http://jabber.org/protocol/httpbind'>`
      + `<message to='b17@localhost/r17' id='m12345' type='chat' xmlns='jabber:client'><body>${'x'.repeat(40)} 12345</body></message></body>`,
  ];
  const start = performance.now();
  const winStart = start + a.warmupMs;
  const winEnd = winStart + a.durationMs;
  let seq = 0;
  let inflight = 0;
  let skipped = 0;
  let failures = 0;
  let winCount = 0;
  const lat: number[] = [];
  let cpu0: Record<number, number> = {};
  let cpu1: Record<number, number> = {};
  let self0 = 0;
  let self1 = 0;
  let busy0 = 0;
  let busy1 = 0;
  let parent0 = 0;
  let parent1 = 0;
  let sys0: Record<number, number> = {};
  let sys1: Record<number, number> = {};
  let started = false;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (!started && now >= winStart) {
        started = true;
        cpu0 = cpuSnapshot(a.cpuPids);
        self0 = cpuMs(process.pid);
        busy0 = machineBusyMs();
        parent0 = cpuMs(process.ppid);
        sys0 = systemSnapshot(a.cpuPids);
      }
      if (now >= winEnd) {
        cpu1 = cpuSnapshot(a.cpuPids);
        self1 = cpuMs(process.pid);
        busy1 = machineBusyMs();
        parent1 = cpuMs(process.ppid);
        sys1 = systemSnapshot(a.cpuPids);
        clearInterval(timer);
        resolve();
        return;
      }
      const due = Math.floor((a.rate * (now - start)) / 1000);
      const win = now >= winStart;
      while (seq < due) {
        const k = seq++;
        if (inflight >= a.concurrency) {
          skipped++;
          continue;
        }
        inflight++;
        const t = performance.now();
        post(agent, a.target, bodies[k % 2]!, 10_000).then(
          (res) => {
            inflight--;
            if (res.status !== 200) failures++;
            else if (win) {
              winCount++;
              lat.push(performance.now() - t);
            }
          },
          () => {
            inflight--;
            failures++;
          },
        );
      }
    };
    const timer = setInterval(tick, 1);
  });
  while (inflight > 0) await sleep(20);
  const windowS = (winEnd - winStart) / 1000;
  return {
    rate: a.rate,
    windowS,
    requests: winCount,
    requestsPerS: winCount / windowS,
    skipped,
    failures,
    latencyMs: summary(lat),
    cpuMs: cpuDelta(cpu0, cpu1),
    loadgenCpuMs: self1 - self0,
    otherCpuMs: otherCpu(busy1 - busy0, cpuDelta(cpu0, cpu1), self1 - self0, parent1 - parent0),
    systemCpuMs: cpuDelta(sys0, sys1),
  };
}

function status(): unknown {
  const out: Record<string, { sessions: number; lost: number; online: number }> = {};
  for (const [name, g] of groups) {
    out[name] = { sessions: g.length, lost: lostCount(g), online: g.filter((s) => s.online).length };
  }
  return { groups: out, lostReasons: Object.fromEntries(lostReasons) };
}

type Command =
  | ({ cmd: 'open' } & OpenArgs)
  | { cmd: 'ping'; group: string; domain: string; concurrency: number; timeoutMs: number }
  | { cmd: 'close'; group: string; concurrency: number }
  | ({ cmd: 'stream' } & StreamArgs)
  | ({ cmd: 'http-rate' } & HttpRateArgs)
  | { cmd: 'status' }
  | { cmd: 'exit' };

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'open': return open(c);
    case 'ping': return ping(c);
    case 'close': return close(c);
    case 'stream': return stream(c);
    case 'http-rate': return httpRate(c);
    case 'status': return status();
    default: throw new Error(`unknown command ${(c as { cmd: string }).cmd}`);
  }
}

serveGeneratorCommands<Command>('loadgen.js', 'run.js', handle);
