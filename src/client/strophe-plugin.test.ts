import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Strophe, $msg } from 'strophe.js';
import { FakeCm } from '../../test/support/client/fake-cm.js';
import { settle } from '../../test/support/client/manual-fetch.js';
import { installSharedBosh, isEcho, isReplay, stanzaKind, type DomElementLike, type StropheConnectionLike, type StropheLike } from './strophe-plugin.js';
import { MemoryStore } from './storage.js';
import { xml } from './xml.js';
import { KEY_NODE, NS } from './namespaces.js';
import type { Element } from '../xml/element.js';

/** XMLHttpRequest for Strophe in Node, answered by the in-memory FakeCm. */
function fakeXhrClass(cm: FakeCm) {
  return class FakeXhr {
    readyState = 0;
    status = 0;
    responseText = '';
    responseXML: unknown = null;
    onreadystatechange: (() => void) | null = null;
    private controller = new AbortController();
    private url = '';
    overrideMimeType(): void {}
    setRequestHeader(): void {}
    getAllResponseHeaders(): string {
      return '';
    }
    open(_m: string, url: string): void {
      this.url = url;
      this.readyState = 1;
    }
    send(body: string): void {
      void cm.fetch(this.url, { method: 'POST', headers: {}, body, signal: this.controller.signal }).then(async (res) => {
        if (this.controller.signal.aborted) return;
        this.status = res.status;
        this.responseText = await res.text();
        const P = (globalThis as unknown as { DOMParser: new () => { parseFromString(s: string, t: string): unknown } }).DOMParser;
        this.responseXML = new P().parseFromString(this.responseText, 'text/xml');
        this.readyState = 4;
        this.onreadystatechange?.();
      });
    }
    abort(): void {
      this.controller.abort();
      this.readyState = 0;
    }
  };
}

const S = Strophe as unknown as StropheLike & { Connection: new (url: string, opts?: object) => StropheConnectionLike & { sharedBosh: import('./strophe-plugin.js').SharedBosh; addHandler(h: (el: DomElementLike) => boolean, ns: string | null, name: string): unknown; send(el: unknown): void; authenticated: boolean } };

Strophe.setLogLevel(Strophe.LogLevel.FATAL);
let installed = false;
function setup() {
  const cm = new FakeCm();
  (globalThis as unknown as { XMLHttpRequest: unknown }).XMLHttpRequest = fakeXhrClass(cm);
  if (!installed) {
    installSharedBosh(S, { setTimeout: (cb, ms) => setTimeout(cb, ms) });
    installed = true;
  }
  return cm;
}

const realSetTimeout = globalThis.setTimeout;

/**
 * Runs Strophe's timers (its 100 ms idle loop) on mocked time until `done()`. Each step also
 * yields 1 ms of real time, since WebCrypto (PBKDF2 in SCRAM) completes on the thread pool.
 */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (done()) return;
    await new Promise((r) => realSetTimeout(r, 1));
    await settle(1);
    if (!done()) mock.timers.tick(20);
  }
  assert.fail('timed out waiting for ' + what);
}

function connectionWithLog() {
  const conn = new S.Connection('http://cm.test/http-bind');
  const statuses: number[] = [];
  const stanzas: { id: string | null; kind: string }[] = [];
  return { conn, statuses, stanzas };
}

