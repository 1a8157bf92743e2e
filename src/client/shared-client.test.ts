import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../test/support/fake-clock.js';
import type { Element } from '../xml/element.js';
import { BoshError, SaslError } from './errors.js';
import { BrowserKeyShare } from './key-exchange.js';
import { NS, KEY_NODE } from './namespaces.js';
import { SaxesXmlCodec } from './saxes-codec.js';
import { SharedClient, type ConnectOptions, type SharedClientOptions, type StanzaEvent } from './shared-client.js';
import { isValidSharedKey } from './shared-key.js';
import { MemoryStore } from './storage.js';
import { FakeCm, type FakeCmOptions } from '../../test/support/client/fake-cm.js';
import { settle } from '../../test/support/client/manual-fetch.js';
import { child, textOf, xml } from './xml.js';

const BASE: ConnectOptions = { url: 'http://cm.test/http-bind', domain: 'example.com', jid: 'juliet@example.com', password: 'r0m30' };

function world(cmOptions: FakeCmOptions = {}) {
  const cm = new FakeCm(cmOptions);
  const clock = new FakeClock();
  const clients: SharedClient[] = [];
  const make = (opts: SharedClientOptions = {}) => {
    const c = new SharedClient({ fetch: cm.fetch, clock, codec: new SaxesXmlCodec(), ...opts });
    const stanzas: StanzaEvent[] = [];
    c.on('stanza', (s) => stanzas.push(s));
    clients.push(c);
    return { c, stanzas };
  };
  /** Lets async work run while fake time moves on (backoffs, probes). */
  const run = async <T>(p: Promise<T>, stepMs = 50, steps = 400): Promise<T> => {
    let done = false;
    p.then(() => (done = true), () => (done = true));
    for (let i = 0; i < steps && !done; i++) {
      await settle(3);
      if (!done) clock.tick(stepMs);
    }
    return p;
  };
  const cleanup = () => {
    for (const c of clients) c.detach();
  };
  return { cm, clock, make, run, cleanup };
}

function sentBy(cm: FakeCm, sid: string): string[] {
  return cm.log.filter((b) => b.includes(`sid='${sid}'`));
}

for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] as const) {
  test(`creator: shared:key on creation, ${mechanism} login, restart, bind -> result 'created'`, async (t) => {
    const w = world({ mechanisms: mechanism === 'PLAIN' ? ['PLAIN'] : [mechanism, 'PLAIN'] });
    t.after(w.cleanup);
    const { c } = w.make();
    const res = await c.connect({ ...BASE, resource: 'tab1' });
    assert.equal(res.result, 'created');
    assert.equal(res.jid, 'juliet@example.com/tab1');
    assert.equal(c.jid, 'juliet@example.com/tab1');
    assert.ok(c.key && isValidSharedKey(c.key));
    assert.match(w.cm.log[0]!, new RegExp(`shared:key='${c.key}' xmlns:shared|xmlns:shared='${NS.SHARED}' shared:key='${c.key}'`));
    assert.ok(w.cm.log.some((b) => b.includes(`mechanism='${mechanism}'`)));
    assert.ok(w.cm.log.some((b) => b.includes("xmpp:restart='true'")));
    assert.equal(c.status, 'connected');
  });
}

test('SCRAM: connect fails when the server signature is wrong', async (t) => {
  const w = world({ badServerSignature: true });
  t.after(w.cleanup);
  const { c } = w.make();
  await assert.rejects(c.connect(BASE), (e: unknown) => e instanceof SaslError && e.condition === 'server-signature-mismatch');
  assert.equal(c.status, 'disconnected');
});

test('a wrong password fails with the SASL condition', async (t) => {
  const w = world();
  t.after(w.cleanup);
  const { c } = w.make();
  await assert.rejects(c.connect({ ...BASE, password: 'nope' }), (e: unknown) => e instanceof SaslError && e.condition === 'not-authorized');
});

test('legacy session establishment when the server requires it', async (t) => {
  const w = world({ requireSession: true });
  t.after(w.cleanup);
  const { c } = w.make();
  await c.connect(BASE);
  assert.ok(w.cm.log.some((b) => b.includes(NS.SESSION)));
});

test("D9: a CM without the extension gives 'unshared'; share:false sends no key", async (t) => {
  const w = world({ shared: false });
  t.after(w.cleanup);
  const a = w.make().c;
  assert.equal((await a.connect(BASE)).result, 'unshared');
  assert.equal(a.key, undefined);
  const b = w.make().c;
  assert.equal((await b.connect({ ...BASE, share: false })).result, 'unshared');
  assert.doesNotMatch(w.cm.log.at(-1)!, /shared/);
});

