import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, HTTPBIND } from '../../test/support/bosh-harness.js';
import { parseBody } from '../xml/body-parser.js';

const MSG = "<message to='a@example.com' xmlns='jabber:client'><body>hi</body></message>";

test('B-16 B-124: a request with an unknown sid gets item-not-found', () => {
  const h = createHarness();
  const ex = h.req('nope', 5);
  assert.equal(ex.attrs.type, 'terminate');
  assert.equal(ex.attrs.condition, 'item-not-found');
  assert.equal(ex.replies[0]!.status, 200);
});

test('B-25..B-35 B-37 B-40 X-10: the creation response carries every negotiated attribute', () => {
  const h = createHarness();
  const { ex } = h.create("wait='300' hold='3' ver='1.6'");
  const a = ex.attrs;
  assert.match(a.sid!, /^[0-9a-f]{32}$/);
  assert.equal(a.wait, '60', 'B-26: wait no greater than the configured maximum');
  assert.equal(a.hold, '1', 'B-34: hold no greater than requested nor configured');
  assert.equal(a.requests, '2', 'B-28 B-29: requests = hold + 1');
  assert.equal(a.ver, '1.6');
  assert.equal(a.polling, '2');
  assert.equal(a.inactivity, '30');
  assert.equal(a.maxpause, '120');
  assert.equal(a.accept, 'gzip,deflate');
  assert.equal(a.from, 'example.com');
  assert.equal(a.authid, 'stream-1');
  assert.equal(a['xmpp:version'], '1.0');
  assert.equal(a['xmpp:restartlogic'], 'true');
  assert.equal(ex.parsed.children[0]!.name, 'stream:features', 'X-09: features in the creation response');
});

test('B-26: a client wait below the maximum is kept', () => {
  const h = createHarness();
  assert.equal(h.create("wait='10' hold='1' ver='1.11'").ex.attrs.wait, '10');
});

test('B-19 B-30 D21: ver is the lower of the client and 1.11, minor compared as an integer', () => {
  for (const [client, expected] of [['1.9', '1.9'], ['1.10', '1.10'], ['1.11', '1.11'], ['1.12', '1.11'], ['2.0', '1.11'], ['1.6', '1.6']]) {
    const h = createHarness();
    assert.equal(h.create(`wait='60' hold='1' ver='${client}'`).ex.attrs.ver, expected, client);
  }
});

test('B-23 B-24 B-141: sids are random and unique', () => {
  const h = createHarness();
  const sids = new Set<string>();
  for (let i = 0; i < 50; i++) sids.add(h.create(undefined, 1000 + i * 10).sid);
  assert.equal(sids.size, 50);
});

test('B-17 B-18: content sets the Content-Type of every response, else text/xml; charset=utf-8', () => {
  const h = createHarness();
  const { ex, sid } = h.create("wait='60' hold='1' ver='1.11' content='text/plain; charset=utf-8'");
  assert.equal(ex.replies[0]!.contentType, 'text/plain; charset=utf-8');
  const next = h.req(sid, 1001);
  h.clock.tick(60_000);
  assert.equal(next.replies[0]!.contentType, 'text/plain; charset=utf-8');
  const h2 = createHarness();
  assert.equal(h2.create().ex.replies[0]!.contentType, 'text/xml; charset=utf-8');
});

test('B-122: a creation request without to gets improper-addressing', () => {
  const h = createHarness();
  const ex = h.post(`<body rid='1' wait='60' hold='1' ver='1.11' ${HTTPBIND}/>`);
  assert.equal(ex.attrs.condition, 'improper-addressing');
});

test('B-121: an unserved domain gets host-unknown and no session', () => {
  const h = createHarness();
  const ex = h.post(`<body rid='1' to='unknown.example' wait='60' hold='1' ver='1.11' ${HTTPBIND}/>`);
  assert.equal(ex.attrs.condition, 'host-unknown');
  assert.equal(h.manager.size, 0);
});

test('B-119 B-13: malformed bodies, DTDs and foreign roots get bad-request', () => {
  const h = createHarness();
  for (const body of [
    '<body',
    `<body rid='1' ${HTTPBIND}><message></body>`,
    `<!DOCTYPE body [<!ENTITY x 'y'>]><body rid='1' ${HTTPBIND}>&x;</body>`,
    `<body rid='1' ${HTTPBIND}>text</body>`,
    `<foo rid='1' ${HTTPBIND}/>`,
    `<body rid='1'/>`,
    `<body rid='x' ${HTTPBIND}/>`,
    `<body rid='99999999999999999' ${HTTPBIND}/>`,
    `<body rid='1' to='example.com' ver='one' ${HTTPBIND}/>`,
    `<body ${HTTPBIND}/>`,
  ]) {
    const ex = h.post(body);
    assert.equal(ex.attrs.condition, 'bad-request', body);
  }
});

test('B-119: a malformed request naming a session ends that session only', () => {
  const h = createHarness();
  const a = h.create();
  const b = h.create(undefined, 5000);
  const bad = h.post(`<body rid='1001' sid='${a.sid}' ${HTTPBIND}><unclosed></body>`);
  assert.equal(bad.attrs.condition, 'bad-request');
  assert.equal(h.manager.size, 1);
  const ok = h.req(b.sid, 5001, MSG);
  assert.equal(ok.answered, false, 'the other session is untouched and holds its request');
  assert.equal(h.link.sent.length, 1);
});

