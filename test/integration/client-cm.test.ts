import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectionManager } from '../../src/cm.js';
import { createMemoryLogger } from '../../src/log.js';
import { BoshError, MemoryStore, SharedClient, xml, type StanzaEvent, type SharedClientOptions } from '../../src/client/index.js';
import { ScriptedXmppServer } from '../support/scripted-xmpp-server.js';
import { startScriptedCm } from '../support/scripted-cm.js';

/** The client library against the whole CM over real HTTP, in front of the scripted XMPP server. */
let server: ScriptedXmppServer;
let cm: ConnectionManager;
let url: string;
const clients: SharedClient[] = [];

before(async () => {
  server = await ScriptedXmppServer.start({ starttls: 'required', users: { alice: 'pw' } });
  ({ cm, url } = await startScriptedCm(server, { logger: createMemoryLogger('info').logger }));
});

after(async () => {
  for (const c of clients) c.detach();
  await cm.stop();
  await server.close();
});

function client(options: SharedClientOptions = {}) {
  const c = new SharedClient(options);
  const stanzas: StanzaEvent[] = [];
  c.on('stanza', (s) => stanzas.push(s));
  clients.push(c);
  const waitFor = (match: (s: StanzaEvent) => boolean, what: string) =>
    new Promise<StanzaEvent>((resolve, reject) => {
      const found = stanzas.find(match);
      if (found) return resolve(found);
      const timer = setTimeout(() => reject(new Error('timed out waiting for ' + what)), 5000);
      const off = c.on('stanza', (s) => {
        if (!match(s)) return;
        clearTimeout(timer);
        off();
        resolve(s);
      });
    });
  return { c, stanzas, waitFor };
}

test('client library through the CM: create + PLAIN login, attach with the key, echo, live, own IQ result (D1, D7, D11, D12)', async () => {
  const base = { url, domain: server.domain, wait: 10 };
  const A = client();
  const a = await A.c.connect({ ...base, jid: 'alice@localhost', password: 'pw', resource: 'a' });
  assert.equal(a.result, 'created');
  assert.equal(a.jid, 'alice@localhost/a');

  const B = client();
  const b = await B.c.connect({ ...base, key: A.c.key! });
  assert.equal(b.result, 'attached');
  assert.equal(b.jid, 'alice@localhost/a');
  assert.notEqual(b.sid, a.sid);

  A.c.send(xml('message', { to: 'alice@localhost/a', id: 'self1', type: 'chat' }, xml('body', {}, 'note to self')));
  assert.equal((await B.waitFor((s) => s.element.attrs.id === 'self1' && s.echo, 'echo at B')).kind, 'echo');
  // The server routes it back to the link's own JID: a live stanza for both members.
  await A.waitFor((s) => s.element.attrs.id === 'self1' && s.kind === 'live', 'live at A');
  await B.waitFor((s) => s.element.attrs.id === 'self1' && s.kind === 'live', 'live at B');

  const pong = await B.c.iq(xml('iq', { type: 'get', id: 'p1', to: server.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  assert.equal(pong.attrs.id, 'p1', 'D12: the asker gets its own id back');
  const echoed = await A.waitFor((s) => s.element.name === 'iq' && s.element.attrs.type === 'result' && s.echo, 'echoed result at A');
  assert.notEqual(echoed.element.attrs.id, 'p1', 'D12: the others see the link-unique id');

  await B.c.disconnect();
  await A.c.disconnect();
});

test('client library through the CM: resume after reload (D23), attach with shared:since when the sid is gone (D14b), close-all (D18)', async () => {
  const base = { url, domain: server.domain, wait: 10 };
  const A = client();
  await A.c.connect({ ...base, jid: 'alice@localhost', password: 'pw', resource: 'r' });
  const storage = new MemoryStore();
  const B = client({ storage, resumeProbeMs: 200 });
  await B.c.connect({ ...base, key: A.c.key! });
  A.c.send(xml('message', { to: 'alice@localhost/r', id: 'before' }));
  await B.waitFor((s) => s.element.attrs.id === 'before' && s.kind === 'live', 'message before reload');
  const sid = B.c.sid;
  B.c.detach();

  const B2 = client({ storage, resumeProbeMs: 200 });
  const resumed = await B2.c.connect(base);
  assert.equal(resumed.resumed, true);
  assert.equal(resumed.sid, sid, 'D23: same member');
  A.c.send(xml('message', { to: 'alice@localhost/r', id: 'after-resume' }));
  await B2.waitFor((s) => s.element.attrs.id === 'after-resume' && s.kind === 'live', 'message after resume');
  const seq = B2.c.seq;
  B2.c.detach();

  // The saved member is unusable (as if the CM had timed it out): resume fails, attach with since.
  const name = [...(storage as unknown as { data: Map<string, string> }).data.keys()][0]!;
  const saved = JSON.parse(storage.get(name)!) as { transport: { sid: string; pending: unknown[] } };
  saved.transport.sid = 'no-such-sid';
  saved.transport.pending = [];
  storage.set(name, JSON.stringify(saved));
  A.c.send(xml('message', { to: 'romeo@elsewhere', id: 'missed' }));
  await new Promise((r) => setTimeout(r, 100));

  const B3 = client({ storage, resumeProbeMs: 200 });
  const attached = await B3.c.connect(base);
  assert.equal(attached.result, 'attached');
  assert.equal(attached.resumed, false);
  assert.equal(attached.gap, false);
  const missed = B3.stanzas.find((s) => s.element.attrs.id === 'missed');
  assert.ok(missed, 'the missed stanza is replayed');
  assert.equal(missed.kind, 'replay');
  assert.equal(missed.echo, true);
  assert.ok(B3.c.seq > seq);

  const ended = new Promise<{ error?: Error }>((r) => B3.c.once('disconnected', r));
  await A.c.disconnect({ closeAll: true });
  const { error } = await ended;
  assert.ok(error instanceof BoshError && error.condition === 'other-request');
});
