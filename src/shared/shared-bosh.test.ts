import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSharedHarness, KEY, SHARED_NS } from '../../test/support/shared-harness.js';
import { HTTPBIND } from '../../test/support/bosh-harness.js';

const MSG_IN = "<message from='friend@example.com/x' to='user@example.com/res' id='m1'><body>hello</body></message>";

test('S-02 D4: a key that matches no live link creates one: shared:result=created', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  assert.equal(a.creation.attrs['shared:result'], 'created');
  assert.match(a.creation.replies[0]!.body, /xmlns:shared='urn:xmpp:tmp:shared-bosh:0'/);
});

test('S-03 D9: without shared:key no shared attribute is sent', async () => {
  const h = createSharedHarness();
  const a = await h.creator('');
  assert.equal(a.creation.attrs['shared:result'], undefined);
  assert.doesNotMatch(a.creation.replies[0]!.body, /shared:/);
});

test('S-04 D1 D7: a second client with the key attaches with its own sid, the bound JID and no features', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const attrs = b.creation.attrs;
  assert.equal(attrs['shared:result'], 'attached');
  assert.equal(attrs['shared:jid'], 'user@example.com/res');
  assert.notEqual(b.sid, a.sid, 'D1: its own sid');
  assert.equal(attrs.authid, 'stream-1');
  assert.equal(attrs.from, 'example.com');
  assert.equal(attrs.ver, '1.11');
  assert.equal(attrs['xmpp:version'], '1.0');
  assert.equal(attrs.requests, '2');
  assert.equal(b.creation.parsed.children.filter((c) => c.name === 'stream:features').length, 0, 'D7: no features');
  assert.equal(h.upstreams.length, 1, 'one upstream connection');
  assert.equal((await h.metrics.attaches.get()).values[0]!.value, 1);
});

test('D2 S-10 S-13: short or malformed keys are refused with weak-key; 32 hex characters are enough', async () => {
  const h = createSharedHarness();
  for (const key of ['short', 'a'.repeat(31), 'a'.repeat(257), 'x'.repeat(31) + ' ', 'é'.repeat(40)]) {
    const c = await h.client(`shared:key='${key}' ${SHARED_NS}`);
    assert.equal(c.creation.attrs.condition, 'policy-violation', key);
    assert.equal(c.creation.attrs['shared:error'], 'weak-key', key);
  }
  assert.equal(h.manager.size, 0);
  const ok = await h.client(`shared:key='${'a'.repeat(32)}' ${SHARED_NS}`);
  assert.equal(ok.creation.answered, false, 'accepted: held until the stream opens');
  assert.equal(h.manager.size, 1);
});

test('S-05 S-11 D3: a wrong key never attaches; it creates a new link of its own', async () => {
  const h = createSharedHarness();
  await h.creator();
  const other = await h.client(`shared:key='${KEY.replace('3', '4')}' ${SHARED_NS}`);
  h.upstreams[1]!.open();
  assert.equal(other.creation.attrs['shared:result'], 'created');
  assert.equal(h.upstreams.length, 2);
});

test('S-11 D3: the key is kept only as a digest and never logged, even at trace level', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  b.req("<message to='x@example.com' xmlns='jabber:client'><body>yo</body></message>");
  a.up.server(MSG_IN);
  b.req('', "type='terminate'");
  a.req('', "type='terminate'");
  const all = h.lines.join('\n');
  assert.ok(h.lines.length > 10);
  assert.equal(all.includes(KEY), false, 'key in a log line');
  assert.equal(all.includes('AGFsaWNlAHNlY3JldA=='), false, 'SASL payload in a log line');
  const metrics = await h.metrics.registry.metrics();
  assert.equal(metrics.includes(KEY), false, 'key in metrics');
});