test('B-116 B-115: legacy clients (no ver) get HTTP 400/403/404; others get 200', () => {
  const h = createHarness();
  const { sid } = h.create("wait='60' hold='1'");
  const ex = h.req(sid, 1000 + 50);
  assert.equal(ex.replies[0]!.status, 404, 'rid above window: item-not-found -> 404');
  const h2 = createHarness();
  const s2 = h2.create();
  assert.equal(h2.req(s2.sid, 1050).replies[0]!.status, 200);
  const h3 = createHarness();
  const s3 = h3.create("wait='60' hold='1'");
  assert.equal(h3.post(`<body rid='1001' sid='${s3.sid}' ${HTTPBIND}><x></body>`).replies[0]!.status, 400);
});

test('B-45 B-46 B-51 B-83: out-of-order requests are forwarded and answered in rid order', () => {
  const h = createHarness({ maxHold: 2 });
  const { sid } = h.create("wait='60' hold='2' ver='1.11'");
  const r3 = h.req(sid, 1002, "<message id='b' xmlns='jabber:client'/>");
  assert.equal(h.link.sent.length, 0, 'rid 1002 waits for 1001');
  const r2 = h.req(sid, 1001, "<message id='a' xmlns='jabber:client'/>");
  assert.deepEqual(h.link.sent.map((p) => p[0]!.attrs.id), ['a', 'b']);
  assert.equal(r2.answered, false);
  assert.equal(r3.answered, false);
  h.link.deliver(MSG);
  assert.equal(r2.parsed.children.length, 1, 'B-51: the lower rid is answered first');
  assert.equal(r3.answered, false);
});

test('B-47 B-48 B-50: one request beyond hold answers the oldest held request at once', () => {
  const h = createHarness();
  const { sid } = h.create();
  const r1 = h.req(sid, 1001);
  assert.equal(r1.answered, false, 'B-48: held');
  const r2 = h.req(sid, 1002, MSG);
  assert.equal(r1.replies[0]!.status, 200);
  assert.equal(r1.parsed.children.length, 0, 'empty body');
  assert.equal(r2.answered, false);
});

test('B-49 B-52 B-54: an empty request is held at most wait seconds, then answered empty', () => {
  const h = createHarness();
  const { sid } = h.create("wait='20' hold='1' ver='1.11'");
  const r1 = h.req(sid, 1001);
  h.clock.tick(19_999);
  assert.equal(r1.answered, false);
  h.clock.tick(1);
  assert.equal(r1.replies[0]!.body, `<body ${HTTPBIND}/>`);
});

test('B-53: stanzas from the server go out on the held request at once', () => {
  const h = createHarness();
  const { sid } = h.create();
  const r1 = h.req(sid, 1001);
  h.link.deliver(MSG);
  assert.equal(r1.parsed.children[0]!.name, 'message');
});

test('B-53: stanzas queued while no request is held go out with the next one', () => {
  const h = createHarness();
  const { sid } = h.create();
  h.link.deliver(MSG);
  h.link.deliver(MSG);
  const r1 = h.req(sid, 1001);
  assert.equal(r1.parsed.children.length, 2);
});

test('X-02 B-11 B-12 B-14: a body with stream features declares xmlns:stream and is well-formed', () => {
  const h = createHarness();
  const { ex } = h.create();
  assert.match(ex.replies[0]!.body, /xmlns:stream='http:\/\/etherx.jabber.org\/streams'/);
  parseBody(ex.replies[0]!.body);
});

test('B-86 B-88: a repeated rid that was answered gets the identical stored response', () => {
  const h = createHarness();
  const { sid } = h.create();
  const r1 = h.req(sid, 1001);
  h.link.deliver(MSG);
  const again = h.req(sid, 1001);
  assert.equal(again.replies[0]!.body, r1.replies[0]!.body);
  assert.equal(h.link.sent.length, 0, 'not forwarded twice');
});

test('B-87 B-92: a repeated rid whose response is no longer stored gets item-not-found', () => {
  const h = createHarness();
  const { sid } = h.create();
  for (let rid = 1001; rid <= 1004; rid++) {
    h.req(sid, rid);
    h.clock.tick(60_000);
  }
  const old = h.req(sid, 1001);
  assert.equal(old.attrs.condition, 'item-not-found');
  assert.equal(h.manager.size, 0);
});

test('B-89 B-132 B-133: a repeated rid still held: the older copy gets a recoverable error, the new one the answer', () => {
  const h = createHarness();
  const { sid } = h.create();
  const first = h.req(sid, 1001);
  const second = h.req(sid, 1001);
  assert.equal(first.attrs.type, 'error');
  assert.equal(second.answered, false);
  h.link.deliver(MSG);
  assert.equal(second.parsed.children.length, 1);
  assert.equal(h.manager.size, 1, 'the session survives');
});

test('B-89: a repeated rid that is buffered out of order replaces the buffered copy', () => {
  const h = createHarness();
  const { sid } = h.create();
  const early = h.req(sid, 1002, MSG);
  const again = h.req(sid, 1002, MSG);
  assert.equal(early.attrs.type, 'error');
  h.req(sid, 1001);
  assert.equal(h.link.sent.length, 1, 'forwarded once');
  h.link.deliver(MSG);
  assert.equal(again.answered, true);
});