test('Strophe plugin: creator sends shared:key, logs in as usual; a second connection attaches without SASL and sees echoes', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  t.after(() => mock.timers.reset());
  const cm = setup();

  const A = connectionWithLog();
  A.conn.sharedBosh.connect('juliet@example.com/a', 'r0m30', (s) => A.statuses.push(s));
  await until(() => A.statuses.includes(Strophe.Status.CONNECTED), 'A connected');
  const key = A.conn.sharedBosh.key!;
  assert.equal(A.conn.sharedBosh.result, 'created');
  assert.match(cm.log[0]!, new RegExp(`shared:key="${key}"`));
  assert.match(cm.log[0]!, /xmlns:shared="urn:xmpp:tmp:shared-bosh:0"/);
  assert.equal(cm.log.filter((b) => b.includes('shared:key')).length, 1, 'the key is on the creation body only');
  assert.ok(cm.log.some((b) => b.includes('mechanism="SCRAM-SHA-256"') || b.includes("mechanism='SCRAM-SHA-256'")));

  const B = connectionWithLog();
  const storage = new MemoryStore();
  void storage;
  B.conn.sharedBosh.connect('juliet@example.com', '', (s) => {
    B.statuses.push(s);
    if (s === Strophe.Status.CONNECTED) {
      B.conn.addHandler((el) => {
        B.stanzas.push({ id: el.getAttribute('id'), kind: stanzaKind(el) });
        return true;
      }, null, 'message');
    }
  }, { key });
  await until(() => B.statuses.includes(Strophe.Status.CONNECTED), 'B attached');
  assert.equal(B.conn.sharedBosh.result, 'attached');
  assert.equal(B.conn.jid, 'juliet@example.com/a');
  assert.equal(B.conn.authenticated, true);
  const bSid = [...cm.members.values()].find((m) => m.link === cm.linkOf(key) && m.received.length === 0)?.sid;
  assert.ok(bSid, 'B is a member that sent no SASL');
  assert.deepEqual(B.statuses, [Strophe.Status.CONNECTING, Strophe.Status.CONNECTED]);

  A.conn.send($msg({ to: 'romeo@example.net', id: 'from-a' }).c('body').t('hi').tree());
  await until(() => B.stanzas.some((s) => s.id === 'from-a'), 'echo at B');
  assert.equal(B.stanzas.find((s) => s.id === 'from-a')!.kind, 'echo');

  cm.inbound(cm.linkOf(key)!, xml('message', { from: 'romeo@example.net/x', id: 'live1' }));
  await until(() => B.stanzas.some((s) => s.id === 'live1'), 'live at B');
  assert.equal(B.stanzas.find((s) => s.id === 'live1')!.kind, 'live');
  assert.equal(B.conn.sharedBosh.seq, cm.linkOf(key)!.seq);

  // An echoed IQ get from another member is not answered with service-unavailable.
  const before = cm.log.length;
  A.conn.send(Strophe.xmlHtmlNode("<iq xmlns='jabber:client' type='get' id='q1' to='example.com'><query xmlns='jabber:iq:version'/></iq>").documentElement);
  await until(() => cm.log.slice(before).some((b) => b.includes("id=\"q1\"")), 'iq sent');
  let rounds = 0;
  await until(() => ++rounds > 30, 'B had time to answer'); // 600 ms of Strophe time
  assert.equal(cm.log.slice(before).some((b) => b.includes('service-unavailable')), false);

  B.conn.sharedBosh.disconnectAll();
  await until(() => A.statuses.includes(Strophe.Status.DISCONNECTED), 'A ended by close-all');
  assert.ok(cm.log.some((b) => b.includes("shared:close=\"all\"") || b.includes("shared:close='all'")));
});

test('Strophe plugin: not-ready is retried behind the application callback', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  t.after(() => mock.timers.reset());
  const cm = setup();
  const A = connectionWithLog();
  A.conn.sharedBosh.connect('juliet@example.com/a', 'r0m30', (s) => A.statuses.push(s));
  await until(() => A.statuses.includes(Strophe.Status.CONNECTED), 'A connected');
  cm.notReady = 2;
  const B = connectionWithLog();
  B.conn.sharedBosh.connect('juliet@example.com', '', (s) => B.statuses.push(s), { key: A.conn.sharedBosh.key! });
  await until(() => B.statuses.includes(Strophe.Status.CONNECTED), 'B attached');
  assert.deepEqual(B.statuses.filter((s) => s === Strophe.Status.CONNFAIL), []);
  assert.equal(cm.log.filter((b) => b.includes('shared:key') && !b.includes('sid=')).length, 1 + 3);
});

test('isEcho / isReplay read the shared attributes by namespace', () => {
  const P = (globalThis as unknown as { DOMParser: new () => { parseFromString(s: string, t: string): { documentElement: DomElementLike } } }).DOMParser;
  const el = new P().parseFromString("<message xmlns='jabber:client' xmlns:x='urn:xmpp:tmp:shared-bosh:0' x:echo='true' x:replay='true'/>", 'text/xml').documentElement;
  assert.equal(isEcho(el), true);
  assert.equal(isReplay(el), true);
  assert.equal(stanzaKind(el), 'replay');
});