test('D3: session creation is rate-limited per client address', async () => {
  const h = createSharedHarness({ creationsPerMinute: 6, creationBurst: 2 });
  const first = h.post(`<body rid='1' to='example.com' wait='60' hold='1' ver='1.11' ${HTTPBIND}/>`, undefined, '10.0.0.1');
  const second = h.post(`<body rid='1' to='example.com' wait='60' hold='1' ver='1.11' ${HTTPBIND}/>`, undefined, '10.0.0.1');
  const third = h.post(`<body rid='1' to='example.com' wait='60' hold='1' ver='1.11' ${HTTPBIND}/>`, undefined, '10.0.0.1');
  const elsewhere = h.post(`<body rid='1' to='example.com' wait='60' hold='1' ver='1.11' ${HTTPBIND}/>`, undefined, '10.0.0.2');
  assert.equal(first.answered, false);
  assert.equal(second.answered, false);
  assert.equal(third.attrs.condition, 'policy-violation');
  assert.equal(elsewhere.answered, false, 'another address is not affected');
  h.clock.tick(10_000); // one token per 10 s
  const later = h.post(`<body rid='1' to='example.com' wait='60' hold='1' ver='1.11' ${HTTPBIND}/>`, undefined, '10.0.0.1');
  assert.equal(later.answered, false);
});

test('D4 D17: when the last member leaves the stream closes and the key is free again', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  a.req("<presence type='unavailable' xmlns='jabber:client'/>", "type='terminate'");
  assert.equal(a.up.closed, true);
  assert.equal(a.up.elements.at(-1)!.attrs.type, 'unavailable', 'D17: its unavailable presence went first');
  const again = await h.client();
  h.upstreams[1]!.open();
  assert.equal(again.creation.attrs['shared:result'], 'created');
});

test('D5: a key presented for another domain is refused with key-in-use', async () => {
  const h = createSharedHarness();
  await h.creator();
  const c = await h.client(`shared:key='${KEY}' ${SHARED_NS}`, 'other.example');
  assert.equal(c.creation.attrs.condition, 'policy-violation');
  assert.equal(c.creation.attrs['shared:error'], 'key-in-use');
});

test('D5: an attach from a foreign Origin is refused with origin-mismatch', async () => {
  const h = createSharedHarness({ attachOrigins: ['https://app.example'] });
  await h.creator();
  const foreign = await h.client(undefined, undefined, 'https://evil.example');
  assert.equal(foreign.creation.attrs['shared:error'], 'origin-mismatch');
  const same = await h.client(undefined, undefined, 'https://app.example');
  assert.equal(same.creation.attrs['shared:result'], 'attached');
});

test('D6 S-06: attaching before the stream has bound a resource is refused with not-ready', async () => {
  const h = createSharedHarness();
  await h.client(); // created, stream not even open
  const early = await h.client();
  assert.equal(early.creation.attrs.condition, 'policy-violation');
  assert.equal(early.creation.attrs['shared:error'], 'not-ready');
});

test('D8 Q-18: a link takes at most maxMembers; then too-many-members', async () => {
  const h = createSharedHarness({ maxMembers: 2 });
  await h.creator();
  await h.client();
  const third = await h.client();
  assert.equal(third.creation.attrs['shared:error'], 'too-many-members');
});

test('S-07 D10: every stanza from the server goes to every member, in the same order', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  a.up.server(MSG_IN + "<presence from='friend@example.com/x'/>");
  for (const ex of [a.held, bHeld]) {
    assert.deepEqual(ex.parsed.children.map((c) => c.name), ['message', 'presence']);
    assert.equal(ex.parsed.children[0]!.attrs['shared:echo'], undefined);
  }
  assert.equal(a.held.attrs['shared:seq'], bHeld.attrs['shared:seq'], 'D14b: both cover the same event');
});