test('B-90 B-91: resending one rid too often gets policy-violation', () => {
  const h = createHarness();
  const { sid } = h.create();
  h.req(sid, 1001);
  h.clock.tick(60_000);
  let last;
  for (let i = 0; i < 6; i++) last = h.req(sid, 1001);
  assert.equal(last!.attrs.condition, 'policy-violation');
});

test('B-84 B-85 B-93: a rid above the window ends the session with item-not-found', () => {
  const h = createHarness();
  const { sid } = h.create();
  const ex = h.req(sid, 1003);
  assert.equal(ex.attrs.condition, 'item-not-found');
  assert.equal(h.manager.size, 0);
});

test('B-70: one extra request is allowed for terminate or pause', () => {
  const h = createHarness();
  const { sid } = h.create();
  h.req(sid, 1001);
  h.req(sid, 1002, MSG);
  const term = h.req(sid, 1003, '', "type='terminate'");
  assert.equal(term.answered, true);
  assert.notEqual(term.attrs.condition, 'policy-violation');
});

test('B-71: more simultaneous requests than requests gets policy-violation', () => {
  const h = createHarness();
  const { sid } = h.create();
  h.req(sid, 1001); // held
  h.req(sid, 1003, MSG); // buffered: 1002 missing
  const third = h.req(sid, 1002, MSG);
  // 1002 arrives with 1001 and 1003 outstanding: three new requests with none answered.
  assert.equal(third.attrs.condition, 'policy-violation');
});

test('B-73 D24: with bosh.pollingViolations 0, an empty request while `requests` are outstanding, within polling, is a policy-violation', () => {
  const h = createHarness({ pollingViolations: 0 });
  const { sid } = h.create();
  h.req(sid, 1001);
  h.clock.tick(500);
  const ex = h.req(sid, 1002);
  assert.equal(ex.attrs.condition, 'policy-violation');
});

test('B-50 B-73 D24: two empty requests with hold=1 half a second apart: the first is answered, the second held, the session goes on', () => {
  const h = createHarness();
  const { sid } = h.create();
  const a = h.req(sid, 1001);
  h.clock.tick(500);
  const b = h.req(sid, 1002);
  assert.equal(a.replies[0]!.body, `<body ${HTTPBIND}/>`, 'the oldest held request is answered empty');
  assert.equal(b.answered, false, 'the newest is held');
  assert.equal(h.manager.size, 1);
  h.link.deliver(MSG);
  assert.equal(b.parsed.children[0]!.name, 'message');
});

test('B-73 B-77 D24: more than bosh.pollingViolations violations within bosh.pollingWindowS end the session with policy-violation', () => {
  const h = createHarness({ pollingViolations: 3, pollingWindowS: 60 });
  const { sid } = h.create();
  h.req(sid, 1001);
  const replies = [];
  for (let rid = 1002; rid <= 1005; rid++) {
    h.clock.tick(100);
    replies.push(h.req(sid, rid));
  }
  assert.equal(replies[1]!.attrs.condition, undefined, 'the second violation was tolerated: answered as the oldest when the third came');
  assert.equal(replies[2]!.attrs.condition, 'other-request', 'the third was tolerated and held (B-125 when the session ends)');
  assert.equal(replies[3]!.attrs.condition, 'policy-violation', 'the fourth within the window ends the session');
  assert.equal(h.manager.size, 0);
});

test('B-73 D24: violations further apart than bosh.pollingWindowS never add up', () => {
  const h = createHarness({ pollingViolations: 1, pollingWindowS: 10 });
  const { sid } = h.create();
  h.req(sid, 1001);
  let last;
  for (let rid = 1002; rid <= 1010; rid++) {
    h.clock.tick(rid % 2 === 0 ? 500 : 10_500);
    last = h.req(sid, rid);
  }
  assert.equal(last!.answered, false);
  assert.equal(h.manager.size, 1);
});

test('B-73 B-74: the same request after the polling interval is fine', () => {
  const h = createHarness();
  const { sid } = h.create();
  const r1 = h.req(sid, 1001);
  h.clock.tick(2_000);
  const r2 = h.req(sid, 1002);
  assert.equal(r1.parsed.children.length, 0);
  assert.equal(r2.answered, false);
});

test('B-77 B-75 B-76 D24: polling sessions (hold=0): two empty polls within polling seconds count as a violation, not an end', () => {
  const h = createHarness();
  const { sid, ex } = h.create("wait='60' hold='0' ver='1.11'");
  assert.equal(ex.attrs.hold, '0');
  assert.equal(ex.attrs.requests, '1');
  assert.equal(Number(ex.attrs.inactivity) > 30 + 2, true, 'B-76: longer inactivity for polling sessions');
  const p1 = h.req(sid, 1001);
  assert.equal(p1.parsed.children.length, 0, 'answered at once');
  h.clock.tick(2_500);
  h.req(sid, 1002);
  h.clock.tick(500);
  const p3 = h.req(sid, 1003);
  assert.equal(p3.attrs.condition, undefined, 'tolerated as one violation');
  assert.equal(h.manager.size, 1);
});

