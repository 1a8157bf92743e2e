/**
 * Shared BOSH end to end: several BOSH members share one upstream XMPP stream that our CM keeps
 * to a throwaway Prosody (docs/shared-bosh.md, docs/design.md D1..D20, D14b). The other
 * party, bob, is an independent Strophe.js client logged in directly on Prosody's own mod_bosh.
 *
 * Every test builds its own link (fresh key, alice logs in with SASL PLAIN through the CM, with its
 * own resource), and afterEach terminates every member left and waits until Prosody shows alice
 * offline, so that the tests do not depend on each other.
 *
 * Test names start with the requirement IDs (docs/requirements.md) and design decisions (docs/design.md)
 * they exercise.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnectionManager } from '../../src/cm.js';
import { DEFAULT_CONFIG, type CmConfig } from '../../src/config.js';
import { createMemoryLogger } from '../../src/log.js';
import { prosodyAvailable, startProsody, type ProsodyInstance } from '../support/prosody.js';
import { connectStrophe, eventually, type StropheClient } from '../support/xmpp-clients.js';
import { HTTPBIND_NS, postBody } from '../support/bosh-http.js';
import { bodyText, isEcho, isReplay, newKey, settle, SharedMember, type Got } from '../support/shared-clients.js';
import { childElements, namesInNamespace, parseNamespaced, type NsElement } from '../support/namespaced-xml.js';
import { NS_SHARED } from '../../src/protocol/namespaces.js';

const skip = prosodyAvailable() ? false : 'prosody is not installed';
const T = { timeout: 20_000 };
const WAIT = { timeoutMs: 5000 };
const ALICE = 'alice@localhost';

type Cm = ReturnType<typeof createConnectionManager>;

function cmConfig(prosody: ProsodyInstance, overrides: Partial<CmConfig> = {}): CmConfig {
  return {
    ...DEFAULT_CONFIG,
    http: { ...DEFAULT_CONFIG.http, port: 0 },
    logLevel: 'silent',
    bosh: { ...DEFAULT_CONFIG.bosh, creationsPerMinute: 0 },
    upstream: { ...DEFAULT_CONFIG.upstream, connectTimeoutMs: 5000 },
    domains: {
      localhost: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'required', caFile: prosody.caFile, insecure: false },
    },
    ...overrides,
  };
}

const msg = (to: string, body: string, id: string): string =>
  `<message to='${to}' type='chat' id='${id}' xmlns='jabber:client'><body>${body}</body></message>`;
const ping = (id: string, to: string): string =>
  `<iq type='get' id='${id}' to='${to}' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`;
const UNAVAILABLE = "<presence type='unavailable' xmlns='jabber:client'/>";

const isMessage = (body: string) => (g: Got): boolean => g.el.name === 'message' && bodyText(g.el) === body;
const isIq = (type: string, id?: string) => (g: Got): boolean =>
  g.el.name === 'iq' && g.el.attrs.type === type && (id === undefined || g.el.attrs.id === id);
const unique = (): string => Math.random().toString(36).slice(2, 10);

/** The stanza of `g` as a namespace-aware parser (a browser) reads its whole response body. */
function stanzaIn(m: SharedMember, g: Got): NsElement {
  const answer = [m.creation, ...m.answers].find((x) => x?.rid === g.rid);
  assert.ok(answer, `${m.name}: the answer to rid ${g.rid}`);
  const stanzas = childElements(parseNamespaced(answer.text));
  const id = g.el.attrs.id;
  const found = stanzas.find((el) => el.local === g.el.localName && el.attrs.some((x) => x.name === 'id' && x.value === id));
  assert.ok(found, answer.text);
  return found;
}

