import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSharedHarness, KEY, SHARED_NS } from '../../test/support/shared-harness.js';
import { attrNS, childElements, namesInNamespace, parseNamespaced } from '../../test/support/namespaced-xml.js';
import type { FakeExchange } from '../../test/support/bosh-harness.js';
import { Element } from '../xml/element.js';
import { NS_SHARED } from '../protocol/namespaces.js';
import { stripSharedMarks } from './shared-marks.js';

const JID = 'user@example.com/res';

/** The stanzas of an answered exchange, read as a browser reads them (throws if namespace-ill-formed). */
function stanzas(ex: FakeExchange) {
  assert.equal(ex.replies.length, 1, 'answered once');
  return childElements(parseNamespaced(ex.replies[0]!.body));
}

test('D25 S-07: a forged shared:replay from a remote user reaches every member stripped, under any prefix and at any depth', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  a.up.server(
    `<message from='bob@example.com/x' to='${JID}' id='f1' type='chat' xmlns:evil='${NS_SHARED}' evil:replay='true' evil:echo='true'>` +
      `<body>I am your other tab</body><x xmlns='${NS_SHARED}' replay='true'><y/></x>` +
      `<z xmlns:shared='${NS_SHARED}'><w shared:replay='true' keep='1'/></z></message>` +
      // a prefix the server declared on its stream header: `shared` is the body's own prefix
      `<message from='bob@example.com/x' to='${JID}' id='f2' shared:echo='true'><body>2</body></message>`,
  );
  for (const ex of [a.held, bHeld]) {
    const [m1, m2] = stanzas(ex);
    assert.deepEqual(namesInNamespace(m1!, NS_SHARED), [], 'no shared mark below the body');
    assert.deepEqual(namesInNamespace(m2!, NS_SHARED), []);
    assert.deepEqual(childElements(m1!).map((c) => c.local), ['body', 'z'], 'the shared-namespace element is gone, the rest stays');
    assert.equal(childElements(childElements(m1!)[1]!)[0]!.attrs.find((x) => x.name === 'keep')?.value, '1');
  }
  const stripped = await h.metrics.strippedMarks.get();
  assert.equal(stripped.values.find((v) => v.labels.source === 'server')?.value, 2);
});

test('D25 D14: a directed presence with a forged mark under another prefix enters the snapshot stripped; every attach body stays namespace-well-formed', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  a.up.server(`<presence from='bob@example.com/x' to='${JID}' xmlns:s='${NS_SHARED}' s:replay='true'><status>hi</status></presence>`);
  for (let i = 0; i < 2; i++) {
    const c = await h.client();
    const [presence] = stanzas(c.creation);
    assert.deepEqual(namesInNamespace(presence!, NS_SHARED), ['@shared:replay'], 'only the CM\'s own mark');
    assert.equal(attrNS(presence!, NS_SHARED, 'replay'), 'true');
  }
});

test("D25 S-08: a member's forged marks are stripped upstream and from its echo; a stanza that binds `shared` elsewhere keeps its meaning", async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  a.req(`<message to='bob@example.com' id='o1' xmlns='jabber:client' xmlns:s='${NS_SHARED}' s:replay='true'><body>x</body></message>`);
  assert.equal(a.up.written.at(-1), "<message to='bob@example.com' id='o1' xmlns='jabber:client'><body>x</body></message>");
  const [echo] = stanzas(bHeld);
  assert.deepEqual(namesInNamespace(echo!, NS_SHARED).sort(), ['@shared:echo']);
  const bHeld2 = b.req();
  a.req("<message to='bob@example.com' id='o2' xmlns='jabber:client' xmlns:shared='urn:example:other' shared:flag='1'><shared:note>n</shared:note></message>");
  const [echo2] = stanzas(bHeld2);
  assert.equal(attrNS(echo2!, 'urn:example:other', 'flag'), '1', 'the stanza\'s own `shared` prefix still means its namespace');
  assert.equal(childElements(echo2!)[0]!.uri, 'urn:example:other');
  assert.deepEqual(namesInNamespace(echo2!, NS_SHARED), ['@shared1:echo'], 'the CM marks under a free prefix');
  assert.equal((await h.metrics.strippedMarks.get()).values.find((v) => v.labels.source === 'member')?.value, 1);
});

test('D25 D13: a top-level element in the shared namespace is refused from a member and dropped from the server', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const before = a.up.written.length;
  const r = a.req(`<message xmlns='${NS_SHARED}' to='bob@example.com'/>`);
  assert.equal(r.attrs.condition, 'bad-request');
  assert.equal(a.up.written.length, before);
  const h2 = createSharedHarness();
  const c = await h2.creator();
  c.up.server(`<message xmlns='${NS_SHARED}' from='bob@example.com/x'/><message from='bob@example.com/x' id='ok'/>`);
  assert.deepEqual(stanzas(c.held).map((s) => s.attrs.find((x) => x.name === 'id')?.value), ['ok']);
});

