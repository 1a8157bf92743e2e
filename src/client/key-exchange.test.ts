import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StanzaError } from './errors.js';
import { AutoKeyStore, BrowserKeyShare, PepKeyStore, PrivateXmlKeyStore, type BroadcastChannelLike } from './key-exchange.js';
import { KEY_NODE, NS } from './namespaces.js';
import { generateKey } from './shared-key.js';
import type { Element } from '../xml/element.js';
import { xml } from './xml.js';

/** BroadcastChannels of one "origin": a message reaches every other channel of the same name. */
function channelHub() {
  const channels: { name: string; listeners: Set<(ev: { data: unknown }) => void> }[] = [];
  return (name: string): BroadcastChannelLike => {
    const self = { name, listeners: new Set<(ev: { data: unknown }) => void>() };
    channels.push(self);
    return {
      postMessage: (data) => {
        for (const c of channels) if (c !== self && c.name === name) for (const l of c.listeners) l({ data: structuredClone(data) });
      },
      addEventListener: (_t, l) => void self.listeners.add(l),
      removeEventListener: (_t, l) => void self.listeners.delete(l),
      close: () => void channels.splice(channels.indexOf(self), 1),
    };
  };
}

function memoryStorage() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k), m };
}

test('BrowserKeyShare: set() stores the key and tells other tabs; clear() only clears its own key', () => {
  const hub = channelHub();
  const storage = memoryStorage();
  const a = new BrowserKeyShare({ scope: 'juliet@example.com', storage, events: null, channel: hub });
  const b = new BrowserKeyShare({ scope: 'juliet@example.com', storage, events: null, channel: hub });
  const seen: (string | null)[] = [];
  b.onChange((k) => seen.push(k));
  const k1 = generateKey();
  a.set(k1);
  assert.equal(b.get(), k1);
  assert.deepEqual(seen, [k1]);
  const k2 = generateKey();
  b.set(k2);
  a.clear(k1); // stale: another tab stored a newer key
  assert.equal(a.get(), k2);
  a.clear(k2);
  assert.equal(b.get(), null);
  assert.deepEqual(seen, [k1, null]);
  assert.throws(() => a.set('short'), RangeError);
  a.close();
  b.close();
});

test('BrowserKeyShare: a tab without storage asks its peers over the BroadcastChannel', async () => {
  const hub = channelHub();
  const a = new BrowserKeyShare({ scope: 's', storage: null, events: null, channel: hub });
  const b = new BrowserKeyShare({ scope: 's', storage: null, events: null, channel: hub });
  const key = generateKey();
  a.set(key);
  assert.equal(b.get(), null);
  assert.equal(await b.ask(50, (cb) => queueMicrotask(cb)), key);
  a.close();
  assert.equal(await b.ask(50, (cb) => queueMicrotask(cb)), null);
});

test('BrowserKeyShare: storage events from other tabs are reported; invalid values ignored', () => {
  let listener: ((ev: { key: string | null; newValue: string | null }) => void) | undefined;
  const events = { addEventListener: (_: 'storage', l: typeof listener) => void (listener = l), removeEventListener: () => undefined };
  const share = new BrowserKeyShare({ scope: 's', storage: memoryStorage(), events, channel: null });
  const seen: (string | null)[] = [];
  share.onChange((k) => seen.push(k));
  const key = generateKey();
  listener!({ key: 'shared-bosh:key:s', newValue: key });
  listener!({ key: 'other', newValue: key });
  listener!({ key: 'shared-bosh:key:s', newValue: 'bad key' });
  listener!({ key: 'shared-bosh:key:s', newValue: null });
  assert.deepEqual(seen, [key, null]);
});

function fakeIq(answer: (iq: Element) => Element) {
  const sent: Element[] = [];
  const iq = async (el: Element) => {
    sent.push(el);
    const res = answer(el);
    if (res.attrs.type === 'error') throw new StanzaError(res.elements()[0]!.elements()[0]!.localName, 'cancel', res);
    return res;
  };
  return { iq, sent };
}

const notFound = () => xml('iq', { type: 'error' }, xml('error', { type: 'cancel' }, xml('item-not-found', { xmlns: NS.STANZAS })));

test('XEP-0223: PepKeyStore fetches item current of the key node; absent node is null', async () => {
  const key = generateKey();
  const { iq, sent } = fakeIq((el) =>
    sent.length === 1
      ? notFound()
      : xml('iq', { type: 'result' }, xml('pubsub', { xmlns: NS.PUBSUB }, xml('items', { node: KEY_NODE }, xml('item', { id: 'current' }, xml('key', { xmlns: NS.SHARED }, key))))),
  );
  const store = new PepKeyStore(iq);
  assert.equal(await store.fetch(), null);
  assert.equal(await store.fetch(), key);
  assert.equal(sent[0]!.toString().includes(`<items node='${KEY_NODE}'><item id='current'/></items>`), true);
});

test('XEP-0049: PrivateXmlKeyStore stores and reads <key xmlns=urn:xmpp:tmp:shared-bosh:0/>', async () => {
  let stored: Element | undefined;
  const { iq, sent } = fakeIq((el) => {
    const query = el.elements()[0]!;
    if (el.attrs.type === 'set') stored = query.elements()[0];
    return xml('iq', { type: 'result' }, xml('query', { xmlns: NS.PRIVATE }, stored ?? xml('key', { xmlns: NS.SHARED })));
  });
  const store = new PrivateXmlKeyStore(iq);
  assert.equal(await store.fetch(), null);
  const key = generateKey();
  await store.publish(key);
  assert.equal(sent[1]!.toString(), `<iq type='set' id='${sent[1]!.attrs.id}' xmlns='jabber:client'><query xmlns='jabber:iq:private'><key xmlns='urn:xmpp:tmp:shared-bosh:0'>${key}</key></query></iq>`);
  assert.equal(await store.fetch(), key);
  await store.clear(key);
  assert.equal(await store.fetch(), null);
});

test('AutoKeyStore: a refused publish-options publish falls back to private storage, never an open node', async () => {
  const kinds: string[] = [];
  const { iq } = fakeIq((el) => {
    const c = el.elements()[0]!;
    kinds.push(c.attrs.xmlns!);
    if (c.attrs.xmlns === NS.DISCO_INFO) {
      return xml('iq', { type: 'result' }, xml('query', { xmlns: NS.DISCO_INFO }, xml('identity', { category: 'pubsub', type: 'pep' }), xml('feature', { var: NS.PUBSUB_PUBLISH_OPTIONS })));
    }
    if (c.attrs.xmlns === NS.PUBSUB) {
      return xml('iq', { type: 'error' }, xml('error', { type: 'cancel' }, xml('precondition-not-met', { xmlns: NS.STANZAS })));
    }
    return xml('iq', { type: 'result' });
  });
  const store = new AutoKeyStore(iq, 'juliet@example.com');
  await store.publish(generateKey());
  assert.deepEqual(kinds, [NS.DISCO_INFO, NS.PUBSUB, NS.PRIVATE]);
});
