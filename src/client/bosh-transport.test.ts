import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../test/support/fake-clock.js';
import { BoshTransport, initialRid, MAX_RID } from './bosh-transport.js';
import { BoshError } from './errors.js';
import { SaxesXmlCodec } from './saxes-codec.js';
import { ManualFetch, settle } from '../../test/support/client/manual-fetch.js';
import { xml } from './xml.js';

const HB = "xmlns='http://jabber.org/protocol/httpbind'";
const CREATED = `<body ${HB} sid='s1' wait='60' requests='2' hold='1' polling='2' inactivity='60' ver='1.11'/>`;
const EMPTY = `<body ${HB}/>`;

function setup(options: { ack?: boolean; rid?: number; created?: string } = {}) {
  const clock = new FakeClock();
  const net = new ManualFetch();
  const t = new BoshTransport({
    url: 'http://cm.test/http-bind',
    codec: new SaxesXmlCodec(),
    fetch: net.fetch,
    clock,
    rid: options.rid ?? 1000,
    ...(options.ack !== undefined ? { ack: options.ack } : {}),
  });
  const bodies: string[] = [];
  t.on('body', (b) => bodies.push(b.toString()));
  const closed: { error?: BoshError }[] = [];
  t.on('closed', (c) => closed.push(c));
  return { clock, net, t, bodies, closed };
}

async function open(options: { ack?: boolean; rid?: number; created?: string } = {}) {
  const s = setup(options);
  const created = s.t.create({ to: 'example.com' });
  await settle();
  s.net.last.respond(options.created ?? CREATED);
  await created;
  s.t.start();
  await settle();
  return s;
}

test('C-08: the initial rid is random, large and leaves room below 2^53 - 1', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 50; i++) {
    const rid = initialRid();
    assert.ok(Number.isSafeInteger(rid) && rid >= 2 ** 20 && rid + 2 ** 32 < MAX_RID);
    seen.add(rid);
  }
  assert.ok(seen.size > 45, 'rids repeat: not random');
  assert.ok(initialRid((b) => b.fill(0xff)) + 2 ** 32 < MAX_RID);
  assert.equal(initialRid((b) => b.fill(0)), 2 ** 20);
});

test('C-08, C-03, C-04: creation request has no sid and the creation attributes; later rids count up by one with the sid', async () => {
  const { net, t } = await open({ rid: 5000 });
  const [create, poll] = net.calls;
  assert.match(create!.body, /^<body rid='5000' xmlns='http:\/\/jabber.org\/protocol\/httpbind' to='example.com' xml:lang='en' ver='1.11' wait='60' hold='1'/);
  assert.match(create!.body, /xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/);
  assert.doesNotMatch(create!.body, /sid=/);
  assert.equal(poll!.rid, 5001);
  assert.match(poll!.body, /sid='s1'/);
  assert.doesNotMatch(poll!.body, /to=|wait=|hold=|ver=/);
  t.send(xml('message', { to: 'a@b' }));
  await settle();
  assert.equal(net.last.rid, 5002);
  assert.equal(t.rid, 5003);
});

test('§10 (C-06): one request is always held while idle', async () => {
  const { net } = await open();
  assert.equal(net.open.length, 1, 'a held request after start');
  net.last.respond(EMPTY);
  await settle();
  assert.equal(net.open.length, 1, 'a new held request after the answer');
  assert.equal(net.last.rid, 1002);
  assert.match(net.last.body, /^<body rid='1002' sid='s1' xmlns='http:\/\/jabber.org\/protocol\/httpbind'\/>$/);
});

test('§11 (C-07): never more than `requests` in flight; queued stanzas go out together in one request', async () => {
  const { net, t } = await open();
  t.send(xml('message', { id: 'm1' }));
  await settle();
  assert.equal(net.open.length, 2);
  t.send(xml('message', { id: 'm2' }));
  t.send(xml('message', { id: 'm3' }), xml('presence', {}));
  await settle();
  assert.equal(net.open.length, 2, 'requests=2: the third waits');
  net.open[0]!.respond(EMPTY);
  await settle();
  assert.equal(net.open.length, 2);
  const batched = net.last.body;
  assert.match(batched, /<message id='m2'\/><message id='m3'\/><presence\/><\/body>$/);
  assert.equal(net.calls.filter((c) => c.body.includes('m2')).length, 1);
});