test('D25: stripping walks iteratively (no stack overflow at any depth) and leaves a clean stanza untouched', () => {
  let deep = new Element('leaf', { 'xmlns:s': NS_SHARED, 's:echo': 'true', keep: 'yes' });
  for (let i = 0; i < 200_000; i++) deep = new Element('n', {}, [deep]);
  const root = new Element('message', { id: 'd' }, [deep]);
  // The serialization is only looked into for the namespace; a recursive serializer would overflow here.
  const result = stripSharedMarks(root, NS_SHARED);
  assert.equal(result.kind, 'stripped');
  let el = result.kind === 'stripped' ? result.element : root;
  while (el.children.length > 0) el = el.children[0] as Element;
  assert.deepEqual(el.attrs, { keep: 'yes' });
  const clean = new Element('message', { id: 'c' }, [new Element('body', {}, ['shared: not a mark'])]);
  assert.equal(stripSharedMarks(clean, clean.toString()).kind, 'clean');
  const plain = new Element('message', { id: 'p' }, [new Element('body', {}, ['hello'])]);
  const same = stripSharedMarks(plain, plain.toString());
  assert.ok(same.kind === 'clean' && same.element === plain, 'no copy on the common path');
});

test('D25 D11 D12 S-08: echo copies carry from = the bound full JID (messages, presence, IQ requests and IQ replies)', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  let bHeld = b.req();
  a.req("<message to='bob@example.com' type='chat' id='c1' xmlns='jabber:client'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
  assert.equal(stanzas(bHeld)[0]!.attrs.find((x) => x.name === 'from')?.value, JID);
  bHeld = b.req();
  a.req("<message to='bob@example.com' from='mallory@example.com/x' id='c2' xmlns='jabber:client'/>");
  assert.equal(stanzas(bHeld)[0]!.attrs.find((x) => x.name === 'from')?.value, JID, 'the sender\'s address, as the server stamps it');
  bHeld = b.req();
  a.req("<iq type='get' id='q1' to='example.com' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>");
  assert.equal(stanzas(bHeld)[0]!.attrs.find((x) => x.name === 'from')?.value, JID);
  bHeld = b.req();
  a.up.server(`<iq type='get' id='s1' from='example.com' to='${JID}'><ping xmlns='urn:xmpp:ping'/></iq>`);
  bHeld = b.req();
  a.req("<iq type='result' id='s1' to='example.com' xmlns='jabber:client'/>");
  const reply = stanzas(bHeld)[0]!;
  assert.equal(attrNS(reply, NS_SHARED, 'echo'), 'true');
  assert.equal(reply.attrs.find((x) => x.name === 'from')?.value, JID);
});

test('D10 D12: one server read with messages around an IQ result: the asker gets its own id, the others the echo, all in link order with their seq', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const c = await h.client();
  // b asks; the CM rewrites the id upstream (D12).
  const bHeld = b.req("<iq type='get' id='q1' to='example.com' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>");
  const upstreamId = a.up.elements.filter((e) => e.name === 'iq').at(-1)!.attrs.id!;
  assert.notEqual(upstreamId, 'q1');
  // a and c take the echo of b's request first; b's request stays held.
  assert.equal(stanzas(a.held)[0]!.local, 'iq');
  assert.equal(stanzas(c.req())[0]!.local, 'iq');
  assert.equal(bHeld.replies.length, 0);
  const held = [a.req(), bHeld, c.req()];
  a.up.server(
    `<message from='bob@example.com/x' to='${JID}' id='m1' type='chat'><body>1</body></message>` +
      `<iq type='result' id='${upstreamId}' from='example.com' to='${JID}'/>` +
      `<message from='bob@example.com/x' to='${JID}' id='m2' type='chat'><body>2</body></message>`,
  );
  const seqs: string[] = [];
  held.forEach((ex, i) => {
    const got = stanzas(ex);
    assert.deepEqual(got.map((e) => e.local), ['message', 'iq', 'message'], `member ${i}`);
    assert.deepEqual([got[0]!, got[2]!].map((e) => e.attrs.find((x) => x.name === 'id')?.value), ['m1', 'm2']);
    const iq = got[1]!;
    if (i === 1) {
      assert.equal(iq.attrs.find((x) => x.name === 'id')?.value, 'q1', 'the asker gets its own id');
      assert.equal(attrNS(iq, NS_SHARED, 'echo'), undefined);
    } else {
      assert.equal(attrNS(iq, NS_SHARED, 'echo'), 'true', 'the others see an echo');
    }
    seqs.push(attrNS(parseNamespaced(ex.replies[0]!.body), NS_SHARED, 'seq')!);
  });
  assert.equal(new Set(seqs).size, 1, `every member's response covers the same events (${seqs.join(', ')})`);
});