test("D1, D7: a second client attaches with the key: own sid, shared:jid, no SASL; echo and live stanzas; own IQ result", async (t) => {
  const w = world();
  t.after(w.cleanup);
  const A = w.make();
  await A.c.connect({ ...BASE, resource: 'a' });
  const B = w.make();
  const res = await B.c.connect({ url: BASE.url, domain: BASE.domain, key: A.c.key! });
  assert.equal(res.result, 'attached');
  assert.equal(res.jid, 'juliet@example.com/a');
  assert.notEqual(res.sid, A.c.sid);
  assert.equal(sentBy(w.cm, res.sid).some((b) => b.includes(NS.SASL) || b.includes('xmpp:restart')), false);

  A.c.send(xml('message', { to: 'romeo@example.net', id: 'm1' }, xml('body', {}, 'hi')));
  await settle();
  const echo = B.stanzas.find((s) => s.element.attrs.id === 'm1');
  assert.equal(echo?.kind, 'echo');
  assert.equal(A.stanzas.some((s) => s.element.attrs.id === 'm1'), false, 'the sender does not get its own stanza');

  w.cm.inbound(w.cm.linkOf(A.c.key!)!, xml('message', { from: 'romeo@example.net/x', id: 'in1' }));
  await settle();
  assert.equal(A.stanzas.find((s) => s.element.attrs.id === 'in1')?.kind, 'live');
  assert.equal(B.stanzas.find((s) => s.element.attrs.id === 'in1')?.kind, 'live');
  assert.equal(B.c.seq, w.cm.linkOf(A.c.key!)!.seq);

  const result = await B.c.iq(xml('iq', { type: 'get', to: 'example.com' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  assert.equal(result.attrs.type, 'result');
  assert.equal(A.stanzas.at(-1)?.kind, 'echo', 'A saw the request as an echo');
});

test('D6: not-ready is retried with backoff, then attaches', async (t) => {
  const w = world();
  t.after(w.cleanup);
  const A = w.make();
  await A.c.connect(BASE);
  w.cm.notReady = 2;
  const B = w.make();
  const start = w.clock.now();
  const res = await w.run(B.c.connect({ url: BASE.url, domain: BASE.domain, key: A.c.key! }));
  assert.equal(res.result, 'attached');
  const attempts = w.cm.log.filter((b) => b.includes(`shared:key='${A.c.key}'`) && !b.includes('sid='));
  assert.equal(attempts.length, 1 + 3, 'creation + three attach attempts');
  assert.ok(w.clock.now() - start >= 250 + 500, 'backoff 250 ms, then 500 ms');
});

test('a refused key (weak-key) leads to a link of our own with a fresh key', async (t) => {
  const w = world();
  t.after(w.cleanup);
  const { c } = w.make();
  // 32 characters but one outside the alphabet: the library does not even try it.
  const res = await c.connect({ ...BASE, key: 'x'.repeat(31) + '!' });
  assert.equal(res.result, 'created');
  assert.notEqual(c.key, 'x'.repeat(31) + '!');
});

test("an attach without credentials to a dead link fails with credentials-required and leaves nothing behind", async (t) => {
  const w = world();
  t.after(w.cleanup);
  const { c } = w.make();
  await assert.rejects(c.connect({ url: BASE.url, domain: BASE.domain, key: 'k'.repeat(43) }), { name: 'ConnectError' });
  assert.equal(w.cm.members.size, 0, 'the accidental link was terminated');
});

test('D18: disconnect({ closeAll }) ends every member with other-request; a plain disconnect ends only this one', async (t) => {
  const w = world();
  t.after(w.cleanup);
  const A = w.make();
  await A.c.connect(BASE);
  const B = w.make();
  const C = w.make();
  await B.c.connect({ url: BASE.url, domain: BASE.domain, key: A.c.key! });
  await C.c.connect({ url: BASE.url, domain: BASE.domain, key: A.c.key! });
  const ended = new Promise<{ error?: Error }>((r) => B.c.once('disconnected', r));
  await C.c.disconnect();
  assert.equal(C.c.status, 'disconnected');
  assert.equal(B.c.status, 'connected');
  assert.match(w.cm.log.at(-1)!, /type='terminate'><presence type='unavailable' xmlns='jabber:client'\/><\/body>$/);
  await A.c.disconnect({ closeAll: true });
  assert.match(w.cm.log.at(-1)!, /shared:close='all'/);
  const { error } = await ended;
  assert.ok(error instanceof BoshError && error.condition === 'other-request');
});

test('D23: a reloaded page resumes its own member (same sid, next rid) from storage', async (t) => {
  const w = world();
  t.after(w.cleanup);
  const storage = new MemoryStore();
  const A = w.make({ storage, resumeProbeMs: 1000 });
  await A.c.connect(BASE);
  const sid = A.c.sid;
  const key = A.c.key;
  A.c.detach(); // the page goes away without a terminate
  const A2 = w.make({ storage, resumeProbeMs: 1000 });
  const announced: string[] = [];
  A2.c.on('key', (k) => announced.push(k));
  const res = await w.run(A2.c.connect(BASE));
  assert.equal(res.resumed, true);
  assert.deepEqual(announced, [key], 'a resumed tab announces its key again (same-origin key sharing)');
  assert.equal(res.sid, sid);
  assert.equal(res.result, 'created');
  assert.equal(A2.c.key, key);
  const link = w.cm.linkOf(key!)!;
  assert.equal(link.members.size, 1, 'no second member');
  w.cm.inbound(link, xml('message', { id: 'after-reload' }));
  await settle();
  assert.equal(A2.stanzas.find((s) => s.element.attrs.id === 'after-reload')?.kind, 'live');
});

test('D23, D14b: when the saved member is gone, attach with the key and shared:since; missed events come as replay', async (t) => {
  const w = world();
  t.after(w.cleanup);
  const storage = new MemoryStore();
  const A = w.make();
  await A.c.connect(BASE);
  const B = w.make({ storage });
  await B.c.connect({ url: BASE.url, domain: BASE.domain, key: A.c.key! });
  const link = w.cm.linkOf(A.c.key!)!;
  w.cm.inbound(link, xml('message', { id: 'seen' }));
  await settle();
  const seenSeq = B.c.seq;
  B.c.detach();
  w.cm.forget(B.c.sid!); // e.g. its inactivity ran out while the page reloaded
  w.cm.inbound(link, xml('message', { id: 'missed' }));
  A.c.send(xml('message', { id: 'missed-own-echo' }));
  await settle();

  const B2 = w.make({ storage });
  const res = await w.run(B2.c.connect({ url: BASE.url, domain: BASE.domain }));
  assert.equal(res.result, 'attached');
  assert.equal(res.resumed, false);
  assert.match(w.cm.log.find((b) => b.includes('shared:since'))!, new RegExp(`shared:since='${seenSeq}'`));
  const replayed = B2.stanzas.filter((s) => s.kind === 'replay').map((s) => [s.element.attrs.id, s.echo]);
  assert.deepEqual(replayed, [['missed', false], ['missed-own-echo', true]]);
  assert.equal(B2.c.seq, link.seq);
});

test('D23: a resume refused late (after the probe) still falls back to an attach', async (t) => {
  const w = world();
  t.after(w.cleanup);
  const storage = new MemoryStore();
  const A = w.make();
  await A.c.connect(BASE);
  const B = w.make({ storage, resumeProbeMs: 100 });
  await B.c.connect({ url: BASE.url, domain: BASE.domain, key: A.c.key! });
  B.c.detach();
  const B2 = w.make({ storage, resumeProbeMs: 100 });
  const res = await w.run(B2.c.connect({ url: BASE.url, domain: BASE.domain }));
  assert.equal(res.resumed, true);
  // Now the CM forgets the member and answers its held request with item-not-found.
  const m = w.cm.members.get(B2.c.sid!)!;
  w.cm.forget(m.sid);
  m.held.shift()!.resolve("<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='item-not-found'/>");
  await w.run(new Promise((r) => B2.c.on('status', (s) => s === 'connected' && r(s))));
  assert.equal(B2.c.result, 'attached');
  assert.notEqual(B2.c.sid, m.sid);
});

/** A server-side PEP / private XML store for the key exchange tests. */
function keyServer(options: { publishOptions: boolean }) {
  const pep = new Map<string, Element>();
  let priv: Element | undefined;
  const iqs: Element[] = [];
  const handler = (iq: Element): Element | undefined => {
    iqs.push(iq);
    const query = child(iq, 'query');
    if (query?.attrs.xmlns === NS.DISCO_INFO) {
      return xml('iq', { type: 'result' }, xml('query', { xmlns: NS.DISCO_INFO },
        xml('identity', { category: 'pubsub', type: 'pep' }),
        options.publishOptions ? xml('feature', { var: NS.PUBSUB_PUBLISH_OPTIONS }) : null));
    }
    if (query?.attrs.xmlns === NS.PRIVATE) {
      if (iq.attrs.type === 'set') {
        priv = child(query, 'key', NS.SHARED);
        return undefined;
      }
      return xml('iq', { type: 'result' }, xml('query', { xmlns: NS.PRIVATE }, priv ?? xml('key', { xmlns: NS.SHARED })));
    }
    const pubsub = child(iq, 'pubsub', NS.PUBSUB);
    if (pubsub) {
      const publish = child(pubsub, 'publish');
      if (publish) {
        if (!options.publishOptions) {
          return xml('iq', { type: 'error' }, xml('error', { type: 'cancel' }, xml('feature-not-implemented', { xmlns: NS.STANZAS })));
        }
        pep.set(publish.attrs.node!, child(child(publish, 'item')!, 'key', NS.SHARED)!);
        return undefined;
      }
      const items = child(pubsub, 'items');
      if (items) {
        const stored = pep.get(items.attrs.node!);
        if (!stored) return xml('iq', { type: 'error' }, xml('error', { type: 'cancel' }, xml('item-not-found', { xmlns: NS.STANZAS })));
        return xml('iq', { type: 'result' }, xml('pubsub', { xmlns: NS.PUBSUB }, xml('items', { node: items.attrs.node }, xml('item', { id: 'current' }, stored))));
      }
    }
    return undefined;
  };
  return { handler, pep, iqs, priv: () => priv };
}

test('ProtoXEP §3: A publishes its key to a private PEP node; B creates, finds it, terminates and attaches with it', async (t) => {
  const server = keyServer({ publishOptions: true });
  const w = world({ iqHandler: server.handler });
  t.after(w.cleanup);
  const A = w.make();
  await A.c.connect({ ...BASE, resource: 'a', keyExchange: 'auto' });
  const publish = server.iqs.find((iq) => child(child(iq, 'pubsub', NS.PUBSUB) ?? iq, 'publish'))!;
  const text = publish.toString();
  assert.match(text, new RegExp(`<publish node='${KEY_NODE}'><item id='current'><key xmlns='${NS.SHARED}'>${A.c.key}</key>`));
  assert.match(text, /<field var='pubsub#access_model'><value>whitelist<\/value>/);
  assert.match(text, /<field var='pubsub#persist_items'><value>true<\/value>/);
  assert.match(text, /<field var='FORM_TYPE' type='hidden'><value>http:\/\/jabber.org\/protocol\/pubsub#publish-options<\/value>/);

  const B = w.make();
  const keys: string[] = [];
  B.c.on('key', (k) => keys.push(k));
  const res = await B.c.connect({ ...BASE, resource: 'b', keyExchange: 'auto' });
  assert.equal(res.result, 'attached');
  assert.equal(B.c.key, A.c.key);
  assert.equal(res.jid, 'juliet@example.com/a');
  assert.equal(w.cm.links.size, 1, "B's own first link was terminated");
  assert.equal(server.pep.size, 1);
});

test('XEP-0049 fallback when publish-options are not supported', async (t) => {
  const server = keyServer({ publishOptions: false });
  const w = world({ iqHandler: server.handler });
  t.after(w.cleanup);
  const A = w.make();
  await A.c.connect({ ...BASE, keyExchange: 'auto' });
  assert.equal(server.pep.size, 0, 'never published to a node that might be public');
  assert.equal(textOf(server.priv()!), A.c.key);
  const B = w.make();
  const res = await B.c.connect({ ...BASE, keyExchange: 'private' });
  assert.equal(res.result, 'attached');
  assert.equal(B.c.key, A.c.key);
});

test('D23: same-origin tabs share the key through browser storage', async (t) => {
  const w = world();
  t.after(w.cleanup);
  const local = new Map<string, string>();
  const storage = { getItem: (k: string) => local.get(k) ?? null, setItem: (k: string, v: string) => void local.set(k, v), removeItem: (k: string) => void local.delete(k) };
  const share = () => new BrowserKeyShare({ scope: 'juliet@example.com', storage, events: null, channel: null });
  const A = w.make();
  await A.c.connect({ ...BASE, keyShare: share() });
  assert.equal(local.get('shared-bosh:key:juliet@example.com'), A.c.key);
  const B = w.make();
  const res = await B.c.connect({ ...BASE, keyShare: share() });
  assert.equal(res.result, 'attached');
  await A.c.disconnect({ closeAll: true });
  assert.equal(local.size, 0, 'closeAll forgets the key');
});
