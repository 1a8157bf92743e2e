/**
 * `npm run soak -- [--sessions N] [--minutes M] [--interval-s S] [--h2|--http1]`: a long run of
 * steady traffic through the CM (a process of its own, `node dist/src/main.js`) to a throwaway
 * Prosody (bench/prosody-bench.ts), that counts every message end to end and samples the CM's
 * resident memory. NOT part of `npm test` or CI: the default (10,000 sessions for 10 minutes) loads
 * a 2-core machine for about a quarter of an hour.
 *
 * Sessions come in pairs (2k, 2k+1); each sends its partner one chat message every `interval-s`
 * seconds (spread evenly), with the id `s<sender>-<n>`. At the end sending stops, the run waits
 * until every message has arrived (at most 30 s), and reports sent, received, lost (sent, never
 * received) and duplicated (received more than once), plus sessions that ended unasked.
 *
 * The CM's RSS (from /proc) is sampled every 10 s once every session is online. It counts as flat
 * when the median of the last minute is at most 10 % above the median of the second minute (runs
 * under 3 minutes compare the last third with the second third instead); a drop (a collection
 * returning memory) is fine, growth is what a leak looks like. The run exits 1 when a message
 * was lost or duplicated, a session was lost, or the RSS was not flat.
 *
 * Over HTTP/1.1 a session costs the CM two descriptors (its held request and the upstream TCP
 * connection); when that does not fit RLIMIT_NOFILE the run speaks HTTP/2 over TLS to the CM
 * (bench/h2-client.ts), as bench/run.ts does for its idle sessions.
 */
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BoshSession, type Target } from './bosh-client.js';
import { openFilesLimit, rssKiB } from './proc.js';
import { BENCH_PASSWORD, startBenchProsody } from './prosody-bench.js';
import { startCmChild } from '../test/support/cm-child.js';
import { createTestCertificate } from '../test/support/certs.js';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '10000' },
    minutes: { type: 'string', default: '10' },
    'interval-s': { type: 'string', default: '20' },
    h2: { type: 'boolean', default: false },
    http1: { type: 'boolean', default: false },
  },
  strict: true,
});
const sessionsWanted = Number(values.sessions);
const minutes = Number(values.minutes);
const intervalS = Number(values['interval-s']);
if (!(sessionsWanted >= 2 && sessionsWanted % 2 === 0 && minutes > 0 && intervalS > 0)) {
  console.error('soak: --sessions must be an even number >= 2, --minutes and --interval-s positive');
  process.exit(2);
}
const fdLimit = openFilesLimit();
const h2 = values.h2 || (!values.http1 && sessionsWanted * 2 + 600 > fdLimit);
const SAMPLE_MS = 10_000;
const LOGIN_CONCURRENCY = 64;