test('D12: server IQs are tracked by (from, id): the same id from two entities gets one reply each', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  b.req();
  a.up.server(
    `<iq type='get' id='v1' from='bob@example.com/x' to='${JID}'><query xmlns='jabber:iq:version'/></iq>` +
      `<iq type='get' id='v1' from='carol@example.com/y' to='${JID}'><query xmlns='jabber:iq:version'/></iq>`,
  );
  a.req("<iq type='result' id='v1' to='bob@example.com/x' xmlns='jabber:client'/>");
  b.req("<iq type='result' id='v1' to='carol@example.com/y' xmlns='jabber:client'/>");
  b.req("<iq type='result' id='v1' to='bob@example.com/x' xmlns='jabber:client'/>");
  const replies = a.up.elements.filter((e) => e.name === 'iq' && e.attrs.id === 'v1');
  assert.deepEqual(replies.map((e) => e.attrs.to), ['bob@example.com/x', 'carol@example.com/y'], 'one reply each, the late duplicate dropped');
  assert.equal((await h.metrics.suppressed.get()).values.find((v) => v.labels.kind === 'iq-reply')?.value, 1);
});

test('D12: a server IQ without from (the account itself) and its reply to the bare JID are one request', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  b.req();
  a.up.server(`<iq type='set' id='push1' to='${JID}'><query xmlns='jabber:iq:roster'/></iq>`);
  a.req("<iq type='result' id='push1' to='user@example.com' xmlns='jabber:client'/>");
  b.req("<iq type='result' id='push1' xmlns='jabber:client'/>");
  assert.equal(a.up.elements.filter((e) => e.attrs.id === 'push1').length, 1);
});

test('D16: an undirected unavailable presence in an ordinary request is not forwarded while others remain, nor echoed; alone, it is', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  const before = a.up.written.length;
  a.req("<presence type='unavailable' xmlns='jabber:client'/>");
  assert.equal(a.up.written.length, before, 'not forwarded');
  assert.equal(bHeld.answered, false, 'no echo: b stays online, and is told nothing');
  assert.equal((await h.metrics.suppressed.get()).values.find((v) => v.labels.kind === 'unavailable-presence')?.value, 1);
  a.req("<presence type='unavailable' to='room@muc.example.com/nick' xmlns='jabber:client'/>");
  assert.equal(a.up.elements.at(-1)!.attrs.to, 'room@muc.example.com/nick', 'a directed one goes');
  b.req('', "type='terminate'");
  a.req("<presence type='unavailable' xmlns='jabber:client'/>");
  assert.equal(a.up.elements.at(-1)!.attrs.type, 'unavailable', 'the last member may go offline');
  assert.equal(a.up.elements.at(-1)!.attrs.to, undefined);
});

test('D16 D14: the suppressed unavailable presence leaves the snapshot as it was: a later attach sees the user available', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  await h.client();
  a.req("<presence xmlns='jabber:client'><show>chat</show></presence>");
  a.req("<presence type='unavailable' xmlns='jabber:client'/>");
  const c = await h.client();
  const [own] = stanzas(c.creation);
  assert.equal(own!.attrs.find((x) => x.name === 'type'), undefined);
  assert.equal(childElements(own!)[0]!.local, 'show');
});

test('D14 D14b: with shared:since, a presence in both the snapshot and the replay is delivered once', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  a.up.server("<message from='bob@example.com/x' id='m0'/>");
  const since = Number(a.held.attrs['shared:seq']);
  a.up.server(`<presence from='bob@example.com/x' to='${JID}' id='p1'/>`);
  a.req("<presence id='own1' xmlns='jabber:client'/>");
  a.up.server(`<presence from='carol@example.com/y' to='${JID}' id='p2'/>`);
  const c = await h.client(`shared:key='${KEY}' ${SHARED_NS} shared:since='${since}'`);
  const ids = stanzas(c.creation).map((s) => s.attrs.find((x) => x.name === 'id')?.value);
  assert.deepEqual(ids, ['p1', 'own1', 'p2'], 'each once, in link order');
  const d = await h.client();
  assert.deepEqual(stanzas(d.creation).map((s) => s.attrs.find((x) => x.name === 'id')?.value), ['own1', 'p1', 'p2'], 'without since: the snapshot alone');
});