test('S-08 S-09 D11: a member stanza goes upstream once and to the others as shared:echo, never back', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  const before = a.up.written.length;
  const send = a.req("<message to='friend@example.com' id='out1' xmlns='jabber:client'><body>hi</body></message>");
  assert.equal(a.up.written.length, before + 1);
  const echo = bHeld.parsed.children[0]!;
  assert.equal(echo.name, 'message');
  assert.equal(echo.attrs['shared:echo'], 'true');
  assert.equal(echo.attrs.id, 'out1');
  assert.equal(a.held.answered, true, 'a held request was answered (hold exceeded) ...');
  assert.equal(a.held.parsed.children.length, 0, '... without its own stanza');
  assert.equal(send.answered, false);
  assert.equal((await h.metrics.echoes.get()).values[0]!.value, 1);
});

test('D11: SASL, restart and binding traffic before binding is never copied', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  assert.equal(bHeld.answered, false, 'no copies of the login reached the attached member');
  assert.ok(a.up.elements.some((e) => e.name === 'auth'));
});

test('D12 Q-05: colliding IQ ids of two members are made unique upstream and results routed back', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  a.req("<iq type='get' id='1' to='example.com' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>");
  const aHeld2 = a.req();
  const bEcho = bHeld.parsed.children[0]!;
  assert.equal(bEcho.attrs['shared:echo'], 'true');
  const bHeld2 = b.req("<iq type='get' id='1' to='example.com' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>");
  assert.equal(aHeld2.parsed.children[0]!.attrs['shared:echo'], 'true', 'a saw b\'s request');
  const aHeld3 = a.req();
  const upIqs = a.up.elements.filter((e) => e.name === 'iq' && e.attrs.type === 'get');
  assert.equal(upIqs.length, 2);
  assert.notEqual(upIqs[0]!.attrs.id, upIqs[1]!.attrs.id, 'link-unique ids upstream');
  assert.notEqual(upIqs[0]!.attrs.id, '1');
  assert.equal(bEcho.attrs.id, upIqs[0]!.attrs.id, 'the copy carries the link-unique id');
  // The server answers b's ping first, then a's.
  a.up.server(`<iq type='result' id='${upIqs[1]!.attrs.id}' from='example.com'/>`);
  const bResult = bHeld2.answered ? bHeld2 : b.req();
  const bOwn = bResult.parsed.children.find((c) => c.name === 'iq' && c.attrs.type === 'result')!;
  assert.equal(bOwn.attrs.id, '1', 'the asker gets its own id back');
  assert.equal(bOwn.attrs['shared:echo'], undefined);
  const aCopy = aHeld3.parsed.children.find((c) => c.name === 'iq' && c.attrs.type === 'result')!;
  assert.equal(aCopy.attrs.id, upIqs[1]!.attrs.id, 'the others see the unique id ...');
  assert.equal(aCopy.attrs['shared:echo'], 'true', '... marked as an echo');
});

test('D12 Q-06: a server IQ reaches every member and only the first reply goes upstream', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  a.up.server("<iq type='get' id='ping7' from='example.com' to='user@example.com/res'><ping xmlns='urn:xmpp:ping'/></iq>");
  assert.equal(a.held.parsed.children[0]!.attrs.id, 'ping7');
  assert.equal(bHeld.parsed.children[0]!.attrs.id, 'ping7');
  const before = a.up.written.length;
  a.req("<iq type='result' id='ping7' to='example.com' xmlns='jabber:client'/>");
  b.req("<iq type='result' id='ping7' to='example.com' xmlns='jabber:client'/>");
  const replies = a.up.elements.filter((e) => e.name === 'iq' && e.attrs.id === 'ping7');
  assert.equal(replies.length, 1, 'exactly one reply');
  assert.equal(a.up.written.length, before + 1);
  const suppressed = await h.metrics.suppressed.get();
  assert.equal(suppressed.values.find((v) => v.labels.kind === 'iq-reply')?.value, 1);
});

test('D13 Q-14: after binding, a member restart gets bad-request for that member alone', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const r = b.req('', "xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'");
  assert.equal(r.attrs.condition, 'bad-request');
  assert.equal(a.up.restarts, 1, 'only the login restart reached the stream');
  assert.equal(h.manager.size, 1);
  assert.equal(a.held.answered, false, 'the creator is untouched');
});