test('B-77 D24: with bosh.pollingViolations 0, two empty polls within polling seconds get policy-violation', () => {
  const h = createHarness({ pollingViolations: 0 });
  const { sid } = h.create("wait='60' hold='0' ver='1.11'");
  h.req(sid, 1001);
  h.clock.tick(2_500);
  h.req(sid, 1002);
  h.clock.tick(500);
  assert.equal(h.req(sid, 1003).attrs.condition, 'policy-violation');
});

test('B-73 D24: Converse reload: the held request is closed after 300 ms, an empty rid+1 100 ms later is held, and a stanza then arrives', () => {
  const h = createHarness({ pollingViolations: 0 });
  const { sid } = h.create();
  const a = h.req(sid, 1001);
  h.clock.tick(300);
  a.close();
  h.clock.tick(100);
  const b = h.req(sid, 1002);
  assert.equal(b.answered, false, 'held: the lost request counts for nothing, even with the rule read literally');
  assert.equal(h.manager.size, 1);
  h.link.deliver(MSG);
  assert.equal(b.parsed.children[0]!.name, 'message');
  assert.equal(a.writtenAfterGone, 0, 'nothing written to the lost request');
});

test('B-50 D24: a dropped request no longer counts towards hold: stanzas wait in the queue for the next request', () => {
  const h = createHarness();
  const { sid } = h.create();
  const a = h.req(sid, 1001);
  a.close();
  h.link.deliver(MSG);
  assert.equal(a.writtenAfterGone, 0);
  const b = h.req(sid, 1002);
  assert.equal(b.parsed.children[0]!.name, 'message', 'the queued stanza goes out on the next request');
});

test('B-61 D24: when the only held request is dropped, the inactivity timer starts', () => {
  const h = createHarness();
  const { sid } = h.create();
  const a = h.req(sid, 1001);
  h.clock.tick(10_000);
  a.close();
  h.clock.tick(29_999);
  assert.equal(h.manager.size, 1);
  h.clock.tick(1);
  assert.equal(h.manager.size, 0, 'inactivity (30 s) counted from the drop, not from the request');
  assert.equal(a.writtenAfterGone, 0);
});

test('B-89 D24: resuming with the saved sid and the rid of the dropped request: held again, gets what arrived meanwhile', () => {
  const h = createHarness();
  const { sid } = h.create();
  const a = h.req(sid, 1001, MSG);
  a.close();
  h.link.deliver(MSG);
  const again = h.req(sid, 1001, MSG);
  assert.equal(h.link.sent.length, 1, 'its payload was forwarded once, when it first arrived');
  assert.equal(again.parsed.children.length, 1, 'the stanza that arrived meanwhile');
  const next = h.req(sid, 1002);
  assert.equal(next.answered, false);
  h.link.deliver(MSG);
  assert.equal(next.parsed.children.length, 1, 'the session goes on');
  assert.equal(h.manager.size, 1);
});

test('B-89 D24: resuming with the rid of the dropped request and nothing queued: held until a stanza comes', () => {
  const h = createHarness();
  const { sid } = h.create();
  const a = h.req(sid, 1001);
  a.close();
  const again = h.req(sid, 1001);
  assert.equal(again.answered, false);
  h.link.deliver(MSG);
  assert.equal(again.parsed.children.length, 1);
});

test('B-82 D24: resuming with the saved sid and the next rid continues with nothing lost', () => {
  const h = createHarness();
  const { sid } = h.create();
  const a = h.req(sid, 1001);
  a.close();
  h.link.deliver(MSG);
  const next = h.req(sid, 1002);
  assert.equal(next.parsed.children.length, 1);
  const later = h.req(sid, 1003);
  h.link.deliver(MSG);
  assert.equal(later.parsed.children.length, 1);
  assert.equal(a.writtenAfterGone, 0);
});

test('B-88 B-89 D24: a stanza delivered at the moment the held request is dropped arrives exactly once on a retry of the same rid', () => {
  for (const closeFirst of [true, false]) {
    const h = createHarness();
    const { sid } = h.create();
    const a = h.req(sid, 1001);
    if (closeFirst) a.close();
    h.link.deliver(MSG);
    // Delivered first: the reply was written but the client did not read it before it closed.
    if (!closeFirst) a.close();
    const retry = h.req(sid, 1001);
    const next = h.req(sid, 1002);
    const received = [...(closeFirst ? [] : a.replies), ...retry.replies, ...next.replies].filter((r) => r.body.includes('<message'));
    assert.equal(received.length, closeFirst ? 1 : 2, closeFirst ? 'once, on the retry' : 'the lost write, then its replay (B-88)');
    assert.equal(retry.parsed.children.length, 1, 'the retry carries it');
    assert.equal(next.answered, false, 'and the next request does not carry it again');
    assert.equal(a.writtenAfterGone, 0);
  }
});