test('§14.3 (C-09): a network error is retried with the same rid and byte-identical body after a backoff', async () => {
  const { net, t, clock } = await open();
  t.send(xml('message', { id: 'x' }, xml('body', {}, 'hi & <bye>')));
  await settle();
  const original = net.last;
  original.fail();
  await settle();
  assert.equal(net.calls.length, 3, 'no resend before the backoff');
  clock.tick(249);
  await settle();
  assert.equal(net.calls.length, 3);
  clock.tick(1);
  await settle();
  assert.equal(net.calls.length, 4);
  assert.equal(net.last.rid, original.rid);
  assert.equal(net.last.body, original.body);
  net.last.respond('', 503);
  await settle();
  clock.tick(500); // second backoff doubles
  await settle();
  assert.equal(net.calls.length, 5);
  assert.equal(net.last.body, original.body);
  net.last.respond(EMPTY);
  await settle();
  assert.equal(t.status, 'open');
});

test('§14.3: a request with no answer in wait + margin is abandoned and resent as is', async () => {
  const { net, clock } = await open();
  const held = net.last;
  clock.tick(60_000 + 10_000);
  await settle();
  assert.equal(held.aborted, true);
  clock.tick(250);
  await settle();
  assert.equal(net.last.body, held.body);
  assert.equal(net.open.length, 1);
});

test('§17.3 (C-09): after type=error every unanswered request up to it is resent byte for byte; stale answers are ignored', async () => {
  const { net, t, bodies } = await open();
  t.send(xml('message', { id: 'a' }));
  await settle();
  const [first, second] = net.open;
  second!.respond(`<body ${HB} type='error'/>`);
  await settle();
  assert.equal(first!.aborted, true, 'the old attempt of the earlier rid is dropped');
  const resent = net.open;
  assert.deepEqual(resent.map((c) => c.rid), [first!.rid, second!.rid]);
  assert.deepEqual(resent.map((c) => c.body), [first!.body, second!.body]);
  resent[1]!.respond(`<body ${HB}><message xmlns='jabber:client' id='r2'/></body>`);
  resent[0]!.respond(`<body ${HB}><message xmlns='jabber:client' id='r1'/></body>`);
  await settle();
  assert.deepEqual(bodies.map((b) => /id='(r\d)'/.exec(b)?.[1]), ['r1', 'r2'], '§14.2: processed in rid order');
});

test('§14.2: responses that arrive out of order are processed in rid order', async () => {
  const { net, t, bodies } = await open();
  t.send(xml('presence', {}));
  await settle();
  const [a, b] = net.open;
  b!.respond(`<body ${HB}><message xmlns='jabber:client' id='second'/></body>`);
  await settle();
  assert.equal(bodies.length, 0);
  a!.respond(`<body ${HB}><message xmlns='jabber:client' id='first'/></body>`);
  await settle();
  assert.match(bodies[0]!, /first/);
  assert.match(bodies[1]!, /second/);
});

test('terminal refusal of a creation carries condition and shared:error', async () => {
  const { net, t, closed } = setup();
  const created = t.create({ to: 'example.com', 'xmlns:shared': 'urn:xmpp:tmp:shared-bosh:0', 'shared:key': 'k'.repeat(32) });
  await settle();
  assert.match(net.last.body, /shared:key='k{32}'/);
  net.last.respond(
    `<body ${HB} type='terminate' condition='policy-violation' xmlns:shared='urn:xmpp:tmp:shared-bosh:0' shared:error='not-ready'/>`,
  );
  await assert.rejects(created, (err: unknown) => err instanceof BoshError && err.condition === 'policy-violation' && err.sharedError === 'not-ready');
  assert.equal(t.status, 'closed');
  assert.equal(closed.length, 1);
});

test('a terminal body ends the session with its condition after delivering its stanzas', async () => {
  const { net, closed, bodies } = await open();
  net.last.respond(`<body ${HB} type='terminate' condition='other-request'><message xmlns='jabber:client' id='last'/></body>`);
  await settle();
  assert.match(bodies[0]!, /last/);
  assert.equal(closed[0]?.error?.condition, 'other-request');
  assert.equal(net.open.length, 0);
});

