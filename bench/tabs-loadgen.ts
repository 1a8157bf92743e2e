/**
 * The load generator of the tabs scenario (bench/tabs.ts): a child process pinned to the client
 * core that holds U users' T tabs (BOSH sessions, bench/bosh-client.ts) and a few senders (plain
 * XMPP over TCP to the server's c2s port, bench/xmpp-client.ts), and runs one command at a time
 * over the IPC channel of bench/load-generator.ts.
 *
 * - `open` logs tabs in: each entry names a user and a tab index. With `shared`, every tab of a
 *   user presents that user's own `shared:key` (the first creates the link, the others attach);
 *   over HTTP/2 all tabs of a user share one connection (one browser), over HTTP/1.1 they use the
 *   keep-alive agent (about one connection per tab, each holding its request).
 * - `stream` sends messages to the users' BARE JIDs at `rate` per second in total (message k to
 *   user k mod U, from sender k mod S) and records, per message and per tab, whether that tab got
 *   it and how often: each tab must show every message exactly once. The delivery to the LAST
 *   tab is the time from the send to the moment the last of the user's T tabs had it.
 *
 * Clocks are this process's performance.now(); CPU of the server processes is read from /proc at
 * the window's edges, as bench/loadgen.ts does.
 */
import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { BoshSession, httpCounters, type Target } from './bosh-client.js';
import { closeH2, h2Connects } from './h2-client.js';
import { XmppSession } from './xmpp-client.js';
import { cpuDelta, cpuMs, cpuSnapshot, machineBusyMs, percentile, sortedCopy, tcpCounters, tcpDelta } from './proc.js';
import type { LatencySummary } from './types.js';
import { serveGeneratorCommands } from './generator-child.js';

const agentOptions = { keepAlive: true, maxSockets: Number(process.env.BENCH_MAX_SOCKETS ?? 20_000), maxFreeSockets: 256, scheduling: 'lifo' as const };
const httpAgent = new http.Agent(agentOptions);
const httpsAgent = new https.Agent({ ...agentOptions, rejectUnauthorized: false });

type Session = BoshSession | XmppSession;

/** Tabs by user index, then tab index. */
let tabs: (BoshSession | undefined)[][] = [];
const userIndex = new Map<string, number>();
const sharedKeys = new Map<string, string>();
let senders: XmppSession[] = [];
const others = new Map<string, Session[]>();
const lostReasons = new Map<string, number>();

function onLost(_s: Session, reason: string): void {
  const key = reason.slice(0, 80);
  lostReasons.set(key, (lostReasons.get(key) ?? 0) + 1);
}

// ---- message bookkeeping (one stream at a time) ----
let T = 1;
let U = 1;
let sentAt = new Float64Array(0);
let inWindow = new Uint8Array(0);
/** Copies of message k that tab t got: received[k * T + t]. */
let received = new Uint8Array(0);
/** Tabs of its user that have message k. */
let tabsWith = new Int32Array(0);
let idBase = 0;
let lastTab: number[] = [];
let firstTab: number[] = [];
let late = 0;
let misrouted = 0;