test('B-83 D24: an early request whose client went away is forwarded in rid order but not held', () => {
  const h = createHarness({ maxHold: 2 });
  const { sid } = h.create("wait='60' hold='2' ver='1.11'");
  const early = h.req(sid, 1002, "<message id='b' xmlns='jabber:client'/>");
  early.close();
  const first = h.req(sid, 1001, "<message id='a' xmlns='jabber:client'/>");
  assert.deepEqual(h.link.sent.map((p) => p[0]!.attrs.id), ['a', 'b']);
  h.link.deliver(MSG);
  assert.equal(first.parsed.children.length, 1);
  assert.equal(early.writtenAfterGone, 0);
  const retry = h.req(sid, 1002);
  h.link.deliver(MSG);
  assert.equal(retry.parsed.children.length, 1, 'a repeat of its rid is held again');
  assert.equal(h.link.sent.length, 2, 'and not forwarded again');
});

test('B-83 B-84 B-85 D24: Converse reload: the request sent just before it never arrived; the restored page goes on from the next rid, nothing lost or repeated', () => {
  // The sequence of a failing run of test/browser/converse.test.ts (hold=1, requests=2): Strophe
  // saves rid+1 in sessionStorage when it builds a request, so the restored page starts above the
  // request that the reload aborted before it reached the CM.
  const h = createHarness();
  const { sid } = h.create();
  const a = h.req(sid, 1001, "<iq id='devices' type='get' to='bob@example.com' xmlns='jabber:client'/>");
  h.link.deliver("<iq id='bundle' type='result' xmlns='jabber:client'/>");
  assert.equal(a.parsed.children.length, 1);
  // rid 1002 (the next empty request) is built and saved, then lost in the reload.
  const queued = ["<iq id='devices' type='error' from='bob@example.com' xmlns='jabber:client'/>", "<message id='m1' xmlns='jabber:client'><body>one</body></message>", "<message id='m2' xmlns='jabber:client'><body>two</body></message>"];
  for (const xml of queued) h.link.deliver(xml);
  const restored = h.req(sid, 1003);
  assert.equal(restored.answered, false, 'B-83: it waits for 1002 while the client may still have it open');
  const second = h.req(sid, 1004, "<presence xmlns='jabber:client'/>");
  assert.equal(h.manager.size, 1, 'the session goes on');
  assert.notEqual(second.replies[0]?.body.includes("type='terminate'"), true);
  assert.deepEqual(restored.parsed.children.map((c) => c.attrs.id), ['devices', 'm1', 'm2'], 'what waited goes out once, in order');
  assert.equal(second.answered, false, 'held (hold=1)');
  assert.deepEqual(h.link.sent.map((p) => p[0]!.name), ['iq', 'presence']);
  h.link.deliver(MSG);
  assert.equal(second.parsed.children.length, 1);
  // Should the lost request still turn up, it is not forwarded out of order and ends nothing.
  const late = h.req(sid, 1002, "<message id='late' xmlns='jabber:client'/>");
  assert.equal(late.attrs.type, 'error', 'B-132: a recoverable error');
  assert.deepEqual(h.link.sent.map((p) => p[0]!.name), ['iq', 'presence'], 'B-46: its payload is not forwarded after later ones');
  const next = h.req(sid, 1005);
  h.link.deliver(MSG);
  assert.equal(next.parsed.children.length, 1);
  assert.equal(h.manager.size, 1);
});

test('B-83 B-84 B-85 D24: a missing rid counts as lost only once `requests` open requests are above it; a rid beyond that window still ends the session', () => {
  const h = createHarness({ maxHold: 2 });
  const { sid } = h.create("wait='60' hold='2' ver='1.11'");
  // requests = 3 (hold + 1): two requests above a gap may still be reordering.
  const b = h.req(sid, 1002, "<message id='b' xmlns='jabber:client'/>");
  const c = h.req(sid, 1003, "<message id='c' xmlns='jabber:client'/>");
  assert.equal(h.link.sent.length, 0, 'B-83: 1001 may still come');
  const first = h.req(sid, 1001, "<message id='a' xmlns='jabber:client'/>");
  assert.deepEqual(h.link.sent.map((p) => p[0]!.attrs.id), ['a', 'b', 'c']);
  assert.equal(first.answered, true, 'B-50: the oldest is answered beyond hold');
  assert.equal([b, c].filter((x) => x.answered).length, 0);
  // Three open above the gap at 1004 (1005, 1006, 1007): 1004 is lost.
  h.link.deliver(MSG);
  h.link.deliver(MSG);
  const e = h.req(sid, 1005);
  const f = h.req(sid, 1006);
  assert.equal(h.manager.size, 1);
  assert.equal([e, f].filter((x) => x.answered).length, 0, '1004 may still come');
  const g = h.req(sid, 1007, "<message id='g' xmlns='jabber:client'/>");
  assert.equal(h.manager.size, 1, 'the session goes on');
  assert.deepEqual(h.link.sent.map((p) => p[0]!.attrs.id), ['a', 'b', 'c', 'g']);
  assert.equal(e.answered, true);
  assert.equal([f, g].filter((x) => x.answered).length, 0, 'hold=2');
  // Far beyond: still B-85.
  const far = h.req(sid, 1011);
  assert.equal(far.attrs.condition, 'item-not-found');
  assert.equal(h.manager.size, 0);
});

