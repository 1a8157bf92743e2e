/**
 * Checks the test harness itself, without our CM: a throwaway Prosody (test/support/prosody.ts)
 * and real clients (Strophe.js, StanzaJS; test/support/xmpp-clients.ts) talking to Prosody's own
 * mod_bosh. If these fail, the CM end-to-end tests cannot mean anything.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { prosodyAvailable, startProsody, type ProsodyInstance } from '../support/prosody.js';
import {
  connectStanza,
  connectStrophe,
  disconnectAll,
  disconnectAndObserve,
  exchangeIqs,
  exchangePresenceAndMessages,
  postBosh,
  type TestClient,
} from '../support/xmpp-clients.js';

const skip = prosodyAvailable() ? false : 'prosody is not installed';

/** Reads from `sock` until `re` matches the accumulated text. */
function readUntil(sock: Socket, re: RegExp, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      if (re.test(buf)) {
        cleanup();
        resolve(buf);
      }
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timeout waiting for ${re}; got: ${buf}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('error', onError);
    };
    sock.on('data', onData);
    sock.on('error', onError);
  });
}

describe('Prosody test harness (direct, no CM)', { skip, timeout: 120_000 }, () => {
  let prosody: ProsodyInstance;

  before(async () => {
    prosody = await startProsody();
  });

  after(async () => {
    await prosody?.stop();
  });

  test('Prosody listens on 127.0.0.1, requires STARTTLS on c2s, and its certificate verifies against the CA', async () => {
    assert.equal(prosody.host, '127.0.0.1');
    assert.ok(prosody.c2sPort > 0 && prosody.httpPort > 0 && prosody.c2sPort !== prosody.httpPort);
    assert.match(prosody.caPem, /BEGIN CERTIFICATE/);
    const sock = tcpConnect({ host: '127.0.0.1', port: prosody.c2sPort });
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      });
      sock.write(`<?xml version='1.0'?><stream:stream to='${prosody.domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`);
      const features = await readUntil(sock, /<\/stream:features>/);
      assert.match(features, /<starttls xmlns=['"]urn:ietf:params:xml:ns:xmpp-tls['"]>\s*<required\/>/);
      // Encryption is required: no SASL mechanisms before TLS.
      assert.doesNotMatch(features, /<mechanism>/);
      sock.write(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
      await readUntil(sock, /<proceed/);
      const tls = tlsConnect({ socket: sock, servername: prosody.domain, ca: prosody.caPem });
      try {
        await new Promise<void>((resolve, reject) => {
          tls.once('secureConnect', resolve);
          tls.once('error', reject);
        });
        assert.equal(tls.authorized, true, String(tls.authorizationError));
        tls.write(`<stream:stream to='${prosody.domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`);
        const after = await readUntil(tls as unknown as Socket, /<\/stream:features>/);
        assert.match(after, /<mechanism>SCRAM-SHA-1<\/mechanism>/);
        assert.match(after, /<mechanism>PLAIN<\/mechanism>/);
      } finally {
        tls.destroy();
      }
    } finally {
      sock.destroy();
    }
  });

  test('the certificate is verifiable for the second VirtualHost too', async () => {
    assert.ok(prosody.domains.length >= 2);
    // Only a TLS handshake is needed: a fresh STARTTLS with SNI = the second domain.
    const domain = prosody.domains[1]!;
    const sock = tcpConnect({ host: '127.0.0.1', port: prosody.c2sPort });
    try {
      sock.write(`<stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`);
      await readUntil(sock, /<\/stream:features>/);
      sock.write(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
      await readUntil(sock, /<proceed/);
      const tls = tlsConnect({ socket: sock, servername: domain, ca: prosody.caPem });
      try {
        await new Promise<void>((resolve, reject) => {
          tls.once('secureConnect', resolve);
          tls.once('error', reject);
        });
        assert.equal(tls.authorized, true);
      } finally {
        tls.destroy();
      }
    } finally {
      sock.destroy();
    }
  });

  test("Prosody's own mod_bosh answers a raw session creation request", async () => {
    const res = await postBosh(prosody.boshUrl,
      `<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' content='text/xml; charset=utf-8' hold='1' rid='1000' to='${prosody.domain}' ver='1.6' wait='5' xml:lang='en' xmpp:version='1.0'/>`);
    assert.equal(res.status, 200);
    assert.match(res.body, /sid=/);
    assert.match(res.body, /<stream:features/);
    const sid = /sid=['"]([^'"]+)['"]/.exec(res.body)![1];
    const end = await postBosh(prosody.boshUrl,
      `<body xmlns='http://jabber.org/protocol/httpbind' rid='1001' sid='${sid}' type='terminate'/>`);
    assert.equal(end.status, 200);
  });

  for (const [stropheMech, stanzaMech] of [['SCRAM-SHA-1', 'PLAIN'], ['PLAIN', 'SCRAM-SHA-1']] as const) {
    test(`Strophe.js (${stropheMech}) and StanzaJS (${stanzaMech}) log in over Prosody's BOSH, chat, ping and disconnect`, async () => {
      let a: TestClient | undefined;
      let b: TestClient | undefined;
      try {
        a = await connectStrophe({ boshUrl: prosody.boshUrl, jid: `alice@${prosody.domain}/strophe`, password: 'alice-pw', mechanism: stropheMech });
        b = await connectStanza({ boshUrl: prosody.boshUrl, jid: `bob@${prosody.domain}/stanza`, password: 'bob-pw', mechanism: stanzaMech });
        assert.equal(a.jid, `alice@${prosody.domain}/strophe`);
        assert.equal(b.jid, `bob@${prosody.domain}/stanza`);
        // The mechanism really was the forced one.
        assert.ok(a.rawOut.some((r) => r.includes(`mechanism="${stropheMech}"`) || r.includes(`mechanism='${stropheMech}'`)), a.rawOut.join('\n'));
        assert.ok(b.rawOut.some((r) => r.includes(`mechanism="${stanzaMech}"`) || r.includes(`mechanism='${stanzaMech}'`)), b.rawOut.join('\n'));

        assert.deepEqual(await prosody.onlineResources(`alice@${prosody.domain}`), ['strophe']);
        assert.deepEqual(await prosody.onlineResources(`bob@${prosody.domain}`), ['stanza']);

        await exchangePresenceAndMessages(a, b);
        const { server } = await exchangeIqs(a, b);
        assert.equal(server.name, 'Prosody');

        await disconnectAndObserve(a, b);
        assert.deepEqual(await prosody.onlineResources(`alice@${prosody.domain}`), []);
        await disconnectAndObserve(b, await reconnectAlice());
      } finally {
        await disconnectAll([a, b]);
      }

      async function reconnectAlice(): Promise<TestClient> {
        const c = await connectStrophe({ boshUrl: prosody.boshUrl, jid: `alice@${prosody.domain}/again`, password: 'alice-pw' });
        c.sendPresence();
        const mb = b!.mark();
        c.sendPresence({ to: b!.bareJid });
        await b!.waitFor((s) => s.kind === 'presence' && s.from === c.jid, { since: mb });
        a = c;
        return c;
      }
    });
  }

  test('wrong passwords are refused for both libraries and both mechanisms', async () => {
    for (const mechanism of ['PLAIN', 'SCRAM-SHA-1'] as const) {
      await assert.rejects(connectStrophe({ boshUrl: prosody.boshUrl, jid: `carol@${prosody.domain}`, password: 'wrong', mechanism, timeoutMs: 10_000 }),
        /AUTHFAIL|disconnected/);
      await assert.rejects(connectStanza({ boshUrl: prosody.boshUrl, jid: `carol@${prosody.domain}`, password: 'wrong', mechanism, timeoutMs: 10_000 }),
        /auth failed|disconnected/);
    }
    assert.deepEqual(await prosody.onlineResources(`carol@${prosody.domain}`), []);
  });

  test('onlineResources lists every bound resource, fullSessions every session', async () => {
    let c1: TestClient | undefined;
    let c2: TestClient | undefined;
    try {
      c1 = await connectStrophe({ boshUrl: prosody.boshUrl, jid: `dave@${prosody.domain}/one`, password: 'dave-pw' });
      c2 = await connectStanza({ boshUrl: prosody.boshUrl, jid: `dave@${prosody.domain}/two`, password: 'dave-pw' });
      assert.deepEqual(await prosody.onlineResources(`dave@${prosody.domain}`), ['one', 'two']);
      const all = await prosody.fullSessions();
      assert.ok(all.includes(`dave@${prosody.domain}/one`) && all.includes(`dave@${prosody.domain}/two`), all.join(','));
    } finally {
      await disconnectAll([c1, c2]);
    }
    // BOSH session teardown in Prosody is immediate on terminate.
    assert.deepEqual(await prosody.onlineResources(`dave@${prosody.domain}`), []);
  });

  test('register() adds accounts on a running server', async () => {
    await prosody.register('erin', 'erin-pw');
    const c = await connectStanza({ boshUrl: prosody.boshUrl, jid: `erin@${prosody.domain}`, password: 'erin-pw', mechanism: 'SCRAM-SHA-1' });
    try {
      assert.match(c.jid, new RegExp(`^erin@${prosody.domain}/.+`));
    } finally {
      await c.disconnect();
    }
  });
});
