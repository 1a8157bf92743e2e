import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ConnectionManager } from '../../src/cm.js';
import { createMemoryLogger } from '../../src/log.js';
import { ScriptedXmppServer } from '../support/scripted-xmpp-server.js';
import { HTTPBIND_NS, postBody, rawPost, RawBoshClient, XBOSH_NS } from '../support/bosh-http.js';
import { startScriptedCm } from '../support/scripted-cm.js';

/** The whole CM over real HTTP on port 0, in front of a scripted XMPP server with STARTTLS. */
let server: ScriptedXmppServer;
let cm: ConnectionManager;
let url: string;
const memory = createMemoryLogger('trace');

before(async () => {
  server = await ScriptedXmppServer.start({ starttls: 'required' });
  ({ cm, url } = await startScriptedCm(server, { http: { compressMinBytes: 200 }, logger: memory.logger }));
});

after(async () => {
  await cm.stop();
  await server.close();
});

test('X-05 X-06 X-07 X-08 X-09 X-12 B-140: creation opens a TLS stream with the client version and answers with features', async () => {
  const c = new RawBoshClient(url);
  const created = await c.create(`to='localhost' from='alice@localhost' wait='10' hold='1' ver='1.11' xmpp:version='1.0' xml:lang='de'`);
  assert.equal(created.status, 200);
  const conn = server.connections.at(-1)!;
  assert.equal(conn.secured, true, 'STARTTLS negotiated by the CM');
  const header = conn.headers.at(-1)!;
  assert.equal(header.version, '1.0');
  assert.equal(header.to, 'localhost');
  assert.equal(header['xml:lang'], 'de');
  assert.equal(header.from, 'alice@localhost');
  assert.ok(created.attrs.authid, 'X-12: authid is the stream id');
  assert.equal(created.attrs['xmpp:version'], '1.0');
  const features = created.body.children[0]!;
  assert.equal(features.name, 'stream:features');
  assert.equal(features.getChild('starttls'), undefined, 'X-15 D22: no <starttls/> for the client');
  await c.send('', "type='terminate'");
});

test('X-11 X-16 X-19 X-20 X-21: SASL passes through, restart reopens the stream on the same TCP connection, bind works', async () => {
  const c = new RawBoshClient(url);
  await c.create();
  const before = server.connections.length;
  const jid = await c.login('alice', 'pw', 'desk');
  assert.equal(jid, 'alice@localhost/desk');
  assert.equal(server.connections.length, before, 'same TCP connection');
  const conn = server.connectionOf(jid)!;
  assert.ok(conn.headers.length >= 3, 'initial, after TLS, after SASL');
  const auth = conn.received.find((r) => r.element.name === 'auth')!;
  assert.equal(auth.element.attrs.mechanism, 'PLAIN');
  await c.send('', "type='terminate'");
});