test('B-61 B-62 B-64: an inactive session ends silently and later requests get item-not-found', () => {
  const h = createHarness();
  const { sid } = h.create();
  h.clock.tick(29_999);
  assert.equal(h.manager.size, 1);
  h.clock.tick(1);
  assert.equal(h.manager.size, 0);
  assert.deepEqual(h.link.left, [null], 'the member left its link');
  assert.equal(h.req(sid, 1001).attrs.condition, 'item-not-found');
});

test('B-61: inactivity counts only while no request is held', () => {
  const h = createHarness();
  const { sid } = h.create();
  h.req(sid, 1001);
  h.clock.tick(59_999);
  assert.equal(h.manager.size, 1);
});

test('B-65 B-66 B-67 B-68: pause answers every held request, no payload in its own response, extends inactivity', () => {
  const h = createHarness();
  const { sid } = h.create();
  const held = h.req(sid, 1001);
  h.link.deliver(MSG);
  h.link.deliver(MSG);
  const held2 = h.req(sid, 1002);
  assert.equal(held.answered, true);
  const pause = h.req(sid, 1003, '', "pause='100'");
  assert.equal(held2.answered, true);
  assert.equal(pause.parsed.children.length, 0, 'B-66');
  h.clock.tick(99_000);
  assert.equal(h.manager.size, 1, 'inactivity raised to pause');
  const back = h.req(sid, 1004);
  assert.equal(back.answered, false);
  h.clock.tick(60_000); // wait answers the request; inactivity is back to 30 s
  h.clock.tick(30_000);
  assert.equal(h.manager.size, 0, 'B-68: inactivity back to normal');
});

test('B-78 B-79 B-80 B-81: terminate forwards its payload and confirms on the oldest open request', () => {
  const h = createHarness();
  const { sid } = h.create();
  const held = h.req(sid, 1001);
  const term = h.req(sid, 1002, "<presence type='unavailable' xmlns='jabber:client'/>", "type='terminate'");
  assert.equal(h.link.left.length, 1);
  assert.equal(h.link.left[0]![0]!.name, 'presence');
  assert.equal(held.attrs.type, 'terminate');
  assert.equal(held.attrs.condition, undefined);
  assert.equal(term.replies[0]!.body, `<body ${HTTPBIND}/>`);
  assert.equal(h.manager.size, 0);
});

test('B-79 B-80: terminate as the only open request is confirmed with type=terminate', () => {
  const h = createHarness();
  const { sid } = h.create();
  const term = h.req(sid, 1001, '', "type='terminate'");
  assert.equal(term.attrs.type, 'terminate');
  assert.equal(term.replies[0]!.status, 200);
});

test('B-39 B-56 B-55 B-57: acknowledgements: ack on creation, then only when it differs from the rid', () => {
  const h = createHarness({ maxHold: 2 });
  const { ex, sid } = h.create("wait='60' hold='2' ver='1.11' ack='1'");
  assert.equal(ex.attrs.ack, '1000');
  const r1 = h.req(sid, 1001, '', "ack='1000'");
  const r2 = h.req(sid, 1002, '', "ack='1000'");
  h.link.deliver(MSG);
  assert.equal(r1.attrs.ack, '1002', 'answering 1001 after 1002 arrived');
  h.link.deliver(MSG);
  assert.equal(r2.attrs.ack, undefined, 'B-57: ack equal to the rid is left out');
});

test('B-58 B-87: with acks, acknowledged responses are dropped from the cache; unacknowledged kept', () => {
  const h = createHarness();
  const { sid } = h.create("wait='60' hold='1' ver='1.11' ack='1'");
  for (let rid = 1001; rid <= 1004; rid++) {
    h.req(sid, rid, '', "ack='1000'");
    h.link.deliver(MSG);
  }
  const replay = h.req(sid, 1001, '', "ack='1000'");
  assert.equal(replay.parsed.children.length, 1, 'unacknowledged: still replayable');
  h.req(sid, 1005, '', "ack='1003'");
  assert.equal(h.req(sid, 1002).attrs.condition, 'item-not-found', 'acknowledged: gone');
});

test('B-59 B-60: an ack that leaves a response unacknowledged for a while gets report and time', () => {
  const h = createHarness();
  const { sid } = h.create("wait='60' hold='1' ver='1.11' ack='1'");
  h.req(sid, 1001, '', "ack='1000'");
  h.link.deliver(MSG); // 1001 answered, lost on the way
  h.clock.tick(3_000);
  const r = h.req(sid, 1002, '', "ack='1000'");
  assert.equal(r.attrs.report, '1001');
  assert.equal(r.attrs.time, '3000');
});

test('B-94..B-98: key sequencing accepts the chain, a switch to a new chain, and rejects a wrong key', async () => {
  const { createHash } = await import('node:crypto');
  const sha = (s: string) => createHash('sha1').update(s).digest('hex');
  const k0 = 'seed';
  const k1 = sha(k0);
  const k2 = sha(k1);
  const h = createHarness();
  const { sid } = h.create(`wait='60' hold='1' ver='1.11' newkey='${k2.toUpperCase()}'`);
  h.req(sid, 1001, '', `key='${k1}'`);
  h.clock.tick(60_000);
  const n0 = 'other';
  const n1 = sha(n0);
  h.req(sid, 1002, '', `key='${k0}' newkey='${n1}'`);
  h.clock.tick(60_000);
  const ok = h.req(sid, 1003, '', `key='${n0}'`);
  assert.equal(ok.answered, false, 'accepted and held: ' + JSON.stringify(ok.replies));
  h.clock.tick(60_000);
  const bad = h.req(sid, 1004, '', `key='${n0}'`);
  assert.equal(bad.attrs.condition, 'item-not-found', 'B-97');
});

