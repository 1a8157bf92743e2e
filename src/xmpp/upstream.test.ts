import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Element } from '../xml/element.js';
import { createMemoryLogger } from '../log.js';
import { FakeClock } from '../../test/support/fake-clock.js';
import { createTestCertificate } from '../../test/support/certs.js';
import { ScriptedXmppServer, NS_SASL, NS_BIND, type ScriptedServerOptions } from '../../test/support/scripted-xmpp-server.js';
import { CLOSE_WAIT_MS, openUpstream } from './upstream.js';
import type { StreamInfo, Upstream, UpstreamCounters, UpstreamEnd, UpstreamOptions, UpstreamSink } from './types.js';

/** A sink that records every callback and lets a test wait for one. */
class RecordingSink implements UpstreamSink {
  readonly opens: StreamInfo[] = [];
  readonly elements: Element[] = [];
  readonly batches: Element[][] = [];
  readonly ends: UpstreamEnd[] = [];
  private readonly waiters = new Set<() => void>();

  onStreamOpen(info: StreamInfo): void {
    assert.equal(this.ends.length, 0, 'onStreamOpen after onEnd');
    this.opens.push(info);
    this.changed();
  }
  onElements(elements: Element[]): void {
    assert.equal(this.ends.length, 0, 'onElements after onEnd');
    this.batches.push(elements);
    this.elements.push(...elements);
    this.changed();
  }
  onEnd(end: UpstreamEnd): void {
    this.ends.push(end);
    this.changed();
  }