test('D13: a non-stanza element (XEP-0198) after binding gets bad-request and is not forwarded', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const before = a.up.written.length;
  const r = a.req("<enable xmlns='urn:xmpp:sm:3'/>");
  assert.equal(r.attrs.condition, 'bad-request');
  assert.equal(a.up.written.length, before);
});

test('D13: client state is aggregated: inactive only while every member is', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  a.req("<inactive xmlns='urn:xmpp:csi:0'/>");
  assert.equal(a.up.written.some((x) => x.includes('inactive')), false);
  b.req("<inactive xmlns='urn:xmpp:csi:0'/>");
  assert.equal(a.up.written.at(-1), "<inactive xmlns='urn:xmpp:csi:0'/>");
  b.req("<active xmlns='urn:xmpp:csi:0'/>");
  assert.equal(a.up.written.at(-1), "<active xmlns='urn:xmpp:csi:0'/>");
});

test('D13: a session created without a key passes everything through', async () => {
  const h = createSharedHarness();
  const a = await h.creator('');
  const r = a.req("<enable xmlns='urn:xmpp:sm:3'/>");
  assert.equal(r.answered, false);
  assert.equal(a.up.written.at(-1), "<enable xmlns='urn:xmpp:sm:3'/>");
});

test('D14 Q-20: a newly attached member first gets the presence snapshot, marked shared:replay', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  a.req("<presence xmlns='jabber:client'><show>away</show></presence>");
  a.up.server("<presence from='friend@example.com/x'/><presence from='gone@example.com/y'/><presence from='gone@example.com/y' type='unavailable'/>");
  const b = await h.client();
  const items = b.creation.parsed.children;
  assert.deepEqual(items.map((c) => c.attrs.from), ['user@example.com/res', 'friend@example.com/x'], 'D25: the own presence (an echo) from the bound JID');
  assert.deepEqual(items.map((c) => c.attrs['shared:echo']), ['true', undefined]);
  for (const item of items) assert.equal(item.attrs['shared:replay'], 'true');
  assert.equal(items[0]!.getChild('show')!.text(), 'away');
});

test('D14b: an attach with shared:since gets every event after it, then live traffic', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  a.up.server(MSG_IN);
  const seq = Number(bHeld.attrs['shared:seq']);
  assert.ok(seq > 0);
  // b reloads: its session is gone; meanwhile traffic arrives.
  b.req('', "type='terminate'");
  a.up.server("<message from='friend@example.com/x' id='m2'><body>2</body></message>");
  a.req("<message to='friend@example.com' id='m3' xmlns='jabber:client'><body>3</body></message>");
  const c = await h.client(`shared:key='${KEY}' ${SHARED_NS} shared:since='${seq}'`);
  const replay = c.creation.parsed.children.filter((x) => x.name === 'message');
  assert.deepEqual(replay.map((m) => m.attrs.id), ['m2', 'm3']);
  for (const m of replay) assert.equal(m.attrs['shared:replay'], 'true');
  assert.equal(replay[1]!.attrs['shared:echo'], 'true', 'a member stanza replays as an echo');
  assert.equal(c.creation.attrs['shared:gap'], undefined);
  assert.equal(Number(c.creation.attrs['shared:seq']), seq + 2);
});

test('D14b: shared:gap when the replay buffer no longer reaches back', async () => {
  const h = createSharedHarness({ replayEvents: 2 });
  const a = await h.creator();
  for (let i = 0; i < 5; i++) a.up.server(`<message from='f@example.com/x' id='g${i}'/>`);
  const c = await h.client(`shared:key='${KEY}' ${SHARED_NS} shared:since='1'`);
  assert.equal(c.creation.attrs['shared:gap'], 'true');
  assert.deepEqual(c.creation.parsed.children.filter((x) => x.name === 'message').map((m) => m.attrs.id), ['g3', 'g4']);
});