test('B-97: a missing key after a newkey ends the session with item-not-found', () => {
  const h = createHarness();
  const { sid, ex } = h.create("wait='60' hold='1' ver='1.11' newkey='abcdef'");
  assert.equal(ex.attrs.type, undefined, 'the creation request itself is accepted');
  assert.equal(h.req(sid, 1001).attrs.condition, 'item-not-found');
});

test('X-18 X-19 X-22: xmpp:restart (xs:boolean) restarts the stream and its payload is not forwarded', () => {
  for (const value of ['true', '1']) {
    const h = createHarness();
    const { sid } = h.create();
    const r = h.req(sid, 1001, MSG, `xmpp:restart='${value}' xmlns:xmpp='urn:xmpp:xbosh'`);
    assert.equal(h.link.restarts, 1);
    assert.equal(h.link.sent.length, 0);
    h.link.open();
    assert.equal(r.parsed.children[0]!.name, 'stream:features', 'X-21');
  }
  const h = createHarness();
  const { sid } = h.create();
  h.req(sid, 1001, '', "xmpp:restart='false' xmlns:xmpp='urn:xmpp:xbosh'");
  assert.equal(h.link.restarts, 0);
});

test('S-01: qualified attributes are found by namespace, not by prefix', () => {
  const h = createHarness();
  const { sid } = h.create();
  h.req(sid, 1001, '', "x:restart='true' xmlns:x='urn:xmpp:xbosh'");
  assert.equal(h.link.restarts, 1);
});

test('X-04 B-15: payloads keep the namespace form the client used; prefixes declared on body are carried', () => {
  const h = createHarness();
  const { sid } = h.create();
  h.req(sid, 1001, "<message to='x@y'><body>a</body></message><p:q xmlns:p='urn:q'/><r:s/>", "xmlns:r='urn:r'");
  const [plain, declared, inherited] = h.link.sent[0]!;
  assert.equal(plain!.toString(), "<message to='x@y'><body>a</body></message>");
  assert.equal(declared!.toString(), "<p:q xmlns:p='urn:q'/>");
  assert.equal(inherited!.toString(), "<r:s xmlns:r='urn:r'/>");
});

test('D15: a session whose queue overflows while no request is held ends alone', () => {
  const h = createHarness({ maxQueueBytes: 200 });
  const a = h.create();
  const aMember = h.link.members[0]!;
  h.create(undefined, 5000);
  for (let i = 0; i < 5; i++) h.link.deliver(MSG, aMember);
  assert.equal(h.manager.size, 1);
  const next = h.req(a.sid, 1001);
  assert.equal(next.attrs.condition, 'policy-violation', 'the next request learns why');
});

test('B-117 B-127 X-24: a link failure reaches the held request with the condition and queued stanzas first', async () => {
  const { BoshError } = await import('./conditions.js');
  const { Element } = await import('../xml/element.js');
  const h = createHarness();
  const { sid } = h.create();
  h.link.deliver(MSG);
  const streamError = new Element('stream:error', {}, [new Element('conflict', { xmlns: 'urn:ietf:params:xml:ns:xmpp-streams' })]);
  h.link.members[0]!.fail(new BoshError('remote-stream-error', 'x', [streamError]));
  const r = h.req(sid, 1001);
  assert.equal(r.attrs.condition, 'remote-stream-error');
  const children = r.parsed.children;
  assert.deepEqual(children.map((c) => c.name), ['message', 'stream:error']);
  assert.match(r.replies[0]!.body, /xmlns:stream=/, 'X-03');
});

test('B-125: a request that ends the session answers the other held requests with other-request', () => {
  const h = createHarness();
  const { sid } = h.create();
  const held = h.req(sid, 1001);
  h.req(sid, 1005);
  assert.equal(held.attrs.condition, 'other-request');
});

test('B-36: later responses do not repeat the creation-only attributes', () => {
  const h = createHarness();
  const { sid } = h.create();
  const r = h.req(sid, 1001);
  h.link.deliver(MSG);
  for (const name of ['sid', 'wait', 'requests', 'ver', 'polling', 'inactivity', 'hold', 'maxpause', 'accept', 'authid']) {
    assert.equal(r.attrs[name], undefined, name);
  }
});

test('B-41: payloads keep non-ASCII text; bodies are UTF-8 text with the charset declared', () => {
  const h = createHarness();
  const { sid, ex } = h.create();
  assert.match(ex.replies[0]!.contentType, /charset=utf-8/);
  const r = h.req(sid, 1001);
  h.link.deliver("<message xmlns='jabber:client'><body>Grüße 😀 中文</body></message>");
  assert.equal(r.parsed.children[0]!.getChild('body')!.text(), 'Grüße 😀 中文');
  h.req(sid, 1002, "<message to='a@example.com' xmlns='jabber:client'><body>ñ €</body></message>");
  assert.equal(h.link.sent[0]![0]!.getChild('body')!.text(), 'ñ €');
});