describe('Shared BOSH through the CM in front of Prosody', { skip, timeout: 120_000 }, () => {
  let prosody: ProsodyInstance;
  let cm: Cm;
  let url: string;
  let bob: StropheClient;
  /** Members opened by the running test; afterEach terminates those still alive. */
  let live: SharedMember[] = [];

  const open = async (opts: Parameters<typeof SharedMember.open>[1]): Promise<SharedMember> => {
    const m = await SharedMember.open(url, opts);
    live.push(m);
    return m;
  };

  /** A creates with a fresh key and logs in as alice; `names` attach afterwards. All poll. */
  const openLink = async (resource: string, names = ['B', 'C'], cmUrl = url) => {
    const key = newKey();
    const a = await SharedMember.open(cmUrl, { key, name: 'A' });
    live.push(a);
    assert.equal(a.result, 'created', a.creation?.text);
    const jid = await a.login('alice', 'alice-pw', resource);
    a.startPolling();
    const others: SharedMember[] = [];
    for (const name of names) {
      const m = await SharedMember.open(cmUrl, { key, name });
      live.push(m);
      assert.equal(m.result, 'attached', m.creation?.text);
      m.startPolling();
      others.push(m);
    }
    return { key, jid, a, others };
  };

  /** Whether Prosody holds an available presence for this full JID (what alice's contacts see). */
  const presenceAtProsody = async (fullJid: string): Promise<'available' | 'unavailable' | 'no session'> => {
    const out = await prosody.shell(`>local s = prosody.full_sessions[${JSON.stringify(fullJid)}] return "\\n"..(s == nil and "no session" or s.presence and "available" or "unavailable")`);
    const m = /Result:\s*(available|unavailable|no session)/.exec(out);
    assert.ok(m, out);
    return m[1] as 'available' | 'unavailable' | 'no session';
  };

  before(async () => {
    prosody = await startProsody();
    cm = createConnectionManager(cmConfig(prosody));
    ({ url } = await cm.start());
    bob = await connectStrophe({ boshUrl: prosody.boshUrl, jid: 'bob@localhost/bob-e2e', password: 'bob-pw', mechanism: 'SCRAM-SHA-1' });
  });

  after(async () => {
    try {
      await bob?.disconnect(3000);
      await cm?.stop();
    } finally {
      await prosody?.stop();
    }
  });

  afterEach(async () => {
    const members = live;
    live = [];
    await Promise.all(members.map((m) => m.terminate()));
    if (prosody) {
      await eventually(async () => assert.deepEqual(await prosody.onlineResources(ALICE), []), { timeoutMs: 5000, intervalMs: 200, label: 'alice offline after the test' });
    }
  });

  test('S-01 S-02 S-04 S-06 S-12 D1 D4 D7 Q-01 Q-12 Q-13: three members of one link: created, attached, attached, each with its own sid; Prosody shows one resource', T, async () => {
    const { jid, a, others: [b, c] } = await openLink('s01');
    assert.equal(jid, `${ALICE}/s01`);
    // D1: every member has its own sid.
    assert.equal(new Set([a.sid, b!.sid, c!.sid]).size, 3);
    for (const m of [b!, c!]) {
      const attrs = m.creation!.attrs;
      assert.equal(attrs['shared:result'], 'attached');
      assert.equal(attrs['shared:jid'], jid, 'D7: shared:jid is the bound JID');
      assert.equal(attrs.from, 'localhost');
      assert.ok(attrs.authid, 'D7: authid (the upstream stream id)');
      assert.equal(attrs['xmpp:version'], '1.0');
      assert.equal(attrs.ver, '1.11');
      assert.equal(attrs.requests, '2');
      assert.ok(attrs['shared:seq'] !== undefined, 'D14b: shared:seq on the attach response');
      assert.ok(!m.creation!.children.some((el) => el.name === 'stream:features'), 'D7: no stream features on attach');
    }
    assert.equal(b!.creation!.attrs.authid, c!.creation!.attrs.authid);
    assert.equal(a.creation!.attrs['shared:result'], 'created');
    assert.deepEqual(await prosody.onlineResources(ALICE), ['s01']);
    assert.deepEqual((await prosody.fullSessions()).filter((j) => j.startsWith(`${ALICE}/`)), [jid]);
    assert.deepEqual(cm.stats(), { sessions: 3, links: 1 });
  });

  test("S-07 D10: a message from bob to alice's full JID reaches A, B and C, once each, as the same link event", T, async () => {
    const { jid, a, others: [b, c] } = await openLink('s02');
    const text = `fan-out ${unique()}`;
    bob.sendMessage(jid, text);
    const got = await Promise.all([a, b!, c!].map((m) => m.waitFor(isMessage(text), { ...WAIT, label: text })));
    for (const g of got) {
      assert.equal(g.el.attrs.from, bob.jid);
      assert.equal(g.el.attrs.xmlns, 'jabber:client');
      assert.ok(!isEcho(g.el) && !isReplay(g.el), g.xml);
    }
    // D10: one event, so the same sequence number everywhere.
    assert.ok(got[0]!.seq !== undefined && got[0]!.seq > 0);
    assert.ok(got.every((g) => g.seq === got[0]!.seq), got.map((g) => g.seq).join(','));
    await settle(300);
    for (const m of [a, b!, c!]) assert.equal(m.count(isMessage(text)), 1, m.name);
  });

  test("S-08 S-09 D11 D25 Q-15: B's message to bob reaches bob once; A and C get a copy with shared:echo and from = alice's full JID, B does not", T, async () => {
    const { jid, a, others: [b, c] } = await openLink('s03');
    const text = `echo ${unique()}`;
    const mark = bob.mark();
    b!.send(msg(bob.jid, text, 'e3'));
    await bob.waitFor((s) => s.kind === 'message' && s.body === text, { since: mark, timeoutMs: 5000, label: text });
    for (const m of [a, c!]) {
      const g = await m.waitFor(isMessage(text), { ...WAIT, label: `echo of ${text}` });
      assert.equal(g.el.attrs['shared:echo'], 'true', g.xml);
      assert.equal(g.el.attrs.to, bob.jid);
      assert.equal(g.el.attrs.id, 'e3');
      assert.equal(g.el.attrs.from, jid, 'D25: an echo comes from the bound full JID, as the server would stamp it');
    }
    await settle(400);
    assert.equal(bob.received.slice(mark).filter((s) => s.kind === 'message' && s.body === text).length, 1, 'bob gets it once');
    assert.equal(b!.count(isMessage(text)), 0, 'the sender gets no copy');
    for (const m of [a, c!]) assert.equal(m.count(isMessage(text)), 1, m.name);
  });

  test('D12 Q-05: A and B both ping the server with id 1; each gets one result with id 1, the others see copies with link-unique ids and shared:echo', T, async () => {
    const { a, others: [b, c] } = await openLink('s04');
    a.send(ping('1', 'localhost'));
    b!.send(ping('1', 'localhost'));
    const own = (g: Got): boolean => isIq('result', '1')(g) && !isEcho(g.el);
    await Promise.all([a, b!].map((m) => m.waitFor(own, { ...WAIT, label: 'own result with id 1' })));
    await eventually(() => assert.equal(c!.count((g) => isIq('result')(g) && isEcho(g.el)), 2), { timeoutMs: 5000 });
    await settle(300);

    const echoIds = (m: SharedMember, type: string): string[] =>
      m.received.filter((g) => isIq(type)(g) && isEcho(g.el)).map((g) => g.el.attrs.id!);
    for (const m of [a, b!]) {
      assert.equal(m.count(own), 1, `${m.name}: one result with its own id`);
      assert.equal(m.count((g) => g.el.name === 'iq' && g.el.attrs.id === '1' && isEcho(g.el)), 0, `${m.name}: no echo with id 1`);
      const gets = echoIds(m, 'get');
      const results = echoIds(m, 'result');
      assert.equal(gets.length, 1, `${m.name}: a copy of the other member's request`);
      assert.notEqual(gets[0], '1');
      assert.deepEqual(results, gets, `${m.name}: the copy of the result carries the request copy's id`);
    }
    // A sees B's request and B sees A's: two different link-unique ids.
    assert.notEqual(echoIds(a, 'get')[0], echoIds(b!, 'get')[0]);
    const cGets = echoIds(c!, 'get');
    assert.equal(cGets.length, 2);
    assert.equal(new Set(cGets).size, 2);
    assert.deepEqual(new Set(echoIds(c!, 'result')), new Set(cGets));
    assert.ok(!cGets.includes('1'));
    assert.deepEqual(new Set(cGets), new Set([...echoIds(a, 'get'), ...echoIds(b!, 'get')]));
  });

  test("D12 Q-06: bob pings alice's full JID; every member sees it, A and B both answer, bob gets exactly one result", T, async () => {
    const { jid, a, others: [b, c] } = await openLink('s05');
    const id = `bobping-${unique()}`;
    const before = await cm.metrics.suppressed.get();
    const suppressedBefore = before.values.find((v) => v.labels.kind === 'iq-reply')?.value ?? 0;
    const mark = bob.mark();
    bob.sendRaw(ping(id, jid));
    await Promise.all([a, b!, c!].map((m) => m.waitFor((g) => isIq('get', id)(g) && g.el.attrs.from === bob.jid && !isEcho(g.el), { ...WAIT, label: `ping ${id}` })));
    const reply = `<iq type='result' id='${id}' to='${bob.jid}' xmlns='jabber:client'/>`;
    a.send(reply);
    await bob.waitFor((s) => s.kind === 'iq' && s.type === 'result' && s.id === id, { since: mark, timeoutMs: 5000, label: `result ${id}` });
    b!.send(reply);
    await settle(600);
    assert.equal(bob.received.slice(mark).filter((s) => s.kind === 'iq' && s.id === id && s.type === 'result').length, 1, 'exactly one result');
    assert.equal(bob.received.slice(mark).filter((s) => s.kind === 'iq' && s.id === id && s.type === 'error').length, 0);
    // The forwarded reply is echoed to the others; the late one is dropped silently.
    assert.equal(b!.count((g) => isIq('result', id)(g) && isEcho(g.el)), 1, 'B sees A\'s reply');
    assert.equal(c!.count((g) => isIq('result', id)(g) && isEcho(g.el)), 1, 'C sees one reply');
    assert.equal(a.count((g) => isIq('result', id)(g)), 0, 'A sees no copy of B\'s dropped reply');
    assert.equal(b!.count((g) => g.el.name === 'iq' && g.el.attrs.type === 'error'), 0, 'the late member gets no error');
    const after = await cm.metrics.suppressed.get();
    assert.equal((after.values.find((v) => v.labels.kind === 'iq-reply')?.value ?? 0) - suppressedBefore, 1, 'counted in metrics');
  });

  test("D14 Q-20 Q-21: a member attaching later first gets the presence snapshot (shared:replay): alice's own presence and bob's", T, async () => {
    const { key, jid, a, others: [b] } = await openLink('s06', ['B']);
    const status = `s06 here ${unique()}`;
    a.send(`<presence xmlns='jabber:client'><status>${status}</status></presence>`);
    // Prosody sends alice's presence back to her own resource.
    await a.waitFor((g) => g.el.name === 'presence' && g.el.attrs.from === jid, { ...WAIT, label: 'own presence from Prosody' });
    await b!.waitFor((g) => g.el.name === 'presence' && isEcho(g.el), { ...WAIT, label: 'echo of A\'s presence' });
    const bobStatus = `bob for s06 ${unique()}`;
    bob.sendPresence({ to: jid, status: bobStatus });
    await a.waitFor((g) => g.el.name === 'presence' && g.el.attrs.from === bob.jid, { ...WAIT, label: 'bob\'s presence' });

    const d = await open({ key, name: 'D' });
    assert.equal(d.result, 'attached', d.creation?.text);
    const snapshot = d.received.filter((g) => g.inCreation);
    assert.ok(snapshot.length >= 2, d.creation!.text);
    for (const g of snapshot) {
      assert.equal(g.el.name, 'presence', g.xml);
      assert.equal(g.el.attrs['shared:replay'], 'true', g.xml);
      assert.equal(g.el.attrs.type, undefined, 'only available presences');
    }
    const own = snapshot.filter((g) => isEcho(g.el));
    assert.equal(own.length, 1, 'the last presence a member sent, in echo form');
    assert.equal(own[0]!.el.getChild('status')?.text(), status);
    assert.equal(snapshot.indexOf(own[0]!), 0, 'own presence comes first');
    const fromBob = snapshot.filter((g) => g.el.attrs.from === bob.jid);
    assert.equal(fromBob.length, 1);
    assert.equal(fromBob[0]!.el.getChild('status')?.text(), bobStatus);
    assert.equal(own[0]!.el.attrs.from, jid, 'D25: the echo comes from the bound JID');
    assert.equal(snapshot.filter((g) => g.el.attrs.from === jid && !isEcho(g.el)).length, 1, 'alice\'s own presence as Prosody sent it');
    d.startPolling();
    // Live traffic after the snapshot.
    const text = `after snapshot ${unique()}`;
    bob.sendMessage(jid, text);
    const g = await d.waitFor(isMessage(text), WAIT);
    assert.ok(!isReplay(g.el));
  });

  test('D14b Q-21: a reloaded member re-attaches with shared:since and gets exactly what it missed, marked shared:replay, without a new login', T, async () => {
    const { key, jid, a, others: [b, c] } = await openLink('s07');
    const first = `before reload ${unique()}`;
    bob.sendMessage(jid, first);
    await Promise.all([a, b!, c!].map((m) => m.waitFor(isMessage(first), WAIT)));
    await settle(200);
    const since = c!.lastSeq;
    assert.ok(since > 0, 'C has seen shared:seq');
    // The page reloads: its open request is dropped, nothing more is sent, no terminate.
    c!.stopPolling(true);
    const missed = [`missed one ${unique()}`, `missed two ${unique()}`];
    for (const text of missed) bob.sendMessage(jid, text);
    await a.waitFor(isMessage(missed[1]!), WAIT);
    await b!.waitFor(isMessage(missed[1]!), WAIT);

    const c2 = await open({ key, since, name: 'C2' });
    assert.equal(c2.result, 'attached', c2.creation?.text);
    assert.equal(c2.creation!.attrs['shared:jid'], jid);
    assert.equal(c2.creation!.attrs['shared:gap'], undefined);
    assert.equal(c2.creation!.attrs.authid, b!.creation!.attrs.authid, 'the same upstream stream');
    assert.ok(Number(c2.creation!.attrs['shared:seq']) >= since + 2);
    const replayed = c2.received.filter((g) => g.inCreation && g.el.name === 'message');
    assert.deepEqual(replayed.map((g) => bodyText(g.el)), missed);
    for (const g of replayed) {
      assert.equal(g.el.attrs['shared:replay'], 'true', g.xml);
      assert.equal(g.el.attrs.from, bob.jid);
    }
    assert.ok(!c2.creation!.children.some((el) => el.name === 'stream:features' || el.name === 'success'), 'no login traffic');
    // No second login: still the one resource.
    assert.deepEqual(await prosody.onlineResources(ALICE), ['s07']);
    c2.startPolling();
    const live2 = `after re-attach ${unique()}`;
    bob.sendMessage(jid, live2);
    await c2.waitFor(isMessage(live2), WAIT);
    await settle(200);
    assert.equal(c2.count(isMessage(missed[0]!)), 1, 'exactly once');
  });

  test('D16 Q-03: B terminates with <presence type=unavailable/>: alice stays online, bob gets no unavailable, A and C go on', T, async () => {
    const { jid, a, others: [b, c] } = await openLink('s08');
    a.send("<presence xmlns='jabber:client'/>");
    const mark0 = bob.mark();
    a.send(`<presence to='${bob.jid}' xmlns='jabber:client'><status>s08</status></presence>`);
    await bob.waitFor((s) => s.kind === 'presence' && s.from === jid && s.type === 'available', { since: mark0, timeoutMs: 5000, label: 'directed presence from alice' });
    await settle(200);
    const mark = bob.mark();
    const [aMark, cMark] = [a.mark(), c!.mark()];
    await b!.terminate(UNAVAILABLE);
    const end = await b!.waitEnded();
    assert.equal(end.attrs.type, 'terminate');
    assert.equal(end.attrs.condition, undefined, end.text);
    await settle(600);
    assert.deepEqual(await prosody.onlineResources(ALICE), ['s08']);
    assert.equal(bob.received.slice(mark).filter((s) => s.kind === 'presence' && s.from === jid).length, 0, 'bob saw no presence change of alice');
    for (const [m, since] of [[a, aMark], [c!, cMark]] as const) {
      assert.equal(m.count((g) => g.el.name === 'presence' && g.el.attrs.type === 'unavailable', since), 0, `${m.name}: the dropped presence is not echoed`);
    }
    const text = `still here ${unique()}`;
    bob.sendMessage(jid, text);
    await Promise.all([a, c!].map((m) => m.waitFor(isMessage(text), WAIT)));
    assert.equal(b!.count(isMessage(text)), 0);
    assert.deepEqual(cm.stats(), { sessions: 2, links: 1 });
  });

  test('D16: B sends an undirected unavailable presence in an ordinary request (as on page unload): alice stays available at Prosody, bob sees no unavailable, nobody gets an echo', T, async () => {
    const { jid, a, others: [b, c] } = await openLink('s08b');
    a.send("<presence xmlns='jabber:client'/>");
    const mark0 = bob.mark();
    a.send(`<presence to='${bob.jid}' xmlns='jabber:client'><status>s08b</status></presence>`);
    await bob.waitFor((s) => s.kind === 'presence' && s.from === jid && s.type === 'available', { since: mark0, timeoutMs: 5000, label: 'directed presence from alice' });
    assert.equal(await presenceAtProsody(jid), 'available');
    await settle(200);
    const mark = bob.mark();
    const [aMark, cMark] = [a.mark(), c!.mark()];
    const suppressed = async () => (await cm.metrics.suppressed.get()).values.find((v) => v.labels.kind === 'unavailable-presence')?.value ?? 0;
    const before = await suppressed();
    b!.send(UNAVAILABLE);
    await eventually(async () => assert.equal(await suppressed(), before + 1), { timeoutMs: 5000, label: 'counted' });
    await settle(600);
    assert.equal(await presenceAtProsody(jid), 'available', 'Prosody still has alice\'s presence');
    assert.equal(bob.received.slice(mark).filter((s) => s.kind === 'presence' && s.from === jid).length, 0, 'bob saw no presence change of alice');
    for (const [m, since] of [[a, aMark], [c!, cMark]] as const) {
      assert.equal(m.count((g) => g.el.name === 'presence' && g.el.attrs.type === 'unavailable', since), 0, `${m.name}: no echo`);
    }
    const text = `b still polls ${unique()}`;
    bob.sendMessage(jid, text);
    await Promise.all([a, b!, c!].map((m) => m.waitFor(isMessage(text), WAIT)));
  });

  test('D25 S-07 D14: bob forges shared:echo and shared:replay (any prefix) on a message and a directed presence: every member gets them stripped, and every body, attach included, is namespace-well-formed', T, async () => {
    const { key, jid, a, others: [b] } = await openLink('s25', ['B']);
    const text = `forged ${unique()}`;
    bob.sendRaw(
      `<message to='${jid}' type='chat' id='forged1' xmlns='jabber:client' xmlns:shared='${NS_SHARED}' shared:replay='true' shared:echo='true'>` +
        `<body>${text}</body><x xmlns='${NS_SHARED}'><y/></x></message>`,
    );
    for (const m of [a, b!]) {
      const g = await m.waitFor(isMessage(text), { ...WAIT, label: `${m.name}: ${text}` });
      const message = stanzaIn(m, g);
      assert.deepEqual(namesInNamespace(message, NS_SHARED), [], `${m.name}: ${g.xml}`);
      assert.equal(message.attrs.find((x) => x.name === 'from')?.value, bob.jid);
    }
    const status = `forged presence ${unique()}`;
    bob.sendRaw(`<presence to='${jid}' xmlns='jabber:client' xmlns:s='${NS_SHARED}' s:replay='true' s:echo='true'><status>${status}</status></presence>`);
    await a.waitFor((g) => g.el.name === 'presence' && g.el.getChild('status')?.text() === status, { ...WAIT, label: 'bob\'s directed presence' });
    for (const name of ['D', 'E']) {
      const d = await open({ key, name });
      assert.equal(d.result, 'attached', d.creation?.text);
      const body = parseNamespaced(d.creation!.text); // a browser's DOMParser rejects the whole body otherwise
      const presence = childElements(body).find((el) => el.local === 'presence' && el.attrs.some((x) => x.name === 'from' && x.value === bob.jid));
      assert.ok(presence, d.creation!.text);
      assert.deepEqual(namesInNamespace(presence, NS_SHARED), ['@shared:replay'], 'only the CM\'s own mark');
    }
  });

  test('D16 D17 D4: the last member leaving closes the stream: its unavailable presence reaches bob, Prosody drops the resource, the key is freed', T, async () => {
    const { key, jid, a, others: [b, c] } = await openLink('s09');
    a.send("<presence xmlns='jabber:client'/>");
    const mark0 = bob.mark();
    a.send(`<presence to='${bob.jid}' xmlns='jabber:client'/>`);
    await bob.waitFor((s) => s.kind === 'presence' && s.from === jid && s.type === 'available', { since: mark0, timeoutMs: 5000 });
    const mark = bob.mark();
    // The creator leaves first: the link outlives it.
    await a.terminate(UNAVAILABLE);
    await b!.terminate(UNAVAILABLE);
    assert.deepEqual(await prosody.onlineResources(ALICE), ['s09']);
    assert.equal(bob.received.slice(mark).filter((s) => s.kind === 'presence' && s.from === jid).length, 0);
    await c!.terminate(UNAVAILABLE);
    for (const m of [a, b!, c!]) assert.equal((await m.waitEnded()).attrs.type, 'terminate');
    await bob.waitFor((s) => s.kind === 'presence' && s.from === jid && s.type === 'unavailable', { since: mark, timeoutMs: 5000, label: 'unavailable from alice' });
    await eventually(async () => assert.deepEqual(await prosody.onlineResources(ALICE), []), { timeoutMs: 5000, intervalMs: 150, label: 'alice offline' });
    await eventually(() => assert.deepEqual(cm.stats(), { sessions: 0, links: 0 }), { timeoutMs: 3000 });
    // The key died with its link: the same key now creates.
    const again = await open({ key, name: 'again' });
    assert.equal(again.result, 'created', again.creation?.text);
    assert.equal(again.creation!.attrs['shared:jid'], undefined);
  });

  test("D19 D17: Prosody kicks the shared session: every member's held request ends with remote-stream-error and the <stream:error/>; the key is freed", T, async () => {
    const { key, jid, a, others: [b] } = await openLink('s10', ['B']);
    await settle(200); // both have a request held
    const out = await prosody.shell(`c2s:close("${jid}", "kicked by the test", "policy-violation")`);
    assert.match(out, /1 sessions closed/, out);
    for (const m of [a, b!]) {
      const end = await m.waitEnded(5000);
      assert.equal(end.attrs.type, 'terminate', end.text);
      assert.equal(end.attrs.condition, 'remote-stream-error', end.text);
      const err = end.children.find((el) => el.name === 'stream:error');
      assert.ok(err, end.text);
      assert.ok(err.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-streams'), end.text);
      assert.equal(end.attrs['shared:seq'], undefined, 'terminal bodies carry no shared:seq');
    }
    // A later request on an ended sid gets the same condition (docs/shared-bosh.md §7).
    const late = await postBody(url, `<body rid='${a.rid + 1}' sid='${a.sid}' ${HTTPBIND_NS}/>`);
    assert.equal(late.attrs.type, 'terminate', late.text);
    assert.equal(late.attrs.condition, 'remote-stream-error', late.text);
    await eventually(() => assert.deepEqual(cm.stats(), { sessions: 0, links: 0 }), { timeoutMs: 3000 });
    const again = await open({ key, name: 'again' });
    assert.equal(again.result, 'created', again.creation?.text);
  });

  test('S-05 S-10 S-11 D2 D3 D4 D5 D6 D9 Q-07 Q-09 Q-10 Q-11: refusals (weak-key, not-ready, origin-mismatch), a wrong key creates, and no key, SASL payload or password in trace logs or responses', T, async () => {
    const { logger, lines } = createMemoryLogger('trace');
    const sec = createConnectionManager(cmConfig(prosody, {
      logLevel: 'trace',
      cors: { ...DEFAULT_CONFIG.cors, origins: ['*'] },
      shared: { ...DEFAULT_CONFIG.shared, attachOrigins: ['https://app.example'] },
    }), { logger });
    const { url: secUrl } = await sec.start();
    const keys: string[] = [];
    const members: SharedMember[] = [];
    let creatorSid = '';
    const track = (m: SharedMember): SharedMember => {
      members.push(m);
      live.push(m);
      return m;
    };
    try {
      // D6: an attach before the creator has bound.
      const early = newKey();
      keys.push(early);
      const n0 = track(await SharedMember.open(secUrl, { key: early, name: 'N0' }));
      assert.equal(n0.result, 'created');
      const notReady = track(await SharedMember.open(secUrl, { key: early, name: 'N1' }));
      assert.equal(notReady.creation!.attrs.type, 'terminate', notReady.creation!.text);
      assert.equal(notReady.creation!.attrs.condition, 'policy-violation');
      assert.equal(notReady.creation!.attrs['shared:error'], 'not-ready');
      assert.equal(notReady.sid, '', 'no session');
      await n0.terminate();

      // A whole shared session.
      const key = newKey();
      keys.push(key);
      const a = track(await SharedMember.open(secUrl, { key, name: 'A' }));
      assert.equal(a.result, 'created');
      creatorSid = a.sid;
      const jid = await a.login('alice', 'alice-pw', 's11');
      a.startPolling();
      const b = track(await SharedMember.open(secUrl, { key, name: 'B' })); // no Origin: not checked
      assert.equal(b.result, 'attached', b.creation!.text);
      b.startPolling();
      const app = track(await SharedMember.open(secUrl, { key, name: 'app', headers: { origin: 'https://app.example' } }));
      assert.equal(app.result, 'attached', app.creation!.text);
      app.startPolling();
      // D5: a foreign Origin may not attach (CORS lets it through: origins '*').
      const evil = track(await SharedMember.open(secUrl, { key, name: 'evil', headers: { origin: 'https://evil.example' } }));
      assert.equal(evil.creation!.status, 200);
      assert.equal(evil.creation!.attrs.type, 'terminate', evil.creation!.text);
      assert.equal(evil.creation!.attrs.condition, 'policy-violation');
      assert.equal(evil.creation!.attrs['shared:error'], 'origin-mismatch');
      assert.equal(evil.creation!.children.length, 0);
      // D4, Q-09: a wrong key creates a link of its own, not logged in.
      const wrong = newKey();
      keys.push(wrong);
      const w = track(await SharedMember.open(secUrl, { key: wrong, name: 'W' }));
      assert.equal(w.result, 'created', w.creation!.text);
      assert.equal(w.creation!.attrs['shared:jid'], undefined);
      assert.ok(w.creation!.children.some((el) => el.name === 'stream:features'), 'a fresh stream, to log in on');
      assert.ok(![a.sid, b.sid, app.sid].includes(w.sid));
      await w.terminate();
      // D2: 31 characters is too short.
      const weak = newKey().slice(0, 31);
      keys.push(weak);
      const wk = track(await SharedMember.open(secUrl, { key: weak, name: 'weak' }));
      assert.equal(wk.creation!.attrs.type, 'terminate', wk.creation!.text);
      assert.equal(wk.creation!.attrs.condition, 'policy-violation');
      assert.equal(wk.creation!.attrs['shared:error'], 'weak-key');
      await eventually(() => assert.deepEqual(sec.stats(), { sessions: 3, links: 1 }, 'refused attempts left nothing behind'), { timeoutMs: 3000 });

      // Traffic both ways.
      const out = `s11 out ${unique()}`;
      const m0 = bob.mark();
      b.send(msg(bob.jid, out, 's11-1'));
      await bob.waitFor((s) => s.kind === 'message' && s.body === out, { since: m0, timeoutMs: 5000 });
      await a.waitFor(isMessage(out), WAIT);
      await app.waitFor(isMessage(out), WAIT);
      const inbound = `s11 in ${unique()}`;
      bob.sendMessage(jid, inbound);
      await Promise.all([a, b, app].map((m) => m.waitFor(isMessage(inbound), WAIT)));

      await b.terminate(UNAVAILABLE);
      await a.terminate(UNAVAILABLE);
      await app.terminate(UNAVAILABLE);
      await eventually(async () => assert.deepEqual(await prosody.onlineResources(ALICE), []), { timeoutMs: 5000, intervalMs: 150 });
      await eventually(() => assert.deepEqual(sec.stats(), { sessions: 0, links: 0 }), { timeoutMs: 3000 });
    } finally {
      await sec.stop();
    }

    // S-11, D3: nothing secret anywhere.
    const token = Buffer.from('\0alice\0alice-pw').toString('base64');
    assert.ok(lines.length > 20, `the trace log captured lines (${lines.length})`);
    assert.ok(lines.some((l) => /"level":10\b/.test(l)), 'trace-level lines were written');
    assert.ok(lines.some((l) => l.includes(creatorSid)), 'the log is about this session');
    const secrets = [...keys, token, 'alice-pw'];
    for (const secret of secrets) {
      const hits = lines.filter((l) => l.includes(secret));
      assert.deepEqual(hits, [], `a secret (${secret.length} chars) appears in the log`);
    }
    for (const m of members) {
      for (const ans of m.answers) {
        for (const k of keys) assert.ok(!ans.text.includes(k), `${m.name}: a response echoes a key: ${ans.text}`);
      }
    }
  });
});