const MESSAGE_ID = /<message\b[^>]*?\sid=(['"])t(\d+)\1/g;

function onTabPayload(u: number, t: number, payload: string, now: number): void {
  if (!payload.includes('<message')) return;
  MESSAGE_ID.lastIndex = 0;
  for (let m = MESSAGE_ID.exec(payload); m; m = MESSAGE_ID.exec(payload)) {
    const k = Number(m[2]) - idBase;
    if (k < 0 || k >= sentAt.length) {
      late++;
      continue;
    }
    if (k % U !== u) {
      misrouted++;
      continue;
    }
    const i = k * T + t;
    if (received[i]! < 255) received[i] = received[i]! + 1;
    if (received[i] !== 1) continue;
    const n = (tabsWith[k] = tabsWith[k]! + 1);
    if (inWindow[k] !== 1) continue;
    if (n === 1) firstTab.push(now - sentAt[k]!);
    if (n === T) lastTab.push(now - sentAt[k]!);
  }
}

function summary(values: number[]): LatencySummary {
  const s = sortedCopy(values);
  let sum = 0;
  for (const v of s) sum += v;
  return {
    n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99),
    max: s.length > 0 ? s[s.length - 1]! : Number.NaN, mean: s.length > 0 ? sum / s.length : Number.NaN,
  };
}

async function pool<X>(items: readonly X[], concurrency: number, fn: (item: X, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function httpCount(t: Target): number {
  return httpCounters.get(`${t.host}:${t.port}`)?.requests ?? 0;
}

/** Connections opened so far to the target: HTTP/1.1 (the agents) and HTTP/2. */
function connectionCount(t: Target): number {
  const key = `${t.host}:${t.port}`;
  return (httpCounters.get(key)?.connects ?? 0) + (h2Connects.get(key) ?? 0);
}

/** CPU of the measured servers, this process and the rest of the machine between two points. */
function cpuWindow(pids: number[]): () => { cpuMs: Record<number, number>; loadgenCpuMs: number; otherCpuMs: number } {
  const cpu0 = cpuSnapshot(pids);
  const self0 = cpuMs(process.pid);
  const parent0 = cpuMs(process.ppid);
  const busy0 = machineBusyMs();
  return () => {
    const cpu = cpuDelta(cpu0, cpuSnapshot(pids));
    const self = cpuMs(process.pid) - self0;
    let ours = self + (cpuMs(process.ppid) - parent0);
    for (const v of Object.values(cpu)) ours += v;
    return { cpuMs: cpu, loadgenCpuMs: self, otherCpuMs: Math.max(0, machineBusyMs() - busy0 - ours) };
  };
}

// ---- commands ----

interface OpenArgs {
  /** 'tabs': entries go into the users' tab slots; any other name is a plain group (warm-up). */
  group: string;
  entries: { user: string; tab: number }[];
  target: Target;
  domain: string;
  password: string;
  concurrency: number;
  presence: boolean;
  /** Shared BOSH: each user's tabs present that user's key. */
  shared: boolean;
  cpuPids: number[];
}

async function open(a: OpenArgs): Promise<unknown> {
  const errors: string[] = [];
  let failed = 0;
  const setup: number[] = [];
  const results = new Set<string>();
  const window = cpuWindow(a.cpuPids);
  const tcp0 = tcpCounters();
  const http0 = httpCount(a.target);
  const conn0 = connectionCount(a.target);
  const t0 = performance.now();
  await pool(a.entries, a.concurrency, async ({ user, tab }) => {
    let u = -1;
    if (a.group === 'tabs') {
      u = userIndex.get(user) ?? userIndex.size;
      if (!userIndex.has(user)) {
        userIndex.set(user, u);
        tabs[u] = [];
      }
    }
    let sharedKey: string | undefined;
    if (a.shared) {
      const groupUser = `${a.group}/${user}`;
      sharedKey = sharedKeys.get(groupUser) ?? randomBytes(32).toString('base64url');
      sharedKeys.set(groupUser, sharedKey);
    }
    const target: Target = a.target.h2 ? { ...a.target, h2Key: `${a.group}/${user}` } : a.target;
    const s = new BoshSession({
      agent: a.target.tls ? httpsAgent : httpAgent, target, domain: a.domain, user, password: a.password, resource: `t${tab}`,
      sharedKey, presence: a.presence, onLost,
      onPayload: u >= 0 ? (_s, payload, now) => onTabPayload(u, tab, payload, now) : undefined,
    });
    const start = performance.now();
    try {
      await s.login();
      setup.push(performance.now() - start);
      results.add(s.sharedResult ?? 'none');
      if (u >= 0) tabs[u]![tab] = s;
      else others.set(a.group, [...(others.get(a.group) ?? []), s]);
    } catch (err) {
      failed++;
      if (errors.length < 5) errors.push((err as Error).message.slice(0, 300));
      void s.close();
    }
  });
  const elapsedMs = performance.now() - t0;
  return {
    opened: setup.length, failed, errors, elapsedMs, ...window(), tcp: tcpDelta(tcp0, tcpCounters()),
    httpRequests: httpCount(a.target) - http0, connections: connectionCount(a.target) - conn0, setupMs: summary(setup), sharedResults: [...results],
  };
}

async function openSenders(a: { users: string[]; host: string; port: number; domain: string; password: string }): Promise<unknown> {
  const errors: string[] = [];
  await pool(a.users, 8, async (user, i) => {
    const s = new XmppSession({ host: a.host, port: a.port, domain: a.domain, user, password: a.password, resource: `s${i}`, onLost });
    try {
      await s.login();
      senders.push(s);
    } catch (err) {
      errors.push((err as Error).message.slice(0, 300));
      void s.close();
    }
  });
  return { opened: senders.length, errors };
}

interface StreamArgs {
  rate: number;
  warmupMs: number;
  durationMs: number;
  drainMs: number;
  domain: string;
  cpuPids: number[];
  countTarget: Target;
}

async function stream(a: StreamArgs): Promise<unknown> {
  U = tabs.length;
  T = Math.max(0, ...tabs.map((x) => x.length));
  if (U === 0 || T === 0 || senders.length === 0) throw new Error('no tabs or no senders');
  const users = [...userIndex.entries()].sort((x, y) => x[1] - y[1]).map(([user]) => user);
  const capacity = Math.ceil((a.rate * (a.warmupMs + a.durationMs)) / 1000) + 100;
  idBase += sentAt.length;
  sentAt = new Float64Array(capacity);
  inWindow = new Uint8Array(capacity);
  received = new Uint8Array(capacity * T);
  tabsWith = new Int32Array(capacity);
  lastTab = [];
  firstTab = [];
  late = 0;
  misrouted = 0;
  const lostBefore = lostCount();
  const start = performance.now();
  const winStart = start + a.warmupMs;
  const winEnd = winStart + a.durationMs;
  let seq = 0;
  let inWin = 0;
  let firstInWin = -1;
  let window: (() => ReturnType<ReturnType<typeof cpuWindow>>) | undefined;
  let measured: ReturnType<ReturnType<typeof cpuWindow>> | undefined;
  let http0 = 0;
  let http1 = 0;
  let tcp0 = tcpCounters();
  let tcp1 = tcp0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (window === undefined && now >= winStart) {
        window = cpuWindow(a.cpuPids);
        http0 = httpCount(a.countTarget);
        tcp0 = tcpCounters();
      }
      if (now >= winEnd) {
        measured = window!();
        http1 = httpCount(a.countTarget);
        tcp1 = tcpCounters();
        clearInterval(timer);
        resolve();
        return;
      }
      const due = Math.min(capacity, Math.floor((a.rate * (now - start)) / 1000));
      const win = now >= winStart ? 1 : 0;
      while (seq < due) {
        const k = seq++;
        sentAt[k] = now;
        inWindow[k] = win;
        if (win) {
          inWin++;
          if (firstInWin < 0) firstInWin = k;
        }
        senders[k % senders.length]!.send(`<message to='${users[k % U]}@${a.domain}' id='t${idBase + k}' type='chat'><body>tab ${k}</body></message>`);
      }
    }, 1);
  });
  // Drain: until every tab has every message sent (warm-up included), or the time is up.
  const drainEnd = performance.now() + a.drainMs;
  const complete = (): boolean => {
    for (let k = 0; k < seq; k++) if (tabsWith[k]! < T) return false;
    return true;
  };
  while (performance.now() < drainEnd && !complete()) await sleep(50);
  // Per tab index: messages of the window it never got, and copies beyond the first.
  const missingPerTab = new Array<number>(T).fill(0);
  const duplicatesPerTab = new Array<number>(T).fill(0);
  for (let k = 0; k < seq; k++) {
    if (inWindow[k] !== 1) continue;
    const u = k % U;
    for (let t = 0; t < T; t++) {
      if (tabs[u]![t] === undefined) continue;
      const n = received[k * T + t]!;
      if (n === 0) missingPerTab[t] = missingPerTab[t]! + 1;
      else if (n > 1) duplicatesPerTab[t] = duplicatesPerTab[t]! + n - 1;
    }
  }
  const windowS = (winEnd - winStart) / 1000;
  return {
    rate: a.rate, users: U, tabs: T, senders: senders.length, windowS, sentInWindow: inWin, offeredPerS: inWin / windowS,
    deliveredToAll: lastTab.length, lastTabMs: summary(lastTab), firstTabMs: summary(firstTab),
    missingPerTab, duplicatesPerTab, misrouted, late, sessionsLost: lostCount() - lostBefore,
    ...measured!, httpRequests: http1 - http0, tcp: tcpDelta(tcp0, tcp1),
  };
}