  until<T>(check: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value === undefined) return;
        finish();
        resolve(value);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out waiting for ${what}; ends: ${JSON.stringify(this.ends.map(describe))}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(attempt);
      };
      this.waiters.add(attempt);
      attempt();
    });
  }
  opened(n = 1): Promise<StreamInfo> {
    return this.until(() => (this.ends.length > 0 ? failWith(this.ends[0]!) : this.opens[n - 1]), `stream open #${n}`);
  }
  element(match: (el: Element) => boolean): Promise<Element> {
    return this.until(() => this.elements.find(match), 'an element');
  }
  ended(): Promise<UpstreamEnd> {
    return this.until(() => this.ends[0], 'onEnd');
  }
  private changed(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

function describe(end: UpstreamEnd): string {
  return end.kind === 'stream-error' ? `stream-error ${end.error}` : `${end.kind} ${'error' in end ? end.error?.message : ''}`;
}

function failWith(end: UpstreamEnd): never {
  throw new Error(`upstream ended before it opened: ${describe(end)}`);
}

interface Opened {
  upstream: Upstream;
  sink: RecordingSink;
  clock: FakeClock;
  lines: string[];
}

async function startServer(t: { after(fn: () => Promise<void>): void }, options: ScriptedServerOptions = {}): Promise<ScriptedXmppServer> {
  const server = await ScriptedXmppServer.start(options);
  t.after(() => server.close());
  return server;
}

function connect(server: ScriptedXmppServer, extra: Partial<UpstreamOptions> = {}, sink = new RecordingSink()): Opened {
  const { logger, lines } = createMemoryLogger('trace');
  const clock = new FakeClock();
  const upstream = openUpstream(
    { domain: server.domain, host: server.host, port: server.port, tls: 'optional', ca: server.ca, logger, clock, ...extra },
    sink,
  );
  return { upstream, sink, clock, lines };
}

const plainAuth = (user: string, password: string) =>
  `<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${Buffer.from(`\0${user}\0${password}`).toString('base64')}</auth>`;
const bindIq = (resource: string) => `<iq type='set' id='bind1'><bind xmlns='${NS_BIND}'><resource>${resource}</resource></bind></iq>`;

/** Logs in over an open upstream: SASL PLAIN, restart, bind; returns the bound JID. */
async function login(o: Opened, user: string, resource: string, password = 'pw'): Promise<string> {
  const opens = o.sink.opens.length;
  o.upstream.send(plainAuth(user, password));
  await o.sink.element((el) => el.name === 'success');
  o.upstream.restart();
  await o.sink.opened(opens + 1);
  o.upstream.send(bindIq(resource));
  const result = await o.sink.element((el) => el.name === 'iq' && el.attrs.id === 'bind1');
  return result.getChild('bind', NS_BIND)!.getChild('jid')!.text();
}

test('X-06 X-07: plain stream: header with to, version, xml:lang, from; open and features reported', async (t) => {
  const server = await startServer(t);
  const o = connect(server, { tls: 'optional', version: '1.0', lang: 'de', from: 'alice@localhost' });
  const info = await o.sink.opened();
  assert.equal(info.from, 'localhost');
  assert.equal(info.version, '1.0');
  assert.match(info.id, /^s1-1$/);
  const conn = server.connections[0]!;
  assert.deepEqual(conn.headers[0], {
    xmlns: 'jabber:client',
    'xmlns:stream': 'http://etherx.jabber.org/streams',
    to: 'localhost',
    version: '1.0',
    'xml:lang': 'de',
    from: 'alice@localhost',
  });
  const features = await o.sink.element((el) => el.name === 'stream:features');
  assert.ok(features.getChild('mechanisms', NS_SASL));
  assert.equal(conn.secured, false);
  o.upstream.close();
  assert.equal((await o.sink.ended()).kind, 'closed');
});

test('B-140 D22 X-15: STARTTLS is negotiated and the certificate verified against the domain; no <starttls/> reaches the sink', async (t) => {
  const server = await startServer(t, { starttls: 'offered' });
  const o = connect(server, { tls: 'required' });
  await o.sink.opened();
  const conn = server.connections[0]!;
  assert.equal(conn.secured, true);
  assert.equal(conn.headers.length, 2, 'a new stream header after TLS');
  assert.equal(o.sink.opens.length, 1, 'the pre-TLS stream is not reported');
  assert.equal(o.sink.elements.length, 1);
  assert.doesNotMatch(o.sink.elements[0]!.toString(), /starttls/);
  assert.ok(o.sink.elements[0]!.getChild('mechanisms', NS_SASL));
  o.upstream.close();
  await o.sink.ended();
});

test('D22: a certificate for another name is rejected (connect-failed)', async (t) => {
  // The certificate names 'localhost'; the stream is for 'chat.example'.
  const server = await startServer(t, { starttls: 'required', domain: 'chat.example' });
  const o = connect(server, { tls: 'required' });
  const end = await o.sink.ended();
  assert.equal(end.kind, 'connect-failed');
  assert.match((end as { error: Error }).error.message, /^TLS: certificate is not valid for chat\.example \(it names localhost, 127\.0\.0\.1\) \(server 127\.0\.0\.1:\d+, name checked: chat\.example\): give the server a certificate for chat\.example/);
  assert.equal(o.sink.opens.length, 0);
});

test('D22: a certificate from an unknown CA is rejected (connect-failed)', async (t) => {
  const server = await startServer(t, { starttls: 'required' });
  const o = connect(server, { tls: 'required', ca: undefined });
  const end = await o.sink.ended();
  assert.equal(end.kind, 'connect-failed');
  assert.match((end as { error: Error }).error.message, /^TLS: certificate (is signed by|chain ends in) a CA this machine does not trust \(server 127\.0\.0\.1:\d+, name checked: localhost\): pass --ca-file FILE with the server's CA \(domains\.localhost\.caFile\), or --tls off only on loopback$/);
});

test('D22: insecure skips certificate verification (tests only)', async (t) => {
  const server = await startServer(t, { starttls: 'required', domain: 'chat.example' });
  const o = connect(server, { tls: 'required', ca: undefined, insecure: true });
  await o.sink.opened();
  assert.equal(server.connections[0]!.secured, true);
  assert.ok(o.lines.some((l) => l.includes('verification is disabled')));
  o.upstream.close();
  await o.sink.ended();
});

test("B-140 D22: tls 'required' and no STARTTLS offered: connect-failed", async (t) => {
  const server = await startServer(t, { starttls: 'none' });
  const o = connect(server, { tls: 'required' });
  const end = await o.sink.ended();
  assert.equal(end.kind, 'connect-failed');
  assert.match((end as { error: Error }).error.message, /does not offer STARTTLS/);
  await server.connections[0]!.closed;
});

test("D22: tls 'off' and STARTTLS required by the server: connect-failed", async (t) => {
  const server = await startServer(t, { starttls: 'required' });
  const o = connect(server, { tls: 'off' });
  const end = await o.sink.ended();
  assert.equal(end.kind, 'connect-failed');
  assert.match((end as { error: Error }).error.message, /requires STARTTLS/);
});

test("D22: tls 'off' and STARTTLS merely offered: the stream stays plain, <starttls/> stripped", async (t) => {
  const server = await startServer(t, { starttls: 'offered' });
  const o = connect(server, { tls: 'off' });
  await o.sink.opened();
  assert.equal(server.connections[0]!.secured, false);
  assert.doesNotMatch(o.sink.elements[0]!.toString(), /starttls/);
  o.upstream.close();
  await o.sink.ended();
});

test('X-11 X-19 X-20 X-21: restart opens a new stream on the same TCP connection; new features are reported', async (t) => {
  const server = await startServer(t, { starttls: 'offered' });
  const o = connect(server, { tls: 'required' });
  await o.sink.opened();
  const jid = await login(o, 'alice', 'phone');
  assert.equal(jid, 'alice@localhost/phone');
  assert.equal(server.connections.length, 1, 'no new TCP connection');
  const conn = server.connections[0]!;
  assert.equal(conn.headers.length, 3, 'initial, after TLS, after SASL');
  assert.equal(o.sink.opens.length, 2);
  assert.notEqual(o.sink.opens[0]!.id, o.sink.opens[1]!.id);
  const features = o.sink.elements.filter((el) => el.name === 'stream:features');
  assert.equal(features.length, 2);
  assert.ok(features[1]!.getChild('bind', NS_BIND));
  o.upstream.close();
  await o.sink.ended();
});

test('two upstreams chat through the scripted server; pings are answered', async (t) => {
  const server = await startServer(t);
  const a = connect(server);
  const b = connect(server);
  await Promise.all([a.sink.opened(), b.sink.opened()]);
  const [jidA, jidB] = await Promise.all([login(a, 'alice', 'a'), login(b, 'bob', 'b')]);
  a.upstream.send(`<message to='${jidB}' type='chat' id='m1'><body>hi bob</body></message>`);
  const msg = await b.sink.element((el) => el.name === 'message');
  assert.equal(msg.attrs.from, jidA);
  assert.equal(msg.getChild('body')!.text(), 'hi bob');
  b.upstream.send(`<iq type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
  const pong = await b.sink.element((el) => el.attrs.id === 'ping1');
  assert.equal(pong.attrs.type, 'result');
  a.upstream.close();
  b.upstream.close();
  await Promise.all([a.sink.ended(), b.sink.ended()]);
});

test('send() before the stream is open is queued and written in order after the features', async (t) => {
  const server = await startServer(t, { starttls: 'offered', featuresDelayMs: 20 });
  const o = connect(server, { tls: 'required' });
  o.upstream.send("<presence id='q1'/>");
  o.upstream.send("<presence id='q2'/>");
  await o.sink.opened();
  const conn = server.connections[0]!;
  await conn.waitForElement((el) => el.attrs.id === 'q2');
  const ids = conn.received.map((r) => r.element.attrs.id ?? r.element.name);
  assert.deepEqual(ids, ['starttls', 'q1', 'q2'], 'nothing before TLS, the queue in order after');
  o.upstream.close();
  await o.sink.ended();
});

test('B-118 X-24: a <stream:error/> ends the upstream with stream-error, exactly once', async (t) => {
  const server = await startServer(t);
  const o = connect(server);
  await o.sink.opened();
  server.connections[0]!.sendStreamError('conflict', 'replaced');
  const end = await o.sink.ended();
  assert.equal(end.kind, 'stream-error');
  const error = (end as { error: Element }).error;
  assert.equal(error.name, 'stream:error');
  assert.ok(error.getChild('conflict'));
  o.upstream.close();
  await server.connections[0]!.closed;
  assert.equal(server.connections[0]!.clientClosedStream, true);
  assert.equal(o.sink.ends.length, 1);
});

test('a stream error before the features is reported as stream-error (host-unknown)', async (t) => {
  const server = await startServer(t, { domain: 'other.example' });
  const o = connect(server, { domain: 'localhost' });
  const end = await o.sink.ended();
  assert.equal(end.kind, 'stream-error');
  assert.ok((end as { error: Element }).error.getChild('host-unknown'));
});

test("the server's </stream:stream> ends the upstream as lost, and ours answers it", async (t) => {
  const server = await startServer(t);
  const o = connect(server);
  await o.sink.opened();
  const conn = server.connections[0]!;
  conn.closeStream();
  const end = await o.sink.ended();
  assert.equal(end.kind, 'lost');
  await conn.closed;
  assert.equal(conn.clientClosedStream, true);
  assert.equal(o.sink.ends.length, 1);
});

test('a dropped TCP connection ends the upstream as lost', async (t) => {
  const server = await startServer(t);
  const o = connect(server);
  await o.sink.opened();
  server.connections[0]!.drop();
  const end = await o.sink.ended();
  assert.equal(end.kind, 'lost');
  o.upstream.send('<presence/>'); // ignored, no throw
  o.upstream.close();
  assert.equal(o.sink.ends.length, 1);
});

test('bad XML from the server ends the upstream as lost and tells the server why', async (t) => {
  const server = await startServer(t);
  const o = connect(server);
  await o.sink.opened();
  const conn = server.connections[0]!;
  conn.send('<message><body>&nope;</body></message>');
  const end = await o.sink.ended();
  assert.equal(end.kind, 'lost');
  assert.match((end as { error: Error }).error.message, /not-well-formed/);
  const error = await conn.waitForElement((el) => el.name === 'stream:error');
  assert.ok(error.element.getChild('not-well-formed'));
  await conn.closed;
});

test('elements that arrive in one read are reported in one onElements call', async (t) => {
  const server = await startServer(t);
  const o = connect(server);
  await o.sink.opened();
  const before = o.sink.batches.length;
  server.connections[0]!.send("<message id='m1'><body>one</body></message><message id='m2'><body>two</body></message>");
  await o.sink.element((el) => el.attrs.id === 'm2');
  assert.deepEqual(o.sink.batches.slice(before).map((b) => b.map((el) => el.attrs.id)), [['m1', 'm2']]);
  o.upstream.close();
  await o.sink.ended();
});

test('D27: plain upstreams read into one shared buffer: interleaved reads, a stanza larger than the buffer and characters cut between reads all arrive intact', async (t) => {
  const server = await startServer(t);
  const a = connect(server, { tls: 'off' });
  const b = connect(server, { tls: 'off' });
  await Promise.all([a.sink.opened(), b.sink.opened()]);
  const [connA, connB] = server.connections as [NonNullable<(typeof server.connections)[0]>, NonNullable<(typeof server.connections)[0]>];
  // Over 64 KiB (the shared buffer) of one- to four-byte characters, a different text per stream.
  const textA = 'aé€😀'.repeat(9000);
  const textB = 'bß☃🎉'.repeat(9000);
  const bytesA = Buffer.from(`<message id='big'><body>${textA}</body></message>`);
  const bytesB = Buffer.from(`<message id='big'><body>${textB}</body></message>`);
  // Alternating pieces of odd sizes, so reads of the two streams interleave and cut characters.
  for (let at = 0, size = 1; at < Math.max(bytesA.length, bytesB.length); at += size, size = (size * 7 + 3) % 20011) {
    connA.sendBytes(bytesA.subarray(at, at + size));
    connB.sendBytes(bytesB.subarray(at, at + size));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const [msgA, msgB] = await Promise.all([a.sink.element((el) => el.attrs.id === 'big'), b.sink.element((el) => el.attrs.id === 'big')]);
  assert.ok(msgA.getChild('body')!.text() === textA, 'stream A intact');
  assert.ok(msgB.getChild('body')!.text() === textB, 'stream B intact');
  a.upstream.close();
  b.upstream.close();
  await Promise.all([a.sink.ended(), b.sink.ended()]);
});

test('an element over maxStanzaBytes ends the upstream as lost (policy-violation)', async (t) => {
  const server = await startServer(t);
  const o = connect(server, { maxStanzaBytes: 1000 });
  await o.sink.opened();
  const conn = server.connections[0]!;
  conn.send(`<message><body>${'x'.repeat(2000)}</body></message>`);
  const end = await o.sink.ended();
  assert.equal(end.kind, 'lost');
  assert.match((end as { error: Error }).error.message, /policy-violation/);
  assert.ok((await conn.waitForElement((el) => el.name === 'stream:error')).element.getChild('policy-violation'));
});

test('connect timeout (fake clock): connect-failed and the TCP connection is dropped', async (t) => {
  const server = await startServer(t, { mute: true });
  const o = connect(server, { connectTimeoutMs: 10_000 });
  const conn = await server.waitForConnection(1);
  o.clock.tick(9_999);
  assert.equal(o.sink.ends.length, 0);
  o.clock.tick(1);
  const end = await o.sink.ended();
  assert.equal(end.kind, 'connect-failed');
  assert.match((end as { error: Error }).error.message, /timed out after 10000 ms/);
  await conn.closed;
  assert.equal(o.clock.pending, 0, 'no timer left');
});

test('close(): </stream:stream>, the server answers, onEnd closed once; later sends are dropped', async (t) => {
  const server = await startServer(t);
  const o = connect(server);
  await o.sink.opened();
  const conn = server.connections[0]!;
  o.upstream.close();
  o.upstream.send('<presence/>');
  o.upstream.close();
  const end = await o.sink.ended();
  assert.equal(end.kind, 'closed');
  await conn.closed;
  assert.equal(conn.clientClosedStream, true);
  assert.equal(conn.received.length, 0);
  assert.equal(o.sink.ends.length, 1);
  assert.equal(o.clock.pending, 0, 'close timer cancelled');
});

test('close(): a server that does not answer is dropped after the wait (fake clock)', async (t) => {
  const server = await startServer(t, { answerClose: false });
  const o = connect(server);
  await o.sink.opened();
  const conn = server.connections[0]!;
  o.upstream.close();
  assert.equal(o.sink.ends.length, 0);
  o.clock.tick(CLOSE_WAIT_MS);
  assert.equal((await o.sink.ended()).kind, 'closed');
  await conn.closed;
});

test('close() while connecting ends at once with closed', async (t) => {
  const server = await startServer(t, { mute: true });
  const o = connect(server);
  o.upstream.close();
  assert.equal((await o.sink.ended()).kind, 'closed');
  assert.equal(o.clock.pending, 0);
});

test('D22: SRV targets are tried in order; a refused one is skipped', async (t) => {
  const server = await startServer(t);
  const closedPort = await freePort();
  const o = connect(server, {
    host: undefined,
    resolveSrv: async () => [
      { name: '127.0.0.1', port: closedPort, priority: 1, weight: 0 },
      { name: '127.0.0.1', port: server.port, priority: 2, weight: 0 },
    ],
  });
  await o.sink.opened();
  assert.ok(o.lines.some((l) => l.includes('trying the next target')));
  o.upstream.close();
  await o.sink.ended();
});

test("B-127: connection refused everywhere, or SRV target '.': connect-failed", async (t) => {
  const server = await startServer(t);
  const o = connect(server, { port: await freePort() });
  assert.equal((await o.sink.ended()).kind, 'connect-failed');
  const p = connect(server, { host: undefined, resolveSrv: async () => [{ name: '.', port: 0, priority: 0, weight: 0 }] });
  const end = await p.sink.ended();
  assert.equal(end.kind, 'connect-failed');
  assert.match((end as { error: Error }).error.message, /no XMPP client service/);
});

test('the upstream log names what happened but never stanza contents', async (t) => {
  const server = await startServer(t, { users: { alice: 'secret-pw' } });
  const o = connect(server);
  await o.sink.opened();
  await login(o, 'alice', 'r', 'secret-pw');
  o.upstream.send("<message to='alice@localhost/r'><body>very private</body></message>");
  await o.sink.element((el) => el.name === 'message');
  o.upstream.close();
  await o.sink.ended();
  const log = o.lines.join('\n');
  assert.match(log, /stream open/);
  for (const secret of ['secret-pw', Buffer.from('\0alice\0secret-pw').toString('base64'), 'very private']) {
    assert.ok(!log.includes(secret), `log contains ${secret}`);
  }
});

test('wrong SASL credentials get <failure/> from the scripted server', async (t) => {
  const server = await startServer(t, { users: { alice: 'right' } });
  const o = connect(server);
  await o.sink.opened();
  o.upstream.send(plainAuth('alice', 'wrong'));
  const failure = await o.sink.element((el) => el.name === 'failure');
  assert.ok(failure.getChild('not-authorized'));
  o.upstream.close();
  await o.sink.ended();
});

test('the scripted server gives a CM domain entry with its CA as a file', async (t) => {
  const server = await startServer(t, { starttls: 'required' });
  const entry = await server.domainConfig();
  assert.equal(entry.tls, 'required');
  assert.equal(entry.port, server.port);
  assert.equal(readFileSync(entry.caFile!, 'utf8'), server.ca);
});

test('the generated certificate is cached and carries a CA', async () => {
  const a = await createTestCertificate();
  const b = await createTestCertificate(['localhost']);
  assert.equal(a, b);
  assert.match(a.ca, /BEGIN CERTIFICATE/);
  assert.notEqual(a.ca, a.cert);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

// ---- hostile input and faults (issue 11) -------------------------------------------------

/** A message or IQ nested `depth` levels deep (the stanza itself is level 1). */
function nested(open: string, close: string, depth: number): string {
  return open + '<x>'.repeat(depth - 1) + 'deep' + '</x>'.repeat(depth - 1) + close;
}

/** Counters that remember every call. */
class RecordingCounters implements UpstreamCounters {
  readonly drops: string[] = [];
  readonly streamErrors: string[] = [];
  dropped(reason: 'too-deep'): void {
    this.drops.push(reason);
  }
  streamErrorSent(condition: string): void {
    this.streamErrors.push(condition);
  }
}

/** Log lines (parsed) at `level` or above whose msg matches. */
function logged(lines: string[], msg: RegExp): Array<Record<string, unknown>> {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => msg.test(String(l.msg)));
}

test('a stanza nested deeper than maxDepth is dropped, logged, counted and bounced with policy-violation; the stream goes on', async (t) => {
  const server = await startServer(t);
  const counters = new RecordingCounters();
  const o = connect(server, { maxDepth: 16, counters });
  await o.sink.opened();
  await login(o, 'alice', 'r');
  const conn = server.connections[0]!;
  conn.send(nested("<iq type='get' id='deep-iq' from='mallory@evil.example/x' to='alice@localhost/r'>", '</iq>', 5000));
  conn.send(nested("<message type='chat' id='deep-msg' from='mallory@evil.example/x'>", '</message>', 17));
  conn.send(nested("<message type='chat' id='ok' from='bob@localhost/b'>", '</message>', 16));
  const ok = await o.sink.element((el) => el.attrs.id === 'ok');
  assert.equal(ok.name, 'message');
  assert.ok(!o.sink.elements.some((el) => el.attrs.id === 'deep-iq' || el.attrs.id === 'deep-msg'), 'never delivered');
  const iqError = (await conn.waitForElement((el) => el.name === 'iq' && el.attrs.id === 'deep-iq')).element;
  assert.equal(iqError.attrs.type, 'error');
  assert.equal(iqError.attrs.to, 'mallory@evil.example/x');
  assert.ok(iqError.getChild('error')!.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
  const msgError = (await conn.waitForElement((el) => el.name === 'message' && el.attrs.id === 'deep-msg')).element;
  assert.equal(msgError.attrs.type, 'error');
  const drops = logged(o.lines, /nested too deep; dropped/);
  assert.deepEqual(drops.map((l) => [l.element, l.id, l.from, l.level]), [['iq', 'deep-iq', 'mallory@evil.example/x', 40], ['message', 'deep-msg', 'mallory@evil.example/x', 40]]);
  assert.deepEqual(counters.drops, ['too-deep', 'too-deep']);
  assert.equal(o.sink.ends.length, 0);
  o.upstream.close();
  assert.equal((await o.sink.ended()).kind, 'closed');
});

/** A sink with a bug: it throws from the chosen callback. */
class ThrowingSink extends RecordingSink {
  throwIn: 'onElements' | 'onEnd' | undefined;
  override onElements(elements: Element[]): void {
    super.onElements(elements);
    if (this.throwIn === 'onElements') throw new TypeError('sink bug in onElements');
  }
  override onEnd(end: UpstreamEnd): void {
    super.onEnd(end);
    if (this.throwIn === 'onEnd') throw new TypeError('sink bug in onEnd');
  }
}

test('an exception thrown by the sink ends only its own stream (failed, internal-server-error upstream), logged with its stack', async (t) => {
  const server = await startServer(t);
  const buggy = new ThrowingSink();
  const counters = new RecordingCounters();
  const a = connect(server, { counters }, buggy);
  const b = connect(server);
  await Promise.all([a.sink.opened(), b.sink.opened()]);
  const [, jidB] = await Promise.all([login(a, 'alice', 'a'), login(b, 'bob', 'b')]);
  buggy.throwIn = 'onElements';
  server.connections[0]!.send("<message id='boom'><body>x</body></message>");
  const end = await a.sink.ended();
  assert.equal(end.kind, 'failed');
  assert.match((end as { error: Error }).error.message, /sink bug in onElements/);
  const error = await server.connections[0]!.waitForElement((el) => el.name === 'stream:error');
  assert.ok(error.element.getChild('internal-server-error'));
  await server.connections[0]!.closed;
  const [line] = logged(a.lines, /unexpected exception/);
  assert.equal(line?.level, 50);
  assert.match(String((line?.err as { stack?: string }).stack), /TypeError: sink bug in onElements\n\s+at /);
  assert.deepEqual(counters.streamErrors, ['internal-server-error']);
  // The other stream on the same server goes on.
  b.upstream.send(`<message to='${jidB}' id='still-here'><body>hi</body></message>`);
  await b.sink.element((el) => el.attrs.id === 'still-here');
  assert.equal(b.sink.ends.length, 0);
  b.upstream.close();
  await b.sink.ended();
});

test('an exception thrown by the sink while it is told of the end is logged; nothing escapes', async (t) => {
  const server = await startServer(t);
  const buggy = new ThrowingSink();
  const o = connect(server, {}, buggy);
  await o.sink.opened();
  buggy.throwIn = 'onEnd';
  server.connections[0]!.drop();
  assert.equal((await o.sink.ended()).kind, 'lost');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(logged(o.lines, /unexpected exception/).length, 1);
  assert.equal(o.sink.ends.length, 1, 'told once');
});

test('invalid UTF-8 from the server ends the stream with unsupported-encoding, not U+FFFD', async (t) => {
  const server = await startServer(t);
  const o = connect(server);
  await o.sink.opened();
  const conn = server.connections[0]!;
  conn.sendBytes(Buffer.concat([Buffer.from("<message id='m'><body>caf"), Buffer.from([0xc3, 0x28]), Buffer.from('</body></message>')]));
  const end = await o.sink.ended();
  assert.equal(end.kind, 'lost');
  assert.match((end as { error: Error }).error.message, /not UTF-8/);
  assert.ok(!o.sink.elements.some((el) => el.attrs.id === 'm'));
  assert.ok((await conn.waitForElement((el) => el.name === 'stream:error')).element.getChild('unsupported-encoding'));
});

test('X-24 X-25 B-118: a restart before authentication refused with a <stream:error/> and no new header ends as stream-error with that error', async (t) => {
  const server = await startServer(t);
  const o = connect(server);
  await o.sink.opened();
  o.upstream.restart(); // before SASL: the scripted server, like Prosody, answers on the old stream
  const end = await o.sink.ended();
  assert.equal(end.kind, 'stream-error', describe(end));
  const error = (end as { error: Element }).error;
  assert.equal(error.name, 'stream:error');
  assert.ok(error.getChild('not-well-formed', 'urn:ietf:params:xml:ns:xmpp-streams'));
});

test('a bound stream idle for pingIntervalMs pings the server; the answer is the CM\'s alone; a silent server ends the stream as lost (fake clock)', async (t) => {
  const server = await startServer(t);
  const o = connect(server, { pingIntervalMs: 60_000, pingTimeoutMs: 30_000 });
  await o.sink.opened();
  await login(o, 'alice', 'r');
  const conn = server.connections[0]!;
  const pings = () => conn.received.filter((r) => r.element.getChild('ping', 'urn:xmpp:ping'));
  o.clock.tick(120_000);
  assert.equal(pings().length, 0, 'no ping before the link reports binding');
  o.upstream.markBound();
  o.clock.tick(59_999);
  assert.equal(pings().length, 0);
  o.clock.tick(1);
  const ping = (await conn.waitForElement((el) => el.getChild('ping', 'urn:xmpp:ping') !== undefined)).element;
  assert.equal(ping.attrs.type, 'get');
  assert.equal(ping.attrs.to, 'localhost');
  // The server answers; the answer is consumed, and counts as alive.
  const before = o.sink.elements.length;
  conn.send("<presence from='bob@localhost/b' id='after-ping'/>");
  await o.sink.element((el) => el.attrs.id === 'after-ping');
  assert.ok(!o.sink.elements.slice(before).some((el) => el.name === 'iq'), 'the ping result is not delivered');
  o.clock.tick(30_000);
  assert.equal(o.sink.ends.length, 0, 'answered: still open');
  assert.equal(logged(o.lines, /pinging the server/).length, 1);
  // Idle again for 60 s since the last data: a second ping, which the server never answers.
  conn.mute();
  o.clock.tick(30_000);
  assert.equal(logged(o.lines, /pinging the server/).length, 2);
  o.clock.tick(29_999);
  assert.equal(o.sink.ends.length, 0);
  o.clock.tick(1);
  const end = await o.sink.ended();
  assert.equal(end.kind, 'lost');
  assert.match((end as { error: Error }).error.message, /sent nothing for 30000 ms after a ping/);
  assert.equal(o.clock.pending, 0, 'no timer left');
});

test('before binding, a login step the server never answers ends the stream after pingTimeoutMs (fake clock)', async (t) => {
  const server = await startServer(t);
  const o = connect(server, { pingTimeoutMs: 30_000 });
  await o.sink.opened();
  o.clock.tick(600_000);
  assert.equal(o.sink.ends.length, 0, 'nothing written, nothing due');
  server.connections[0]!.mute();
  o.upstream.send("<message to='bob@localhost' id='m1'><body>no answer expected</body></message>");
  o.clock.tick(600_000);
  assert.equal(o.sink.ends.length, 0, 'a message is not a login step: no answer due');
  o.upstream.send(plainAuth('alice', 'pw'));
  o.clock.tick(29_999);
  assert.equal(o.sink.ends.length, 0);
  o.clock.tick(1);
  const end = await o.sink.ended();
  assert.equal(end.kind, 'lost');
  assert.match((end as { error: Error }).error.message, /after a login step/);
});

test('pingIntervalMs 0: a bound stream is never pinged', async (t) => {
  const server = await startServer(t);
  const o = connect(server, { pingIntervalMs: 0 });
  await o.sink.opened();
  await login(o, 'alice', 'r');
  o.upstream.markBound();
  o.clock.tick(3_600_000);
  assert.equal(o.sink.ends.length, 0);
  assert.equal(o.clock.pending, 0, 'no timer at all');
  o.upstream.close();
  await o.sink.ended();
});
