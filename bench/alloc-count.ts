/**
 * What the CM allocates per HTTP request and per delivered Shared-BOSH copy, counted by V8
 * rather than timed: a fixed workload against the CM in a process of its own, started with
 * `--trace-gc-nvp`, whose GC lines give the bytes allocated, surviving a scavenge and promoted.
 * Exact counts are stable on a busy machine where CPU time is not, so two builds can be compared
 * by running this once in each checkout. The upstream is the test harness's scripted XMPP server
 * (routing between its own streams, any credentials), in this process, so that only the CM's
 * own work is counted; CPU time is reported too, but is only as quiet as the machine.
 *
 *   node dist/bench/alloc-count.js [--h2] [--pairs 100] [--rate 500] [--messages 3000]
 *                                  [--members 16] [--fan-rate 200] [--fan-messages 500]
 *
 * Relay: `pairs` pairs of sessions (hold=1), `messages` messages at `rate` per second, each from
 * one session of a pair to the other: two HTTP requests per message. Fan-out: one Shared-BOSH
 * link of `members` members and a sender outside it, `fan-messages` messages to the link's bare
 * JID at `fan-rate` per second: one copy per member each. Each window starts and ends with a
 * full GC in the CM (not counted), after an unrecorded warm-up. Takes 15 to 30 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CmConfig } from '../src/config.js';
import { ScriptedXmppServer } from '../test/support/scripted-xmpp-server.js';
import { BoshSession, type Target } from './bosh-client.js';
import { closeH2 } from './h2-client.js';
import { benchCmConfig } from './server-processes.js';

const CHILD_ENV = 'ALLOC_COUNT_CM_CONFIG';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One measured window: sums over the GC lines between its two marks. */
export interface GcWindow {
  /** CM CPU time (user + system), µs. */
  cpuUs: number;
  allocated: number;
  /** Bytes that scavenges kept in the young generation, and that they promoted to the old one. */
  survived: number;
  promoted: number;
  scavenges: number;
  scavengeMs: number;
  /** Mark-compacts, the one that ends the window included. */
  markCompacts: number;
}

/**
 * Parses `--trace-gc-nvp` output with `MARK <name> <cpuUs>` lines written by the CM child after a
 * full GC: a window runs from `MARK x0` to `MARK x1`. The forced GC before `MARK x1` is counted for
 * its allocation only (it collects what the window allocated since the last scavenge).
 */
export function gcWindows(output: string): Map<string, GcWindow> {
  const windows = new Map<string, GcWindow>();
  let open: { name: string; cpu0: number; w: GcWindow } | undefined;
  for (const line of output.split('\n')) {
    const mark = /^MARK (\S+)([01]) (\d+)$/.exec(line);
    if (mark) {
      if (mark[2] === '0') {
        open = { name: mark[1]!, cpu0: Number(mark[3]), w: { cpuUs: 0, allocated: 0, survived: 0, promoted: 0, scavenges: 0, scavengeMs: 0, markCompacts: 0 } };
      } else if (open && open.name === mark[1]) {
        open.w.cpuUs = Number(mark[3]) - open.cpu0;
        windows.set(open.name, open.w);
        open = undefined;
      }
      continue;
    }
    if (!open || !line.includes(' pause=')) continue;
    const field = (name: string): number => Number(new RegExp(` ${name}=([0-9.]+)`).exec(line)?.[1] ?? 0);
    open.w.allocated += field('allocated');
    if (/ gc=s /.test(line)) {
      open.w.scavenges += 1;
      open.w.scavengeMs += field('pause');
      open.w.survived += field('new_space_survived');
      open.w.promoted += field('promoted');
    } else {
      open.w.markCompacts += 1;
    }
  }
  return windows;
}

/** The CM child: runs the CM, answers `mark` with a full GC and a MARK line on stdout. */
async function child(): Promise<void> {
  const config = JSON.parse(process.env[CHILD_ENV]!) as CmConfig;
  const { createConnectionManager } = await import('../src/cm.js');
  const cm = createConnectionManager(config);
  const addr = await cm.start();
  const gc = (globalThis as { gc?: () => void }).gc!;
  process.on('message', (m: { cmd: string; name?: string }) => {
    if (m.cmd === 'mark') {
      gc();
      const cpu = process.cpuUsage();
      process.stdout.write(`MARK ${m.name} ${cpu.user + cpu.system}\n`, () => process.send!({ marked: m.name }));
    } else if (m.cmd === 'stop') {
      void cm.stop().then(() => process.exit(0));
    }
  });
  process.send!({ ready: true, url: addr.url });
}

function arg(argv: string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
}

