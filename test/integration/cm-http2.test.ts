import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as h2connect, constants as h2constants, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionManager } from '../../src/cm.js';
import { createMemoryLogger } from '../../src/log.js';
import { createTestCertificate } from '../support/certs.js';
import { ScriptedXmppServer } from '../support/scripted-xmpp-server.js';
import { HTTPBIND_NS, XBOSH_NS } from '../support/bosh-http.js';
import { H2BoshClient } from '../support/h2-bosh.js';
import { startScriptedCm } from '../support/scripted-cm.js';

/**
 * The whole CM serving BOSH over HTTP/2 with TLS (http.tls), in front of the scripted XMPP server:
 * what 20 browser tabs on one HTTP/2 connection do.
 */
let server: ScriptedXmppServer;
let cm: ConnectionManager;
let url: string;
let ca: string;
let certDir: string;
const memory = createMemoryLogger('debug');

before(async () => {
  server = await ScriptedXmppServer.start({ starttls: 'required' });
  const pem = await createTestCertificate(['localhost']);
  ca = pem.ca;
  certDir = await mkdtemp(join(tmpdir(), 'shared-bosh-cm-h2-'));
  const certFile = join(certDir, 'cert.pem');
  const keyFile = join(certDir, 'key.pem');
  await writeFile(certFile, pem.cert);
  await writeFile(keyFile, pem.key);
  ({ cm, url } = await startScriptedCm(server, { http: { tls: { certFile, keyFile } }, logger: memory.logger }));
});

after(async () => {
  await cm.stop();
  await server.close();
  await rm(certDir, { recursive: true, force: true });
});

/** One HTTP/2 connection to the CM, like the one a browser shares between all tabs of an origin. */
async function connect(): Promise<ClientHttp2Session> {
  const session = h2connect(new URL(url).origin, { ca });
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

test('HTTP/2 + TLS: the CM listens on https://; creation over ALPN h2 opens the upstream stream and answers with features', async () => {
  assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/http-bind$/);
  const session = await connect();
  try {
    assert.equal(session.alpnProtocol, 'h2');
    const c = new H2BoshClient(session);
    const created = await c.create();
    assert.equal(created.status, 200);
    assert.ok(created.attrs.sid);
    assert.equal(Number(created.headers['content-length']), Buffer.byteLength(created.text));
    assert.equal(created.headers.connection, undefined);
    assert.equal(created.body.children[0]?.name, 'stream:features');
    assert.equal(server.connections.at(-1)!.secured, true, 'STARTTLS upstream as over HTTP/1.1');
    await c.send('', "type='terminate'");
  } finally {
    session.close();
  }
});

test('HTTP/2 + TLS: login and a message round trip between two sessions on one connection', async () => {
  const session = await connect();
  try {
    const a = new H2BoshClient(session);
    const b = new H2BoshClient(session);
    await a.create();
    await b.create();
    const aJid = await a.login('alice', 'h2a');
    const bJid = await b.login('bob', 'h2b');
    assert.equal(aJid, 'alice@localhost/h2a');
    // Each send is held until something comes for its session (or the next request of it).
    const bPoll = b.send();
    const aPoll = a.send(`<message to='${bJid}' id='h2m1'><body>over one HTTP/2 connection</body></message>`);
    const got = (await bPoll).body.children[0]!;
    assert.equal(got.name, 'message');
    assert.equal(got.attrs.from, aJid);
    assert.equal(got.getChild('body')!.text(), 'over one HTTP/2 connection');
    const bReply = b.send(`<message to='${aJid}' id='h2m2'><body>and back</body></message>`);
    const back = (await aPoll).body.children[0]!;
    assert.equal(back.attrs.from, bJid);
    assert.equal(back.getChild('body')!.text(), 'and back');
    await Promise.all([a.send('', "type='terminate'"), b.send('', "type='terminate'"), bReply]);
  } finally {
    session.close();
  }
});