test('§13: terminate sends queued stanzas and the payload, and resolves on the answer', async () => {
  const { net, t, closed } = await open();
  t.send(xml('message', { id: 'q' }));
  const done = t.terminate([xml('presence', { type: 'unavailable' })], { 'shared:close': 'all', 'xmlns:shared': 'urn:xmpp:tmp:shared-bosh:0' });
  await settle();
  const term = net.last;
  assert.match(term.body, /type='terminate' shared:close='all'/);
  assert.match(term.body, /<message id='q'\/><presence type='unavailable'\/>/);
  net.open[0]!.respond(`<body ${HB} type='terminate'/>`);
  term.respond(EMPTY);
  await done;
  assert.equal(t.status, 'closed');
  assert.deepEqual(closed, [{}]);
});

test('the transport gives up after maxRetries failures with connection-failed', async () => {
  const { net, clock, closed, t } = await open();
  for (let i = 0; i <= 5; i++) {
    net.open[0]!.fail();
    await settle();
    clock.tick(10_000);
    await settle();
  }
  assert.equal(t.status, 'closed');
  assert.equal(closed[0]?.error?.condition, 'connection-failed');
});

test('§9 (C-05): with acks, ack=1 on creation, ack only while a response is missing, report triggers a resend', async () => {
  const { net, t } = await open({ ack: true, created: `<body ${HB} sid='s1' requests='2' hold='1' wait='60' ack='1000' ver='1.11'/>` });
  assert.match(net.calls[0]!.body, /ack='1'/);
  assert.doesNotMatch(net.calls[1]!.body, /ack=/, 'all earlier responses received');
  t.send(xml('message', {}));
  await settle();
  const third = net.last;
  assert.match(third.body, /ack='1000'/, 'the response to 1001 is still missing');
  third.respond(`<body ${HB} report='1001' time='2500'/>`);
  await settle();
  const resent = net.calls.filter((c) => c.rid === 1001);
  assert.equal(resent.length, 2);
  assert.equal(resent[1]!.body, resent[0]!.body);
});

test('a legacy CM (no ver) ends the session on HTTP 404', async () => {
  const { net, closed } = await open({ created: `<body ${HB} sid='s1' requests='2' hold='1' wait='60'/>` });
  net.last.respond('', 404);
  await settle();
  assert.equal(closed[0]?.error?.condition, 'item-not-found');
});

test('D23: snapshot() lists unanswered requests; resume() resends them byte for byte, then goes on with the next rid', async () => {
  const { net, t } = await open();
  t.send(xml('message', { id: 'unanswered' }));
  await settle();
  const state = t.snapshot()!;
  assert.equal(state.sid, 's1');
  assert.equal(state.rid, 1003);
  assert.deepEqual(state.pending.map((p) => p.rid), [1001, 1002]);
  t.close();

  const clock = new FakeClock();
  const net2 = new ManualFetch();
  const t2 = new BoshTransport({ url: 'http://cm.test/http-bind', codec: new SaxesXmlCodec(), fetch: net2.fetch, clock });
  t2.resume(state);
  t2.start();
  await settle();
  assert.deepEqual(net2.calls.map((c) => c.body), state.pending.map((p) => p.body));
  net2.calls[0]!.respond(EMPTY);
  net2.calls[1]!.respond(EMPTY);
  await settle();
  assert.equal(net2.last.rid, 1003);
  assert.equal(net2.open.length, 1);
});

test('restart (C-11) is its own request with to, xml:lang and xmpp:restart and no payload', async () => {
  const { net, t } = await open();
  t.send(xml('auth', { xmlns: 'urn:ietf:params:xml:ns:xmpp-sasl', mechanism: 'PLAIN' }, 'AGEAYg=='));
  await settle();
  const [held, auth] = net.open;
  held!.respond(EMPTY);
  auth!.respond(`<body ${HB}><success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></body>`);
  await settle();
  t.restart('example.com');
  t.send(xml('iq', { id: 'later' }));
  await settle();
  assert.equal(net.open.length, 2, 'the held poll and the restart');
  net.open[0]!.respond(EMPTY);
  await settle();
  const restart = net.calls.find((c) => c.body.includes('xmpp:restart'))!;
  assert.match(restart.body, /to='example.com' xml:lang='en' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'\/>$/);
  assert.ok(net.calls.find((c) => c.body.includes("id='later'"))!.rid > restart.rid);
});