async function main(argv: string[]): Promise<void> {
  const o = {
    h2: argv.includes('--h2'),
    pairs: arg(argv, '--pairs', 100),
    rate: arg(argv, '--rate', 500),
    messages: arg(argv, '--messages', 3000),
    members: arg(argv, '--members', 16),
    fanRate: arg(argv, '--fan-rate', 200),
    fanMessages: arg(argv, '--fan-messages', 500),
  };
  const dir = mkdtempSync(join(tmpdir(), 'alloc-count-'));
  const server = await ScriptedXmppServer.start({});
  let cm: ChildProcess | undefined;
  try {
    const config = await benchCmConfig({ port: 0, c2sPort: server.port, workDir: dir, h2: o.h2, logLevel: 'info' });
    const self = fileURLToPath(import.meta.url);
    let output = '';
    const proc = spawn(process.execPath, ['--expose-gc', '--trace-gc-nvp', self], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      env: { ...process.env, [CHILD_ENV]: JSON.stringify(config) },
    });
    cm = proc;
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      output += d;
    });
    const ready = await new Promise<{ url: string }>((resolve, reject) => {
      proc.once('message', (m) => resolve(m as { url: string }));
      proc.once('exit', (code) => reject(new Error(`the CM exited (${code}) before it was ready`)));
    });
    const u = new URL(ready.url);
    const target: Target = { host: u.hostname, port: Number(u.port), path: u.pathname, ...(o.h2 ? { h2: true } : {}) };
    const agent = new http.Agent({ keepAlive: true, maxSockets: 10_000, scheduling: 'lifo' });
    const mark = (name: string): Promise<void> => new Promise((resolve) => {
      proc.once('message', () => resolve());
      proc.send({ cmd: 'mark', name });
    });
    let received = 0;
    const count = (_s: BoshSession, payload: string): void => {
      received += payload.split('<message').length - 1;
    };
    const session = (user: string, sharedKey?: string): BoshSession =>
      new BoshSession({ agent, target, domain: 'localhost', user, password: 'pw', resource: 'r', onPayload: count, ...(sharedKey ? { sharedKey } : {}) });
    /** Sends `n` messages at `rate` per second from `from(k)`, and waits until `expected` copies arrived. */
    const paced = async (n: number, rate: number, send: (k: number) => void, copies: number): Promise<void> => {
      const start = received;
      const t0 = performance.now();
      for (let k = 0; k < n; k++) {
        const wait = t0 + (k * 1000) / rate - performance.now();
        if (wait > 1) await sleep(wait);
        send(k);
      }
      const deadline = Date.now() + 30_000;
      while (received - start < n * copies) {
        if (Date.now() > deadline) throw new Error(`only ${received - start} of ${n * copies} copies arrived`);
        await sleep(20);
      }
    };
    const body = 'x'.repeat(60);

    const pairs: BoshSession[] = [];
    for (let i = 0; i < 2 * o.pairs; i++) pairs.push(session(`u${i}`));
    for (let i = 0; i < pairs.length; i += 50) await Promise.all(pairs.slice(i, i + 50).map((s) => s.login()));
    const relay = (k: number): void => {
      const p = k % o.pairs;
      pairs[2 * p]!.send(`<message xmlns='jabber:client' to='u${2 * p + 1}@localhost/r' type='chat' id='m${k}'><body>${body}</body></message>`);
    };
    await paced(Math.min(1000, o.messages), o.rate, relay, 1);
    await mark('relay0');
    await paced(o.messages, o.rate, relay, 1);
    await mark('relay1');

    const key = 'k'.repeat(32);
    const members: BoshSession[] = [];
    for (let i = 0; i < o.members; i++) {
      const m = session('fan', key);
      await m.login();
      members.push(m);
    }
    const sender = session('sender');
    await sender.login();
    const fan = (k: number): void => sender.send(`<message xmlns='jabber:client' to='fan@localhost' type='chat' id='f${k}'><body>${body}</body></message>`);
    await paced(Math.min(200, o.fanMessages), o.fanRate, fan, o.members);
    await mark('fan0');
    await paced(o.fanMessages, o.fanRate, fan, o.members);
    await mark('fan1');

    proc.send({ cmd: 'stop' });
    await new Promise((r) => proc.once('exit', r));
    cm = undefined;
    agent.destroy();
    closeH2();
    const windows = gcWindows(output);
    const layout = o.h2 ? 'HTTPS + HTTP/2' : 'HTTP/1.1';
    const line = (what: string, w: GcWindow | undefined, n: number): string => {
      if (!w) return `${what}: no window measured`;
      const per = (x: number): string => (x / n).toFixed(0).padStart(6);
      return `${what} (${n} in the window): allocated ${per(w.allocated)} B, survived a scavenge ${per(w.survived)} B, promoted ${per(w.promoted)} B, `
        + `CM CPU ${(w.cpuUs / n).toFixed(1)} µs; ${w.scavenges} scavenges (${(w.allocated / Math.max(1, w.scavenges) / 1024).toFixed(0)} KiB apart, `
        + `mean pause ${(w.scavengeMs / Math.max(1, w.scavenges)).toFixed(2)} ms), ${w.markCompacts} mark-compacts`;
    };
    console.log(`${layout}, ${o.pairs} pairs at ${o.rate} msg/s, ${o.members} members at ${o.fanRate} msg/s`);
    console.log(line('per HTTP request, relay', windows.get('relay'), 2 * o.messages));
    console.log(line('per delivered copy, fan-out', windows.get('fan'), o.members * o.fanMessages));
  } finally {
    if (cm && cm.exitCode === null) cm.kill('SIGKILL');
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env[CHILD_ENV] !== undefined) {
  await child();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main(process.argv.slice(2));
  process.exit(0);
}