test('B-82: rids up to 2^53 - 1 are handled exactly', () => {
  const h = createHarness();
  const top = Number.MAX_SAFE_INTEGER;
  const { sid, ex } = h.create(undefined, top - 2);
  assert.equal(ex.attrs.type, undefined);
  h.req(sid, top - 1);
  h.clock.tick(60_000);
  const last = h.req(sid, top, MSG);
  assert.equal(last.answered, false, 'held like any other');
  assert.equal(h.link.sent.length, 1);
});

test('B-82 B-119: rid 0 is not a positive integer: bad-request, on creation and within a session (which it ends)', () => {
  const h = createHarness();
  const creation = h.post(`<body rid='0' to='example.com' wait='60' hold='1' ver='1.11' ${HTTPBIND}/>`);
  assert.equal(creation.attrs.condition, 'bad-request');
  assert.equal(h.manager.size, 0, 'no session');
  const { sid } = h.create();
  const zero = h.req(sid, 0);
  assert.equal(zero.attrs.condition, 'bad-request');
  assert.equal(h.manager.size, 0);
});

test('B-101 D21: without multiple streams, a later request with to is an ordinary request', () => {
  const h = createHarness();
  const { sid, ex } = h.create();
  assert.equal(ex.attrs.stream, undefined, 'B-99: no stream attribute: multiple streams not offered');
  const r = h.req(sid, 1001, '', "to='other.example'");
  assert.equal(r.answered, false, 'held as a poll');
  assert.equal(h.link.joins.length, 1, 'no new stream');
  h.link.deliver(MSG);
  assert.equal(r.attrs.stream, undefined);
});

test('B-136 B-138 B-139: a session created over TLS: an unencrypted request is dropped, the session goes on', async () => {
  const { FakeExchange } = await import('../../test/support/bosh-harness.js');
  const h = createHarness();
  const creation = new FakeExchange(`<body rid='1000' to='example.com' wait='60' hold='1' ver='1.11' ${HTTPBIND}/>`);
  creation.secure = true;
  h.manager.handle(creation);
  h.link.open();
  const sid = creation.attrs.sid!;
  const plain = h.req(sid, 1001, MSG);
  assert.equal(plain.dropped, true);
  assert.equal(plain.answered, false);
  assert.equal(h.link.sent.length, 0, 'not processed');
  const secure = new FakeExchange(`<body rid='1001' sid='${sid}' ${HTTPBIND}>${MSG}</body>`);
  secure.secure = true;
  h.manager.handle(secure);
  assert.equal(h.link.sent.length, 1, 'the same rid over TLS is processed');
  assert.equal(h.manager.size, 1);
});

test('B-123 11.4: an exception from the link while a request is handled ends that session alone with internal-server-error', () => {
  const h = createHarness();
  const a = h.create();
  const b = h.create(undefined, 5000);
  h.link.faults.send = new TypeError('bug in the link');
  const failed = h.req(a.sid, 1001, MSG);
  h.link.faults.send = undefined;
  assert.equal(failed.attrs.condition, 'internal-server-error');
  assert.equal(h.manager.size, 1, 'the session ended for real');
  assert.deepEqual(h.link.left, [null], 'its member left the link');
  assert.equal(h.req(a.sid, 1002).attrs.condition, 'internal-server-error', 'later requests learn why');
  const logged = h.lines.find((l) => l.includes('unexpected exception in the session'));
  assert.ok(logged?.includes('bug in the link') && logged.includes('"stack"'), 'logged with its stack');
  const other = h.req(b.sid, 5001, MSG);
  assert.equal(other.answered, false, 'the other session goes on');
  h.link.deliver(MSG, h.link.members[1]);
  assert.equal(other.parsed.children.length, 1);
});

test('B-123 11.4: an exception in a timer callback (the link throws when an inactive member leaves) ends the session and goes no further', () => {
  const h = createHarness();
  h.create();
  h.link.faults.leave = new Error('leave failed');
  assert.doesNotThrow(() => h.clock.tick(30_000));
  assert.equal(h.manager.size, 0);
  assert.ok(h.lines.some((l) => l.includes('leave failed')));
});

test('B-123 11.4: an exception while answering on the wait timer ends the session with internal-server-error', () => {
  const h = createHarness();
  const { sid } = h.create();
  const held = h.req(sid, 1001);
  held.replyFault = new Error('reply failed');
  assert.doesNotThrow(() => h.clock.tick(60_000));
  assert.equal(h.manager.size, 0);
  assert.deepEqual(h.link.left, [null]);
  assert.equal(h.req(sid, 1002).attrs.condition, 'internal-server-error');
});

test('B-123 11.4: an exception while a stanza is delivered does not reach the link; only that session ends', () => {
  const h = createHarness();
  const a = h.create();
  const b = h.create(undefined, 5000);
  const heldA = h.req(a.sid, 1001);
  const heldB = h.req(b.sid, 5001);
  heldA.replyFault = new Error('reply failed');
  assert.doesNotThrow(() => h.link.deliver(MSG, h.link.members[0]));
  assert.equal(h.manager.size, 1);
  h.link.deliver(MSG, h.link.members[1]);
  assert.equal(heldB.parsed.children.length, 1);
});