function lostCount(): number {
  let n = 0;
  for (const row of tabs) for (const s of row) if (s?.lost !== undefined) n++;
  for (const s of senders) if (s.lost !== undefined) n++;
  return n;
}

async function closeAll(a: { concurrency: number }): Promise<unknown> {
  const all: Session[] = [...tabs.flat().filter((s): s is BoshSession => s !== undefined), ...senders, ...[...others.values()].flat()];
  tabs = [];
  userIndex.clear();
  sharedKeys.clear();
  senders = [];
  others.clear();
  await pool(all, a.concurrency, (s) => s.close());
  closeH2();
  return { closed: all.length };
}

async function closeGroup(a: { group: string; concurrency: number }): Promise<unknown> {
  const group = others.get(a.group) ?? [];
  others.delete(a.group);
  await pool(group, a.concurrency, (s) => s.close());
  return { closed: group.length };
}

function status(): unknown {
  const online = tabs.flat().filter((s) => s?.online).length;
  return { tabs: tabs.flat().filter((s) => s !== undefined).length, online, senders: senders.length, lost: lostCount(), lostReasons: Object.fromEntries(lostReasons) };
}

type Command =
  | ({ cmd: 'open' } & OpenArgs)
  | { cmd: 'senders'; users: string[]; host: string; port: number; domain: string; password: string }
  | ({ cmd: 'stream' } & StreamArgs)
  | { cmd: 'close-group'; group: string; concurrency: number }
  | { cmd: 'close'; concurrency: number }
  | { cmd: 'status' }
  | { cmd: 'exit' };

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'open': return open(c);
    case 'senders': return openSenders(c);
    case 'stream': return stream(c);
    case 'close-group': return closeGroup(c);
    case 'close': return closeAll(c);
    case 'status': return status();
    default: throw new Error(`unknown command ${(c as { cmd: string }).cmd}`);
  }
}

serveGeneratorCommands<Command>('tabs-loadgen.js', 'tabs.js', handle);