test('X-22: stanzas in a restart request are not forwarded', async () => {
  const c = new RawBoshClient(url);
  await c.create();
  const token = Buffer.from('\0bob\0pw').toString('base64');
  await c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${token}</auth>`);
  await c.send("<message to='x@localhost' id='sneaky' xmlns='jabber:client'/>", "xmpp:restart='true'");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(server.received.some((r) => r.element.attrs.id === 'sneaky'), false);
  await c.send('', "type='terminate'");
});

test('B-45 B-53 X-04: two clients chat through the CM; stanzas without xmlns reach the server as jabber:client', async () => {
  const a = new RawBoshClient(url);
  const b = new RawBoshClient(url);
  await a.create();
  await b.create();
  const aJid = await a.login('alice', 'pw', 'a1');
  const bJid = await b.login('bob', 'pw', 'b1');
  const waiting = b.send();
  await a.send(`<message to='${bJid}' id='m1'><body>hello &amp; welcome</body></message>`);
  const got = await waiting;
  const msg = got.body.children[0]!;
  assert.equal(msg.name, 'message');
  assert.equal(msg.attrs.xmlns, 'jabber:client', 'inbound stanzas carry their namespace inside <body/>');
  assert.equal(msg.attrs.from, aJid);
  assert.equal(msg.getChild('body')!.text(), 'hello & welcome');
  await a.send('', "type='terminate'");
  await b.send('', "type='terminate'");
});

test('B-78 D17: terminate forwards its payload, then the CM closes the stream', async () => {
  const c = new RawBoshClient(url);
  await c.create();
  const jid = await c.login('carol', 'pw', 'c1');
  const conn = server.connectionOf(jid)!;
  const answer = await c.send("<presence type='unavailable' xmlns='jabber:client'/>", "type='terminate'");
  assert.equal(answer.attrs.type, 'terminate');
  await conn.closed;
  assert.ok(conn.received.some((r) => r.element.name === 'presence' && r.element.attrs.type === 'unavailable'));
  assert.equal(conn.clientClosedStream, true, '</stream:stream> sent');
  const late = await c.send();
  assert.equal(late.attrs.condition, 'item-not-found', 'B-62');
});

test('B-118 X-03 X-24 X-25 D19: a stream error from the server ends the session with remote-stream-error and the error element', async () => {
  const c = new RawBoshClient(url);
  await c.create();
  const jid = await c.login('dave', 'pw', 'd1');
  const held = c.send();
  server.connectionOf(jid)!.sendStreamError('conflict', 'replaced');
  const answer = await held;
  assert.equal(answer.attrs.type, 'terminate');
  assert.equal(answer.attrs.condition, 'remote-stream-error');
  assert.match(answer.text, /xmlns:stream='http:\/\/etherx.jabber.org\/streams'/);
  const error = answer.body.children.at(-1)!;
  assert.equal(error.name, 'stream:error');
  assert.ok(error.getChild('conflict'));
});

test('B-127 D19: losing the upstream TCP connection ends the session with remote-connection-failed', async () => {
  const c = new RawBoshClient(url);
  await c.create();
  const jid = await c.login('erin', 'pw', 'e1');
  const held = c.send();
  server.connectionOf(jid)!.drop();
  const answer = await held;
  assert.equal(answer.attrs.condition, 'remote-connection-failed');
});

test('B-121 X-29: an unserved domain gets host-unknown; B-122: no to gets improper-addressing', async () => {
  const unknown = await postBody(url, `<body rid='1' to='nope.example' wait='10' hold='1' ver='1.11' ${HTTPBIND_NS}/>`);
  assert.equal(unknown.status, 200);
  assert.equal(unknown.attrs.condition, 'host-unknown');
  const none = await postBody(url, `<body rid='1' wait='10' hold='1' ver='1.11' ${HTTPBIND_NS}/>`);
  assert.equal(none.attrs.condition, 'improper-addressing');
});

test('B-01 B-08 B-05 B-47: plain HTTP/1.1 POSTs over fresh or kept-alive connections, Content-Length and no chunking', async () => {
  const c = new RawBoshClient(url);
  const created = await rawPost(url, `<body rid='${c.rid}' to='localhost' wait='10' hold='1' ver='1.11' ${HTTPBIND_NS}/>`);
  assert.equal(created.status, 200);
  assert.equal(created.headers['transfer-encoding'], undefined);
  assert.equal(Number(created.headers['content-length']), created.bytes.length);
  c.sid = /sid='([^']+)'/.exec(created.bytes.toString())![1]!;
  const fresh = await rawPost(url, `<body rid='${++c.rid}' sid='${c.sid}' type='terminate' ${HTTPBIND_NS}/>`, {
    connection: 'close',
    'content-type': 'application/x-www-form-urlencoded', // B-07: ignored
  });
  assert.equal(fresh.status, 200);
  assert.match(fresh.bytes.toString(), /type='terminate'/);
});

test('B-06 B-37 B-38: responses are compressed when accepted; gzip request bodies are decoded', async () => {
  const c = new RawBoshClient(url);
  const created = await c.create();
  assert.equal(created.attrs.accept, 'gzip,deflate');
  await c.login('frank', 'pw', 'f1');
  const ping = `<iq type='get' id='p1' to='localhost' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`;
  const answer = await rawPost(url, gzipSync(`<body rid='${++c.rid}' sid='${c.sid}' ${HTTPBIND_NS}>${ping}</body>`), {
    'content-encoding': 'gzip',
  });
  assert.equal(answer.status, 200);
  assert.match(answer.bytes.toString(), /type='result'/, 'the gzip-encoded request was understood and answered');
  await c.send('', "type='terminate'");
  // A large response (the creation response with features), asked for with gzip.
  const big = await rawPost(url, `<body rid='5' to='localhost' wait='10' hold='1' ver='1.11' ${XBOSH_NS} ${HTTPBIND_NS}/>`, {
    'accept-encoding': 'gzip',
  });
  assert.equal(big.status, 200);
  assert.equal(big.headers['content-encoding'], 'gzip');
  assert.equal(Number(big.headers['content-length']), big.bytes.length);
  assert.match(gunzipSync(big.bytes).toString(), /stream:features/);
  const sid = /sid='([^']+)'/.exec(gunzipSync(big.bytes).toString())![1]!;
  await postBody(url, `<body rid='6' sid='${sid}' type='terminate' ${HTTPBIND_NS}/>`);
});

test('B-119: a malformed body ends its own session only; the others go on', async () => {
  const a = new RawBoshClient(url);
  const b = new RawBoshClient(url);
  await a.create();
  await b.create();
  await b.login('gina', 'pw', 'g1');
  const bad = await postBody(url, `<body rid='${++a.rid}' sid='${a.sid}' ${HTTPBIND_NS}><message></body>`);
  assert.equal(bad.attrs.condition, 'bad-request');
  const ping = await b.send(`<iq type='get' id='p2' to='localhost' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`);
  const result = ping.body.children.length ? ping : await b.send();
  assert.equal(result.body.children[0]!.attrs.type, 'result');
  await b.send('', "type='terminate'");
});

test('B-119: a body that is not valid UTF-8 gets bad-request, ends its own session and forwards nothing', async () => {
  const a = new RawBoshClient(url);
  await a.create();
  await a.login('hana', 'pw', 'h1');
  const sessions = cm.stats().sessions;
  const head = Buffer.from(`<body rid='${++a.rid}' sid='${a.sid}' ${HTTPBIND_NS}><message to='x@localhost' id='latin1' xmlns='jabber:client'><body>caf`);
  const bytes = Buffer.concat([head, Buffer.from([0xe9]), Buffer.from('</body></message></body>')]);
  const answer = await rawPost(url, bytes, { 'content-type': 'text/xml; charset=utf-8' });
  assert.equal(answer.status, 200);
  assert.match(answer.bytes.toString(), /type='terminate'/);
  assert.match(answer.bytes.toString(), /condition='bad-request'/);
  assert.equal(cm.stats().sessions, sessions - 1, 'the session it names has ended');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(server.received.some((r) => r.element.attrs.id === 'latin1'), false, 'nothing forwarded with U+FFFD in it');
});

test('S-11: no password, SASL payload or key reaches the log', () => {
  const all = memory.lines.join('\n');
  assert.ok(memory.lines.length > 20);
  for (const secret of [Buffer.from('\0alice\0pw').toString('base64'), Buffer.from('\0bob\0pw').toString('base64')]) {
    assert.equal(all.includes(secret), false);
  }
});

test('metrics: GET /metrics serves the counters in Prometheus form, without secrets', async () => {
  const res = await fetch(url.replace('/http-bind', '/metrics'));
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /sbosh_sessions_created_total \d+/);
  assert.match(text, /sbosh_http_requests_total \d+/);
  assert.equal(text.includes(Buffer.from('\0alice\0pw').toString('base64')), false);
});