const log = (line: string): void => console.log(`soak ${new Date().toISOString().slice(11, 19)} ${line}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const work = mkdtempSync(join(tmpdir(), 'shared-bosh-soak-'));
const prosody = await startBenchProsody(0);
let tls: { certFile: string; keyFile: string } | null = null;
if (h2) {
  const cert = await createTestCertificate(['localhost']);
  tls = { certFile: join(work, 'cm-cert.pem'), keyFile: join(work, 'cm-key.pem') };
  writeFileSync(tls.certFile, cert.cert);
  writeFileSync(tls.keyFile, cert.key, { mode: 0o600 });
}
const cm = await startCmChild({
  // Every session comes from 127.0.0.1 here: the per-address limits (meant for one browser or
  // one NAT address) are lifted; the global ones and the descriptor budget stay.
  http: { tls, maxConnectionsPerAddress: 0, maxRequestsPerAddress: 0 },
  domains: { localhost: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'off', insecure: false } },
  bosh: { creationsPerMinute: 0, maxSessions: sessionsWanted + 100 },
  logLevel: 'warn',
});
const url = new URL(cm.url);
const target: Target = { host: url.hostname, port: Number(url.port), path: url.pathname, ...(h2 ? { h2: true } : {}) };
const agent = new http.Agent({ keepAlive: true, maxSockets: sessionsWanted * 2 + 100, maxFreeSockets: 256, scheduling: 'lifo' });
log(`CM pid ${cm.pid} at ${cm.url} (${h2 ? 'HTTP/2' : 'HTTP/1.1'}), Prosody pid ${prosody.pid}; ${sessionsWanted} sessions, ${minutes} min, one message per session every ${intervalS} s`);

const users = Array.from({ length: sessionsWanted }, (_, i) => `soak${i}`);
await prosody.addUsers(users);

// ---- message accounting ----
const sentBy = new Int32Array(sessionsWanted);
const seen = new Set<string>();
let received = 0;
let duplicates = 0;
let foreign = 0;
const lost = new Map<string, number>();
const onPayload = (s: BoshSession, payload: string): void => {
  for (const m of payload.matchAll(/<message\b[^>]*\bid='(s(\d+)-(\d+))'/g)) {
    const id = m[1]!;
    const sender = Number(m[2]);
    if ((sender ^ 1) !== sessionIndex.get(s)) foreign += 1;
    if (seen.has(id)) duplicates += 1;
    else {
      seen.add(id);
      received += 1;
    }
  }
};
const sessionIndex = new Map<BoshSession, number>();
const sessions: BoshSession[] = users.map((user, i) => {
  const s = new BoshSession({
    agent, target, domain: 'localhost', user, password: BENCH_PASSWORD, resource: 'r', wait: 60, presence: false,
    onPayload,
    onLost: (_s, reason) => lost.set(reason.slice(0, 60), (lost.get(reason.slice(0, 60)) ?? 0) + 1),
  });
  sessionIndex.set(s, i);
  return s;
});

let exitCode = 0;
try {
  // ---- login, LOGIN_CONCURRENCY at a time ----
  const loginStart = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: LOGIN_CONCURRENCY }, async () => {
    while (next < sessions.length) {
      const s = sessions[next++]!;
      await s.login();
    }
  }));
  log(`${sessions.length} sessions online in ${((Date.now() - loginStart) / 1000).toFixed(0)} s; CM RSS ${(rssKiB(cm.pid) / 1024).toFixed(0)} MiB`);

  // ---- steady traffic ----
  const rss: { t: number; kib: number }[] = [];
  const started = Date.now();
  const endAt = started + minutes * 60_000;
  const sampler = setInterval(() => {
    const kib = rssKiB(cm.pid);
    rss.push({ t: Date.now() - started, kib });
    log(`t=${((Date.now() - started) / 1000).toFixed(0)} s RSS ${(kib / 1024).toFixed(1)} MiB, sent ${sum(sentBy)}, received ${received}, lost sessions ${[...lost.values()].reduce((a, b) => a + b, 0)}`);
  }, SAMPLE_MS);
  const tickMs = 100;
  const perTick = (sessions.length * tickMs) / (intervalS * 1000);
  let due = 0;
  let cursor = 0;
  while (Date.now() < endAt && cm.alive) {
    due += perTick;
    while (due >= 1) {
      due -= 1;
      const i = cursor;
      cursor = (cursor + 1) % sessions.length;
      const s = sessions[i]!;
      if (!s.online) continue;
      const n = sentBy[i]!++;
      s.send(`<message to='soak${i ^ 1}@localhost/r' type='chat' id='s${i}-${n}' xmlns='jabber:client'><body>soak ${n}</body></message>`);
    }
    await sleep(tickMs);
  }
  clearInterval(sampler);
  const sent = sum(sentBy);
  const drainUntil = Date.now() + 30_000;
  while (received < sent && Date.now() < drainUntil && cm.alive) await sleep(200);

  // ---- verdict ----
  const lostMessages = sent - received;
  const lostSessions = [...lost.values()].reduce((a, b) => a + b, 0);
  const flat = flatness(rss);
  log(`messages: sent ${sent}, received ${received}, lost ${lostMessages}, duplicated ${duplicates}, delivered to a wrong session ${foreign}`);
  log(`sessions lost: ${lostSessions}${lostSessions > 0 ? ` (${[...lost].map(([r, n]) => `${n}x ${r}`).join('; ')})` : ''}; CM alive: ${cm.alive}`);
  log(`RSS samples (MiB): ${rss.map((r) => (r.kib / 1024).toFixed(1)).join(' ')}`);
  log(`RSS ${flat.text}`);
  if (lostMessages !== 0 || duplicates !== 0 || foreign !== 0 || lostSessions !== 0 || !flat.ok || !cm.alive) exitCode = 1;
  log(exitCode === 0 ? 'PASS' : 'FAIL');
} catch (err) {
  log(`FAIL: ${(err as Error).stack ?? String(err)}`);
  exitCode = 1;
} finally {
  await Promise.all(sessions.map((s) => s.close()));
  agent.destroy();
  await cm.stop();
  await prosody.stop();
  rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);

function sum(a: Int32Array): number {
  let total = 0;
  for (const v of a) total += v;
  return total;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Last minute's median RSS against the second minute's (or last third against second third). */
function flatness(samples: { t: number; kib: number }[]): { ok: boolean; text: string } {
  const total = samples.at(-1)?.t ?? 0;
  let early: number[];
  let late: number[];
  let what: string;
  if (total >= 180_000) {
    early = samples.filter((s) => s.t > 60_000 && s.t <= 120_000).map((s) => s.kib);
    late = samples.filter((s) => s.t > total - 60_000).map((s) => s.kib);
    what = 'last minute vs second minute';
  } else {
    early = samples.filter((s) => s.t > total / 3 && s.t <= (2 * total) / 3).map((s) => s.kib);
    late = samples.filter((s) => s.t > (2 * total) / 3).map((s) => s.kib);
    what = 'last third vs second third (run under 3 min)';
  }
  const a = median(early);
  const b = median(late);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return { ok: false, text: `flatness unknown: too few samples (${samples.length})` };
  const change = (b - a) / a;
  const ok = change <= 0.1;
  return { ok, text: `${ok ? 'flat' : 'NOT flat'}: median ${(b / 1024).toFixed(1)} MiB vs ${(a / 1024).toFixed(1)} MiB (${what}), ${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)} % (limit +10 %)` };
}