test('20 tabs on ONE HTTP/2 connection: 20 sessions each hold a request, and every one is answered with its message', async () => {
  const session = await connect();
  try {
    const tabs = Array.from({ length: 20 }, () => new H2BoshClient(session));
    await Promise.all(tabs.map((tab) => tab.create()));
    const jids = await Promise.all(tabs.map((tab, i) => tab.login(`tab${i}`, `t${i}`)));
    const sender = new H2BoshClient(session);
    await sender.create();
    await sender.login('sender', 's');

    // Each tab's long poll: an empty request the CM holds (hold='1').
    let answered = 0;
    const held = tabs.map((tab) => tab.send().finally(() => (answered += 1)));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(answered, 0, 'all 20 requests are held at once, beyond the ~6 HTTP/1.1 connections of a browser');
    assert.equal(cm.stats().sessions, 21);

    const messages = jids.map((jid, i) => `<message to='${jid}' id='fan${i}'><body>tab ${i}</body></message>`).join('');
    const sent = sender.send(messages);
    const answers = await Promise.all(held);
    answers.forEach((answer, i) => {
      const message = answer.body.children.find((el) => el.name === 'message');
      assert.ok(message, `tab ${i}: ${answer.text}`);
      assert.equal(message.getChild('body')!.text(), `tab ${i}`);
    });
    await Promise.all([...[...tabs, sender].map((tab) => tab.send('', "type='terminate'")), sent]);
  } finally {
    session.close();
  }
});

test('B-50 D24 HTTP/2: a held request whose stream is reset is dropped like a closed connection: a message sent then waits for the next request', async () => {
  const session = await connect();
  try {
    const a = new H2BoshClient(session);
    await a.create();
    const aJid = await a.login('reset', 'r');
    const b = new H2BoshClient(session);
    await b.create();
    await b.login('resetter', 'x');
    a.rid += 1;
    const stream = session.request({ ':method': 'POST', ':path': new URL(url).pathname, 'content-type': 'text/xml; charset=utf-8' });
    stream.on('error', () => undefined);
    let written = '';
    stream.on('data', (chunk: Buffer) => (written += chunk.toString()));
    stream.end(`<body rid='${a.rid}' sid='${a.sid}' ${XBOSH_NS} ${HTTPBIND_NS}/>`);
    await new Promise((r) => setTimeout(r, 300));
    const drops = () => memory.lines.filter((l) => l.includes('client went away from a held request')).length;
    const before = drops();
    stream.close(h2constants.NGHTTP2_CANCEL);
    for (let i = 0; i < 500 && drops() === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(drops(), before + 1, 'the CM saw the stream reset');
    // The message comes while a holds no request: it waits for a's next one instead of going to the reset stream.
    const sent = b.send(`<message to='${aJid}' id='after-reset'><body>still there</body></message>`);
    await new Promise((r) => setTimeout(r, 100));
    const answer = await a.send();
    assert.equal(answer.attrs.type, undefined, answer.text);
    assert.equal(answer.body.children.find((el) => el.name === 'message')?.attrs.id, 'after-reset');
    assert.equal(written, '', 'nothing was written to the reset stream');
    await Promise.all([a.send('', "type='terminate'"), b.send('', "type='terminate'"), sent]);
  } finally {
    session.close();
  }
});

test('D20 HTTP/2 + TLS: stop() answers a held request with system-shutdown, then closes the connection (GOAWAY)', async () => {
  // Runs last (node:test keeps file order): stop the CM here and check what the client sees.
  const session = await connect();
  session.on('error', () => undefined);
  const c = new H2BoshClient(session);
  await c.create();
  await c.login('zoe', 'z');
  const held = c.send();
  const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
  await cm.stop();
  const last = await held;
  assert.equal(last.attrs.type, 'terminate');
  assert.equal(last.attrs.condition, 'system-shutdown', 'D20: the held request is answered over HTTP/2 before the session closes');
  await closed;
  await assert.rejects(connect(), /ECONNREFUSED/);
});
