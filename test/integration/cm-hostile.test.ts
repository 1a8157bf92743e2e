import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectionManager } from '../../src/cm.js';
import { createMemoryLogger } from '../../src/log.js';
import { ScriptedXmppServer } from '../support/scripted-xmpp-server.js';
import { HTTPBIND_NS, postBody, RawBoshClient, type BoshAnswer } from '../support/bosh-http.js';
import { startScriptedCm } from '../support/scripted-cm.js';

/**
 * Hostile input and faults (issue 11), through the whole CM over real HTTP in front of a
 * scripted XMPP server; the pings run on real time with the shortest interval (1 s).
 */
let server: ScriptedXmppServer;
let cm: ConnectionManager;
let url: string;
const memory = createMemoryLogger('trace');

before(async () => {
  server = await ScriptedXmppServer.start({ starttls: 'required' });
  ({ cm, url } = await startScriptedCm(server, { upstream: { pingIntervalS: 1, pingTimeoutS: 1 }, logger: memory.logger }));
});

after(async () => {
  await cm.stop();
  await server.close();
});

/** A stanza nested `depth` levels deep (the stanza itself is level 1). */
function nested(open: string, close: string, depth: number): string {
  return open + '<x>'.repeat(depth - 1) + 'deep' + '</x>'.repeat(depth - 1) + close;
}

/** Polls (each request held up to `wait`) until the CM ends the session; its terminate body. */
async function untilTerminated(c: RawBoshClient, polls = 10): Promise<BoshAnswer> {
  for (let i = 0; i < polls; i++) {
    const answer = await c.send();
    if (answer.attrs.type === 'terminate') return answer;
  }
  throw new Error(`the session did not end within ${polls} polls`);
}

test('B-119: a body with a stanza nested deeper than bosh.maxDepth gets bad-request; others go on', async () => {
  const a = new RawBoshClient(url);
  const b = new RawBoshClient(url);
  await a.create();
  await b.create();
  await b.login('hank', 'pw', 'h1');
  const deep = await postBody(url, `<body rid='${++a.rid}' sid='${a.sid}' ${HTTPBIND_NS}>${nested("<message xmlns='jabber:client'>", '</message>', 5000)}</body>`);
  assert.equal(deep.attrs.type, 'terminate');
  assert.equal(deep.attrs.condition, 'bad-request');
  const ping = await b.send(`<iq type='get' id='p1' to='localhost' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`);
  const result = ping.body.children.length ? ping : await b.send();
  assert.equal(result.body.children[0]!.attrs.type, 'result');
  await b.send('', "type='terminate'");
});

test('issue 11: a 5,000-deep message from the network is dropped for its recipient, whose session goes on; the sender gets policy-violation', async () => {
  const c = new RawBoshClient(url);
  await c.create();
  const jid = await c.login('ivy', 'pw', 'i1');
  const conn = server.connectionOf(jid)!;
  const held = c.send();
  conn.send(nested(`<message type='chat' id='deep' from='mallory@evil.example/x' to='${jid}'>`, '</message>', 5000));
  conn.send(`<message type='chat' id='after' from='bob@localhost/b' to='${jid}'><body>still here</body></message>`);
  let answer = await held;
  const ids = answer.body.children.map((el) => el.attrs.id);
  if (!ids.includes('after')) ids.push(...(answer = await c.send()).body.children.map((el) => el.attrs.id));
  assert.deepEqual(ids, ['after']);
  const bounce = (await conn.waitForElement((el) => el.attrs.id === 'deep')).element;
  assert.equal(bounce.attrs.type, 'error');
  assert.equal(bounce.attrs.to, 'mallory@evil.example/x');
  assert.ok(bounce.getChild('error')!.getChild('policy-violation'));
  assert.match(await cm.metrics.registry.metrics(), /sbosh_upstream_dropped_total\{reason="too-deep"\} 1/);
  assert.ok(memory.lines.some((l) => l.includes('nested too deep; dropped')));
  await c.send('', "type='terminate'");
});

test('X-24 X-25 B-118: a restart before SASL that the server refuses ends the session with remote-stream-error and its error', async () => {
  const c = new RawBoshClient(url);
  await c.create();
  const answer = await c.send('', "xmpp:restart='true' to='localhost'");
  const end = answer.attrs.type === 'terminate' ? answer : await untilTerminated(c);
  assert.equal(end.attrs.condition, 'remote-stream-error', end.text);
  const error = end.body.children.at(-1)!;
  assert.equal(error.name, 'stream:error');
  assert.ok(error.getChild('not-well-formed', 'urn:ietf:params:xml:ns:xmpp-streams'));
});

test('B-127 D19: a server that goes silent after binding is pinged, and its sessions end with remote-connection-failed', async () => {
  const c = new RawBoshClient(url);
  await c.create();
  const jid = await c.login('jack', 'pw', 'j1');
  const conn = server.connectionOf(jid)!;
  // Pings while the server answers: the session stays, the answers never reach the client.
  await conn.waitForElement((el) => el.name === 'iq' && el.getChild('ping', 'urn:xmpp:ping') !== undefined && el.attrs.id!.startsWith('sbosh-ping-'));
  conn.mute();
  const end = await untilTerminated(c);
  assert.equal(end.attrs.condition, 'remote-connection-failed');
  assert.ok(!end.body.children.some((el) => el.name === 'iq'), 'no ping answer for the client');
  await conn.closed;
});

test('B-127: a server that goes silent during login ends the session with remote-connection-failed', async () => {
  const c = new RawBoshClient(url);
  await c.create();
  server.connections.at(-1)!.mute();
  const token = Buffer.from('\0kim\0pw').toString('base64');
  const answer = await c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${token}</auth>`);
  const end = answer.attrs.type === 'terminate' ? answer : await untilTerminated(c);
  assert.equal(end.attrs.condition, 'remote-connection-failed');
});