test('D15: a member that stops polling is ended alone when its queue overflows', async () => {
  const h = createSharedHarness({ maxQueueBytes: 500 });
  const a = await h.creator();
  const b = await h.client();
  for (let i = 0; i < 10; i++) {
    a.up.server(MSG_IN);
    if (a.held.answered) a.held = a.req();
  }
  assert.equal(h.manager.size, 1, 'b ended');
  assert.equal(b.req().attrs.condition, 'policy-violation');
  assert.equal(a.up.closed, false);
});

test('D16 Q-03 Q-04: one member terminating with unavailable presence does not take the user offline', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const before = a.up.written.length;
  b.req("<presence type='unavailable' xmlns='jabber:client'/><message to='f@example.com' xmlns='jabber:client'/>", "type='terminate'");
  const written = a.up.elements.slice(-1);
  assert.equal(a.up.written.length, before + 1);
  assert.equal(written[0]!.name, 'message', 'the rest of the payload is forwarded');
  assert.equal(a.up.closed, false);
  const suppressed = await h.metrics.suppressed.get();
  assert.equal(suppressed.values.find((v) => v.labels.kind === 'unavailable-presence')?.value, 1);
  assert.equal(a.held.answered, true, 'a saw the echo of the message');
});

test('D16: the link outlives its creator; inactivity of one member affects it alone', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  a.req('', "type='terminate'");
  assert.equal(a.up.closed, false);
  const bHeld = b.req();
  a.up.server(MSG_IN);
  assert.equal(bHeld.parsed.children[0]!.name, 'message');
  h.clock.tick(120_000); // b answers its held request on wait, then goes quiet: inactivity
  assert.equal(h.manager.size, 0);
  assert.equal(a.up.closed, true, 'D17: the last member gone closes the stream');
});

test('D18: terminate with shared:close=all ends the link for everyone', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  a.req('', `type='terminate' shared:close='all' ${SHARED_NS}`);
  assert.equal(bHeld.attrs.condition, 'other-request');
  assert.equal(a.up.closed, true);
  assert.equal(h.manager.size, 0);
});

test('D19: upstream loss ends every member with remote-connection-failed; a stream error with remote-stream-error', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  a.up.sink.onEnd({ kind: 'lost' });
  assert.equal(a.held.attrs.condition, 'remote-connection-failed');
  assert.equal(bHeld.attrs.condition, 'remote-connection-failed');
  const h2 = createSharedHarness();
  const c = await h2.creator();
  const d = await h2.client();
  const dHeld = d.req();
  const { Element } = await import('../xml/element.js');
  c.up.sink.onEnd({ kind: 'stream-error', error: new Element('stream:error', {}, [new Element('conflict', { xmlns: 'urn:ietf:params:xml:ns:xmpp-streams' })]) });
  for (const ex of [c.held, dHeld]) {
    assert.equal(ex.attrs.condition, 'remote-stream-error');
    assert.equal(ex.parsed.children[0]!.name, 'stream:error');
  }
});

test('D20: shutdown ends every member with system-shutdown and closes the stream', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  h.manager.beginShutdown();
  await h.links.shutdown(100);
  assert.equal(a.held.attrs.condition, 'system-shutdown');
  assert.equal(bHeld.attrs.condition, 'system-shutdown');
  assert.equal(a.up.closed, true);
  const late = await h.client();
  assert.equal(late.creation.attrs.condition, 'system-shutdown', 'B-130: no new sessions');
});

test('D11 D14b: login traffic gets no event number: shared:since=0 replays nothing from before binding', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  a.up.server(MSG_IN);
  assert.equal(a.held.attrs['shared:seq'], '1', 'the first event after binding is number 1');
  const c = await h.client(`shared:key='${KEY}' ${SHARED_NS} shared:since='0'`);
  assert.deepEqual(c.creation.parsed.children.map((x) => x.name), ['message']);
});