test('Strophe plugin: ProtoXEP key exchange: a creator finds the published key, leaves its link and attaches', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  t.after(() => mock.timers.reset());
  const cm = setup();
  let published: Element | undefined;
  cm.options.iqHandler = (iq) => {
    const c = iq.elements()[0]!;
    if (c.attrs.xmlns === NS.DISCO_INFO) {
      return xml('iq', { type: 'result' }, xml('query', { xmlns: NS.DISCO_INFO }, xml('identity', { category: 'pubsub', type: 'pep' }), xml('feature', { var: NS.PUBSUB_PUBLISH_OPTIONS })));
    }
    if (c.attrs.xmlns === NS.PUBSUB) {
      const publish = c.getChild('publish');
      if (publish) {
        published = publish.getChild('item')!.getChild('key', NS.SHARED);
        return undefined;
      }
      if (!published) return xml('iq', { type: 'error' }, xml('error', { type: 'cancel' }, xml('item-not-found', { xmlns: NS.STANZAS })));
      return xml('iq', { type: 'result' }, xml('pubsub', { xmlns: NS.PUBSUB }, xml('items', { node: KEY_NODE }, xml('item', { id: 'current' }, published))));
    }
    return undefined;
  };
  const A = connectionWithLog();
  A.conn.sharedBosh.connect('juliet@example.com/a', 'r0m30', (s) => A.statuses.push(s), { keyExchange: 'auto' });
  await until(() => A.statuses.includes(Strophe.Status.CONNECTED), 'A connected');
  assert.equal(published?.text(), A.conn.sharedBosh.key);

  const B = connectionWithLog();
  B.conn.sharedBosh.connect('juliet@example.com/b', 'r0m30', (s) => B.statuses.push(s), { keyExchange: 'auto' });
  await until(() => B.statuses.includes(Strophe.Status.CONNECTED), 'B connected');
  assert.equal(B.conn.sharedBosh.result, 'attached');
  assert.equal(B.conn.sharedBosh.key, A.conn.sharedBosh.key);
  assert.equal(B.conn.jid, 'juliet@example.com/a');
  assert.equal(B.statuses.filter((s) => s === Strophe.Status.CONNECTED).length, 1, 'CONNECTED once, for the link it stays on');
  assert.equal(cm.links.size, 1, "B's own link is gone");
});

/** A creator A on a link where romeo is online and has written; returns the key. */
async function linkWithHistory(cm: FakeCm) {
  const A = connectionWithLog();
  A.conn.sharedBosh.connect('juliet@example.com/a', 'r0m30', (s) => A.statuses.push(s));
  await until(() => A.statuses.includes(Strophe.Status.CONNECTED), 'A connected');
  const key = A.conn.sharedBosh.key!;
  const link = cm.linkOf(key)!;
  cm.inbound(link, xml('presence', { from: 'romeo@example.net/x', id: 'romeo-online' }, xml('show', {}, 'chat')));
  cm.inbound(link, xml('message', { from: 'romeo@example.net/x', id: 'earlier', type: 'chat' }, xml('body', {}, 'before you came')));
  return { A, key, link };
}

type Seen = { id: string | null; name: string; kind: string }[];
function record(conn: ReturnType<typeof connectionWithLog>['conn'], seen: Seen, name: string) {
  conn.addHandler((el) => {
    seen.push({ id: el.getAttribute('id'), name: el.nodeName, kind: stanzaKind(el) });
    return true;
  }, null, name);
}

