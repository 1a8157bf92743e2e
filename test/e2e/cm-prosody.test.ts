/**
 * End to end through OUR connection manager: real clients (Strophe.js, StanzaJS) speak BOSH to the
 * CM, which speaks XMPP (STARTTLS, verified against the test CA) to a throwaway Prosody.
 * The same scenarios run directly against Prosody's own mod_bosh in prosody-harness.test.ts.
 *
 * Test names start with the requirement IDs (docs/requirements.md) they exercise.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnectionManager } from '../../src/cm.js';
import { DEFAULT_CONFIG, type CmConfig, type DomainConfig } from '../../src/config.js';
import { getFreePort, prosodyAvailable, startProsody, type ProsodyInstance } from '../support/prosody.js';
import {
  connectClient,
  connectStanza,
  connectStrophe,
  disconnectAll,
  disconnectAndObserve,
  eventually,
  exchangeIqs,
  exchangePresenceAndMessages,
  postBosh,
  type SaslMechanism,
  type TestClient,
} from '../support/xmpp-clients.js';

const skip = prosodyAvailable() ? false : 'prosody is not installed';
const T = { timeout: 60_000 };
const HTTPBIND = "xmlns='http://jabber.org/protocol/httpbind'";

type Cm = ReturnType<typeof createConnectionManager>;

function cmConfig(prosody: ProsodyInstance, domain: Partial<DomainConfig> = {}): CmConfig {
  return {
    ...DEFAULT_CONFIG,
    http: { ...DEFAULT_CONFIG.http, port: 0 },
    logLevel: 'silent',
    upstream: { ...DEFAULT_CONFIG.upstream, connectTimeoutMs: 5000 },
    domains: {
      [prosody.domain]: {
        host: '127.0.0.1',
        port: prosody.c2sPort,
        tls: 'required',
        caFile: prosody.caFile,
        insecure: false,
        ...domain,
      },
    },
  };
}

/** Attributes of the top-level `<body ...>` of a BOSH response. */
function bodyAttrs(xml: string): Record<string, string> {
  const m = /<body\b([^>]*?)\/?>/.exec(xml);
  assert.ok(m, `no <body> in ${xml}`);
  const attrs: Record<string, string> = {};
  for (const a of m[1]!.matchAll(/([\w:.-]+)\s*=\s*(?:'([^']*)'|"([^"]*)")/g)) attrs[a[1]!] = a[2] ?? a[3] ?? '';
  return attrs;
}

function creationBody(to: string, rid: number, extra = ''): string {
  return `<body ${HTTPBIND} xmlns:xmpp='urn:xmpp:xbosh' content='text/xml; charset=utf-8' hold='1' rid='${rid}' `
    + `to='${to}' ver='1.6' wait='5' xml:lang='en' xmpp:version='1.0'${extra}/>`;
}

const MECHS: readonly SaslMechanism[] = ['SCRAM-SHA-1', 'PLAIN'];
const LIBS = ['strophe', 'stanza'] as const;
const LIB_NAME = { strophe: 'Strophe.js', stanza: 'StanzaJS' } as const;

describe('CM in front of Prosody', { skip, timeout: 300_000 }, () => {
  let prosody: ProsodyInstance;
  let cm: Cm;
  let url: string;

  before(async () => {
    prosody = await startProsody();
    cm = createConnectionManager(cmConfig(prosody));
    ({ url } = await cm.start());
  });

  after(async () => {
    try {
      await cm?.stop();
    } finally {
      await prosody?.stop();
    }
  });

  for (const lib of LIBS) {
    for (const mechanism of MECHS) {
      test(`X-09 X-10 X-16 X-19 X-20 X-21: ${LIB_NAME[lib]} logs in through the CM with ${mechanism}, binds, and Prosody lists the resource`, T, async () => {
        const resource = `${lib}-${mechanism.toLowerCase()}`;
        const bare = `alice@${prosody.domain}`;
        const c = await connectClient(lib, { boshUrl: url, jid: `${bare}/${resource}`, password: 'alice-pw', mechanism });
        try {
          assert.equal(c.jid, `${bare}/${resource}`);
          // the SASL exchange went through with the forced mechanism.
          assert.ok(c.rawOut.some((r) => new RegExp(`mechanism=['"]${mechanism}['"]`).test(r)), c.rawOut.join('\n'));
          assert.ok(c.rawIn.some((r) => /<success\b/.test(r)), 'no SASL <success/> seen');
          // restart logic advertised in the creation response.
          assert.equal(bodyAttrs(c.rawIn[0]!)['xmpp:restartlogic'], 'true', c.rawIn[0]);
          // features before SASL (mechanisms) and after the restart (bind).
          const all = c.rawIn.join('\n');
          assert.match(all, /<mechanisms\b/);
          assert.match(all, /<bind\b[^>]*urn:ietf:params:xml:ns:xmpp-bind/);
          // The session is real on the server side.
          assert.ok((await prosody.onlineResources(bare)).includes(resource), 'Prosody lists the resource');
          await c.ping();
        } finally {
          await c.disconnect();
        }
        await eventually(async () => assert.ok(!(await prosody.onlineResources(bare)).includes(resource)), { timeoutMs: 10_000, label: `${bare}/${resource} offline` });
      });
    }
  }

  test('X-15: the stream features a client receives through the CM contain no <starttls/>', T, async () => {
    const c = await connectStrophe({ boshUrl: url, jid: `carol@${prosody.domain}/x15`, password: 'carol-pw', mechanism: 'SCRAM-SHA-1' });
    try {
      const features = c.features();
      assert.ok(features.length >= 2, `expected features before and after SASL, got ${features.length}`);
      for (const f of features) assert.doesNotMatch(f, /starttls/i, f);
      assert.doesNotMatch(c.rawIn.join('\n'), /urn:ietf:params:xml:ns:xmpp-tls/);
    } finally {
      await c.disconnect();
    }
  });

  test('X-02 X-09 X-10 X-15 B-25: a raw creation request gets sid, xmpp:restartlogic and the server features (SASL, no STARTTLS)', T, async () => {
    let rid = 4000 + Math.floor(Math.random() * 100_000);
    const first = await postBosh(url, creationBody(prosody.domain, rid));
    assert.equal(first.status, 200);
    const attrs = bodyAttrs(first.body);
    assert.notEqual(attrs.type, 'terminate', first.body);
    assert.ok(attrs.sid, first.body);
    assert.equal(attrs['xmpp:restartlogic'], 'true');
    let all = first.body;
    // in the creation response if possible, otherwise in the first later response.
    for (let i = 0; i < 2 && !/<stream:features/.test(all); i++) {
      rid += 1;
      all += (await postBosh(url, `<body ${HTTPBIND} rid='${rid}' sid='${attrs.sid}'/>`)).body;
    }
    assert.match(all, /<stream:features/);
    assert.match(all, /xmlns:stream=['"]http:\/\/etherx\.jabber\.org\/streams['"]/);
    assert.match(all, /<mechanism>SCRAM-SHA-1<\/mechanism>/);
    assert.match(all, /<mechanism>PLAIN<\/mechanism>/);
    assert.doesNotMatch(all, /starttls/i);
    rid += 1;
    const end = await postBosh(url, `<body ${HTTPBIND} rid='${rid}' sid='${attrs.sid}' type='terminate'/>`);
    assert.equal(end.status, 200);
  });

  for (const [stropheMech, stanzaMech] of [['SCRAM-SHA-1', 'PLAIN'], ['PLAIN', 'SCRAM-SHA-1']] as const) {
    test(`B-45 B-46 X-01 X-16: Strophe.js (${stropheMech}) and StanzaJS (${stanzaMech}) exchange presence and messages through the CM`, T, async () => {
      let a: TestClient | undefined;
      let b: TestClient | undefined;
      try {
        a = await connectStrophe({ boshUrl: url, jid: `alice@${prosody.domain}/chat-strophe`, password: 'alice-pw', mechanism: stropheMech });
        b = await connectStanza({ boshUrl: url, jid: `bob@${prosody.domain}/chat-stanza`, password: 'bob-pw', mechanism: stanzaMech });
        await exchangePresenceAndMessages(a, b);
      } finally {
        await disconnectAll([a, b]);
      }
    });
  }

  test('B-45 B-134: IQ round trips through the CM: XEP-0199 ping to the server and to the other user, XEP-0092 version both ways and of Prosody', T, async () => {
    let a: TestClient | undefined;
    let b: TestClient | undefined;
    try {
      a = await connectStrophe({ boshUrl: url, jid: `alice@${prosody.domain}/iq-strophe`, password: 'alice-pw', mechanism: 'SCRAM-SHA-1' });
      b = await connectStanza({ boshUrl: url, jid: `bob@${prosody.domain}/iq-stanza`, password: 'bob-pw', mechanism: 'PLAIN' });
      // Directed presence first so that each may address the other's full JID.
      await exchangePresenceAndMessages(a, b);
      const { server } = await exchangeIqs(a, b);
      assert.equal(server.name, 'Prosody');
      // B-134: a stanza error passes through unchanged (ping to a user that is not online).
      await assert.rejects(a.ping(`dave@${prosody.domain}/nowhere`), /service-unavailable|recipient-unavailable|item-not-found|error/);
    } finally {
      await disconnectAll([a, b]);
    }
  });

  test('B-78 B-80: a clean Strophe.js disconnect (unavailable presence inside the terminate body) reaches the StanzaJS user; Prosody drops the resource', T, async () => {
    let a: TestClient | undefined;
    let b: TestClient | undefined;
    try {
      a = await connectStrophe({ boshUrl: url, jid: `alice@${prosody.domain}/bye-strophe`, password: 'alice-pw', mechanism: 'PLAIN' });
      b = await connectStanza({ boshUrl: url, jid: `bob@${prosody.domain}/bye-stanza`, password: 'bob-pw', mechanism: 'SCRAM-SHA-1' });
      await exchangePresenceAndMessages(a, b);
      const terminate = () => a!.rawOut.find((r) => /type=['"]terminate['"]/.test(r));
      await disconnectAndObserve(a, b);
      assert.match(terminate() ?? '', /<presence\b[^>]*type=['"]unavailable['"]/, 'Strophe puts unavailable presence in the terminate body');
      // B-80: the terminate was confirmed by the CM.
      assert.ok(a.rawIn.some((r) => /type=['"]terminate['"]/.test(bodyTag(r))), a.rawIn.slice(-3).join('\n'));
      await eventually(async () => assert.ok(!(await prosody.onlineResources(`alice@${prosody.domain}`)).includes('bye-strophe')), { timeoutMs: 10_000 });
      assert.ok((await prosody.onlineResources(`bob@${prosody.domain}`)).includes('bye-stanza'));
    } finally {
      await disconnectAll([a, b]);
    }
  });

  test('B-80: a clean StanzaJS disconnect (empty terminate) ends the upstream session; the Strophe.js user sees unavailable presence', T, async () => {
    let a: TestClient | undefined;
    let b: TestClient | undefined;
    try {
      a = await connectStanza({ boshUrl: url, jid: `bob@${prosody.domain}/bye2-stanza`, password: 'bob-pw', mechanism: 'PLAIN' });
      b = await connectStrophe({ boshUrl: url, jid: `alice@${prosody.domain}/bye2-strophe`, password: 'alice-pw', mechanism: 'SCRAM-SHA-1' });
      await exchangePresenceAndMessages(a, b);
      await disconnectAndObserve(a, b);
      await eventually(async () => assert.ok(!(await prosody.onlineResources(`bob@${prosody.domain}`)).includes('bye2-stanza')), { timeoutMs: 10_000 });
      assert.ok((await prosody.onlineResources(`alice@${prosody.domain}`)).includes('bye2-strophe'));
    } finally {
      await disconnectAll([a, b]);
    }
  });

  test('wrong passwords are refused through the CM (SASL failure passed back), for both mechanisms', T, async () => {
    for (const mechanism of MECHS) {
      await assert.rejects(connectStrophe({ boshUrl: url, jid: `carol@${prosody.domain}`, password: 'wrong', mechanism, timeoutMs: 15_000 }),
        /AUTHFAIL|disconnected/);
      await assert.rejects(connectStanza({ boshUrl: url, jid: `carol@${prosody.domain}`, password: 'wrong', mechanism, timeoutMs: 15_000 }),
        /auth failed|disconnected/);
    }
    await eventually(async () => assert.deepEqual(await prosody.onlineResources(`carol@${prosody.domain}`), []), { timeoutMs: 10_000 });
  });

  test('B-121: a creation request for a domain the CM does not serve gets host-unknown', T, async () => {
    const res = await postBosh(url, creationBody('nope.example', 7000));
    assert.equal(res.status, 200);
    const attrs = bodyAttrs(res.body);
    assert.equal(attrs.type, 'terminate', res.body);
    assert.equal(attrs.condition, 'host-unknown', res.body);
  });

  test('B-121: a domain Prosody serves but the CM is not configured for also gets host-unknown', T, async () => {
    const other = prosody.domains[1]!;
    const res = await postBosh(url, creationBody(other, 7100));
    const attrs = bodyAttrs(res.body);
    assert.equal(attrs.type, 'terminate', res.body);
    assert.equal(attrs.condition, 'host-unknown', res.body);
  });

  test("X-24 X-25 B-118: xmpp:restart='true' before SASL: Prosody's <stream:error/> reaches the client as remote-stream-error", T, async () => {
    let rid = 10_000 + Math.floor(Math.random() * 100_000);
    const first = await postBosh(url, creationBody(prosody.domain, rid));
    const { sid } = bodyAttrs(first.body);
    assert.ok(sid, first.body);
    let end: { body: string } | undefined;
    // Prosody answers the early restart on the old stream (no new header): the CM passes it on.
    for (let i = 0; i < 3 && end === undefined; i++) {
      rid += 1;
      const restart = i === 0 ? ` xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true' to='${prosody.domain}'` : '';
      const res = await postBosh(url, `<body ${HTTPBIND} rid='${rid}' sid='${sid}'${restart}/>`);
      if (bodyAttrs(res.body).type === 'terminate') end = res;
    }
    assert.ok(end, 'the session did not end');
    const attrs = bodyAttrs(end.body);
    assert.equal(attrs.condition, 'remote-stream-error', end.body);
    assert.match(end.body, /<stream:error\b[^>]*>.*<not-well-formed xmlns=['"]urn:ietf:params:xml:ns:xmpp-streams['"]\/>.*<\/stream:error>/s);
  });

  test('B-127: remote-connection-failed when the configured upstream port is closed', T, async () => {
    const closedPort = await getFreePort();
    const cm2 = createConnectionManager(cmConfig(prosody, { port: closedPort }));
    const { url: url2 } = await cm2.start();
    try {
      const res = await postBosh(url2, creationBody(prosody.domain, 8000), 20_000);
      assert.equal(res.status, 200);
      const attrs = bodyAttrs(res.body);
      assert.equal(attrs.type, 'terminate', res.body);
      assert.equal(attrs.condition, 'remote-connection-failed', res.body);
      // A client library sees a failed login, not a hang.
      await assert.rejects(connectStanza({ boshUrl: url2, jid: `alice@${prosody.domain}`, password: 'alice-pw', timeoutMs: 20_000 }));
    } finally {
      await cm2.stop();
    }
  });

  test('B-127 B-140: remote-connection-failed when the server certificate cannot be verified (CA not trusted)', T, async () => {
    const cm3 = createConnectionManager(cmConfig(prosody, { caFile: undefined }));
    const { url: url3 } = await cm3.start();
    try {
      const res = await postBosh(url3, creationBody(prosody.domain, 9000), 20_000);
      const attrs = bodyAttrs(res.body);
      assert.equal(attrs.type, 'terminate', res.body);
      assert.equal(attrs.condition, 'remote-connection-failed', res.body);
    } finally {
      await cm3.stop();
    }
  });
});

function bodyTag(xml: string): string {
  return /<body\b[^>]*>/.exec(xml)?.[0] ?? '';
}
