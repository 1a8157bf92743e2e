/**
 * End to end through our connection manager to a throwaway Prosody: what a page reload does to a
 * BOSH session (docs/design.md D24). The held request's connection closes; the reloaded page goes
 * on with the saved sid and rid (raw BOSH, Strophe.js `attach`, StanzaJS started with the saved
 * sid and rid) and must receive what is sent to it afterwards. Prosody's own mod_bosh passes these.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnectionManager } from '../../src/cm.js';
import { DEFAULT_CONFIG, type CmConfig } from '../../src/config.js';
import { createMemoryLogger } from '../../src/log.js';
import { prosodyAvailable, startProsody, type ProsodyInstance } from '../support/prosody.js';
import { connectStanza, connectStrophe, disconnectAll, type StropheClient, type TestClient } from '../support/xmpp-clients.js';
import { cancellablePost, HTTPBIND_NS, postBody, RawBoshClient, XBOSH_NS } from '../support/bosh-http.js';

const skip = prosodyAvailable() ? false : 'prosody is not installed';
const T = { timeout: 60_000 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const memory = createMemoryLogger('debug');
const drops = () => memory.lines.filter((l) => l.includes('client went away from a held request')).length;

describe('CM in front of Prosody: resuming after a page reload (D24)', { skip, timeout: 300_000 }, () => {
  let prosody: ProsodyInstance;
  let cm: ReturnType<typeof createConnectionManager>;
  let url: string;
  let bob: TestClient;

  before(async () => {
    prosody = await startProsody();
    const config: CmConfig = {
      ...DEFAULT_CONFIG,
      http: { ...DEFAULT_CONFIG.http, port: 0 },
      domains: { [prosody.domain]: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'required', caFile: prosody.caFile, insecure: false } },
    };
    cm = createConnectionManager(config, { logger: memory.logger });
    ({ url } = await cm.start());
    bob = await connectStanza({ boshUrl: url, jid: `bob@${prosody.domain}`, password: 'bob-pw' });
  });

  after(async () => {
    await disconnectAll([bob]);
    await cm?.stop();
    await prosody?.stop();
  });

  /** A raw BOSH session logged in as alice whose held request's TCP connection is then closed. */
  async function aliceReloads(resource: string): Promise<{ client: RawBoshClient; jid: string; droppedRid: number }> {
    const client = new RawBoshClient(url);
    await client.create(`to='${prosody.domain}' wait='10' hold='1' ver='1.11' xmpp:version='1.0'`);
    const jid = await client.login('alice', 'alice-pw', resource);
    client.rid += 1;
    const held = cancellablePost(url, `<body rid='${client.rid}' sid='${client.sid}' ${XBOSH_NS} ${HTTPBIND_NS}/>`);
    await sleep(300);
    const before = drops();
    held.close();
    // The reloaded page comes back after the CM saw the connection close (as a real reload takes).
    for (let i = 0; i < 500 && drops() === before; i++) await sleep(10);
    assert.equal(drops(), before + 1, 'the CM saw the connection close');
    return { client, jid, droppedRid: client.rid };
  }

  for (const which of ['the same rid', 'the next rid'] as const) {
    test(`${which === 'the same rid' ? 'B-89' : 'B-82'} D24: raw BOSH: the held request's connection closed, resumed with the saved sid and ${which}: a message sent during the reload and one sent afterwards arrive, once each`, T, async () => {
      const { client, jid, droppedRid } = await aliceReloads(`raw-${which === 'the same rid' ? 'same' : 'next'}`);
      bob.sendMessage(jid, 'during the reload');
      await sleep(300);
      const rid = which === 'the same rid' ? droppedRid : droppedRid + 1;
      const resumed = await postBody(url, `<body rid='${rid}' sid='${client.sid}' ${XBOSH_NS} ${HTTPBIND_NS}/>`);
      assert.equal(resumed.attrs.type, undefined, resumed.text);
      assert.deepEqual([...resumed.text.matchAll(/<body>([^<]*)<\/body>/g)].map((m) => m[1]), ['during the reload']);
      client.rid = rid;
      const next = client.send();
      await sleep(300);
      bob.sendMessage(jid, 'after the reload');
      const answer = await next;
      assert.deepEqual([...answer.text.matchAll(/<body>([^<]*)<\/body>/g)].map((m) => m[1]), ['after the reload']);
      await client.send('', "type='terminate'");
    });
  }

  test('B-73 D24: StanzaJS resuming a saved sid and rid (its next one, as its transport keeps it) after its held request was closed receives a message sent afterwards', T, async () => {
    const { client, jid, droppedRid } = await aliceReloads('stanza-resume');
    const alice = await connectStanza({ boshUrl: url, jid, password: '', attach: { sid: client.sid, rid: droppedRid + 1 } });
    try {
      await sleep(300);
      bob.sendMessage(jid, 'to the resumed StanzaJS');
      const got = await alice.waitFor((s) => s.kind === 'message' && s.body === 'to the resumed StanzaJS', { label: 'the message' });
      assert.equal(got.from?.split('/')[0], `bob@${prosody.domain}`);
    } finally {
      await disconnectAll([alice]);
    }
  });

  test('B-73 D24: Strophe.js page reload: the held request aborted, attach(jid, sid, rid) from a fresh connection 1 s later receives a message sent afterwards', T, async () => {
    const before = await connectStrophe({ boshUrl: url, jid: `alice@${prosody.domain}/strophe-reload`, password: 'alice-pw' });
    const proto = (before.conn as unknown as { _proto: { sid: string; rid: number } })._proto;
    await sleep(300);
    // What Strophe keeps in sessionStorage for restore(): the jid, the sid and the next rid.
    const saved = { jid: before.jid, sid: proto.sid, rid: proto.rid };
    // The reload: the page's requests are cancelled (their TCP connections close), nothing else is sent.
    const stop = before.conn as unknown as { _proto: { _abortAllRequests(): void }; _doDisconnect(): void };
    stop._proto._abortAllRequests();
    stop._doDisconnect();
    await sleep(1000);
    let after: StropheClient | undefined;
    try {
      after = await connectStrophe({ boshUrl: url, jid: saved.jid, password: '', attach: { sid: saved.sid, rid: saved.rid } });
      await sleep(300);
      bob.sendMessage(saved.jid, 'to the reloaded Strophe page');
      const got = await after.waitFor((s) => s.kind === 'message' && s.body === 'to the reloaded Strophe page', { label: 'the message' });
      assert.equal(got.from?.split('/')[0], `bob@${prosody.domain}`);
    } finally {
      await disconnectAll([after]);
    }
  });
});