test('D14 D14b: Strophe plugin: the snapshot and replay of an attach reach handlers the application registers after CONNECTED, before its initial presence', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  t.after(() => mock.timers.reset());
  const cm = setup();
  const { key, link } = await linkWithHistory(cm);

  // Like Converse.js: on CONNECTED it first reads its caches (await), then registers its
  // handlers, sends an IQ and waits for the answer, and only then sends its initial presence.
  const B = connectionWithLog();
  const late: Seen = [];
  let iqAnswered = false;
  let presenceSent = false;
  B.conn.sharedBosh.connect('juliet@example.com', '', (s) => {
    B.statuses.push(s);
    if (s !== Strophe.Status.CONNECTED) return;
    void (async () => {
      await settle(3);
      await new Promise<void>((r) => setTimeout(r, 200));
      record(B.conn, late, 'presence');
      record(B.conn, late, 'message');
      B.conn.sendIQ(Strophe.xmlHtmlNode("<iq xmlns='jabber:client' type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>").documentElement, () => {
        iqAnswered = true;
        // A live message while the snapshot is still held comes after it.
        cm.inbound(link, xml('message', { from: 'romeo@example.net/x', id: 'live-after', type: 'chat' }, xml('body', {}, 'now')));
        setTimeout(() => {
          B.conn.send(Strophe.xmlHtmlNode("<presence xmlns='jabber:client'/>").documentElement);
          presenceSent = true;
        }, 300);
      });
    })();
  }, { key, since: 0 });
  await until(() => iqAnswered, 'the IQ result, not held behind the snapshot');
  assert.equal(late.length, 0, 'nothing delivered before the initial presence');
  await until(() => late.some((s) => s.id === 'live-after'), 'snapshot, replay and the live message at B');
  assert.ok(presenceSent);
  assert.deepEqual(late.filter((s) => s.id !== null && !s.id.startsWith('roster')).map((s) => [s.id, s.kind]), [
    ['romeo-online', 'replay'],
    ['earlier', 'replay'],
    ['live-after', 'live'],
  ]);
});

test('D14: Strophe plugin: a handler registered inside the CONNECTED callback receives the snapshot at once, without waiting for presence', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  t.after(() => mock.timers.reset());
  const cm = setup();
  const { key } = await linkWithHistory(cm);
  const B = connectionWithLog();
  const seen: Seen = [];
  let connectedAt = 0;
  B.conn.sharedBosh.configure({ snapshotHoldMs: 60_000 });
  B.conn.sharedBosh.connect('juliet@example.com', '', (s) => {
    B.statuses.push(s);
    if (s !== Strophe.Status.CONNECTED) return;
    connectedAt = Date.now();
    record(B.conn, seen, 'presence');
    record(B.conn, seen, 'message');
  }, { key, since: 0 });
  await until(() => seen.length >= 2, 'snapshot and replay at B');
  assert.ok(Date.now() - connectedAt < 1000, `right after the callback (${Date.now() - connectedAt} ms), not after the hold`);
  assert.deepEqual(seen.map((s) => [s.id, s.kind]), [['romeo-online', 'replay'], ['earlier', 'replay']]);
  let rounds = 0;
  await until(() => ++rounds > 20, 'time for duplicates');
  assert.equal(seen.length, 2, 'once each');
});

test('D14: Strophe plugin: an application that sends no initial presence gets the snapshot after snapshotHoldMs; a creator holds nothing', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  t.after(() => mock.timers.reset());
  const cm = setup();
  const { A, key, link } = await linkWithHistory(cm);
  const aSeen: Seen = [];
  record(A.conn, aSeen, 'message');
  const sentAt = Date.now();
  cm.inbound(link, xml('message', { from: 'romeo@example.net/x', id: 'to-a', type: 'chat' }, xml('body', {}, 'hi')));
  await until(() => aSeen.some((s) => s.id === 'to-a'), 'live message at the creator');
  assert.ok(Date.now() - sentAt < 1000, 'the creator holds nothing back');

  const B = connectionWithLog();
  const seen: Seen = [];
  let connectedAt = 0;
  B.conn.sharedBosh.configure({ snapshotHoldMs: 1000 });
  B.conn.sharedBosh.connect('juliet@example.com', '', (s) => {
    B.statuses.push(s);
    if (s !== Strophe.Status.CONNECTED) return;
    connectedAt = Date.now();
    setTimeout(() => record(B.conn, seen, 'presence'), 100);
  }, { key, since: 0 });
  await until(() => seen.some((s) => s.id === 'romeo-online'), 'the presence snapshot at B');
  assert.ok(Date.now() - connectedAt >= 1000, `delivered after the hold (${Date.now() - connectedAt} ms)`);
  assert.deepEqual(seen.map((s) => s.kind), ['replay']);
});
