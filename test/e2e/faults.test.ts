/**
 * Faults around the CM, with the CM as its own process (test/support/cm-child.ts) and real
 * Prosody servers (test/support/prosody.ts, stopped and killed by PID): an upstream refusing
 * connections, a client connection dropped mid-response, SIGTERM/SIGINT to the CM while requests
 * are held, an upstream gone silent (SIGSTOP: the ping must notice) and one killed mid-session.
 *
 * Two Prosodys serve two domains (`localhost` and `other.localhost`), so that a failure of one
 * can be seen not to touch the links to the other.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startCmChild, type CmChild } from '../support/cm-child.js';
import { getFreePort, prosodyAvailable, startProsody, type ProsodyInstance } from '../support/prosody.js';
import { ScriptedXmppServer } from '../support/scripted-xmpp-server.js';
import { newKey, SharedMember } from '../support/shared-clients.js';
import { HTTPBIND_NS, postBody, XBOSH_NS } from '../support/bosh-http.js';

const skip = prosodyAvailable() ? false : 'prosody is not installed';
const OTHER = 'other.localhost';

function domainOf(p: ProsodyInstance) {
  return { host: p.host, port: p.c2sPort, tls: 'required' as const, caFile: p.caFile, insecure: false };
}

/** A member logged in as `user` on `to`, with one request held at the CM from now on. */
async function online(url: string, user: string, resource: string, opts: { to?: string; key?: string } = {}): Promise<SharedMember> {
  const m = await SharedMember.open(url, { name: `${user}/${resource}`, wait: 20, ...opts });
  await m.login(user, `${user}-pw`, resource);
  m.startPolling();
  return m;
}

/** The IQ ping round trip of a member through the CM and its server. */
async function roundTrip(m: SharedMember, id: string, to: string): Promise<void> {
  m.send(`<iq type='get' id='${id}' to='${to}' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`);
  const got = await m.waitFor((g) => g.el.attrs.id === id, { timeoutMs: 5000, label: id });
  assert.equal(got.el.attrs.type, 'result');
}

/** Until the CM has every request of these members held (a poll each), so a signal finds them held. */
async function settled(): Promise<void> {
  await new Promise((r) => setTimeout(r, 300));
}

describe('faults around the CM process', { skip, timeout: 180_000 }, () => {
  let a: ProsodyInstance;
  let b: ProsodyInstance;

  before(async () => {
    [a, b] = await Promise.all([startProsody({ domains: ['localhost'] }), startProsody({ domains: [OTHER] })]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  test('B-127 D19: an upstream refusing connections ends the creation with remote-connection-failed within a second', async (t) => {
    const port = await getFreePort(); // nothing listens there
    const cm = await startCmChild({ domains: { localhost: { host: '127.0.0.1', port, tls: 'off', insecure: false } } });
    t.after(() => cm.stop());
    const started = Date.now();
    const answer = await postBody(cm.url, `<body rid='1' to='localhost' wait='20' hold='1' ver='1.11' xmpp:version='1.0' ${XBOSH_NS} ${HTTPBIND_NS}/>`);
    const sid = answer.attrs.sid;
    // The creation may answer at once (then the next request carries the failure) or carry it itself.
    const terminal = answer.attrs.type === 'terminate' ? answer : await postBody(cm.url, `<body rid='2' sid='${sid}' ${HTTPBIND_NS}/>`);
    const took = Date.now() - started;
    assert.equal(terminal.attrs.type, 'terminate');
    assert.equal(terminal.attrs.condition, 'remote-connection-failed');
    assert.ok(took < 1000, `took ${took} ms`);
    assert.ok(cm.alive);
  });

  test('B-88: a client whose connection dropped mid-response gets the same response when it sends that rid again', async (t) => {
    const cm = await startCmChild({ domains: { [OTHER]: domainOf(b) } });
    t.after(() => cm.stop());
    const alice = await SharedMember.open(cm.url, { name: 'alice', to: OTHER, wait: 20 });
    await alice.login('alice', 'alice-pw', 'drop');
    const bob = await online(cm.url, 'bob', 'sender', { to: OTHER });
    // alice's held request, over a connection she drops as soon as the response starts.
    const rid = ++alice.rid;
    const body = `<body rid='${rid}' sid='${alice.sid}' ${HTTPBIND_NS}/>`;
    const firstBytes = new Promise<string>((resolve, reject) => {
      const req = request(cm.url, { method: 'POST', headers: { 'content-type': 'text/xml; charset=utf-8' } }, (res) => {
        res.once('data', (chunk: Buffer) => {
          req.destroy(); // gone before the client has read the rest
          resolve(chunk.toString('utf8'));
        });
      });
      req.on('error', (err) => (err.message.includes('socket hang up') || err.message.includes('aborted') ? undefined : reject(err)));
      req.end(body);
    });
    await settled();
    bob.send(`<message to='alice@${OTHER}/drop' id='b88' type='chat' xmlns='jabber:client'><body>once</body></message>`);
    const partial = await firstBytes;
    const retry = await postBody(cm.url, body);
    assert.equal(retry.status, 200);
    assert.ok(retry.text.startsWith(partial.slice(0, Math.min(partial.length, retry.text.length))), 'the same response, from its first byte');
    assert.ok(retry.body.children.some((el) => el.name === 'message' && el.attrs.id === 'b88'), `the message is in the resent response: ${retry.text}`);
    await bob.terminate();
  });

  test('D20: SIGTERM with held requests: each gets system-shutdown and the process exits 0 within 5 s', async () => {
    const cm = await startCmChild({ domains: { [OTHER]: domainOf(b) } });
    try {
      const key = newKey();
      const members = [
        await online(cm.url, 'alice', 's1', { to: OTHER }),
        await online(cm.url, 'bob', 's2', { to: OTHER, key }),
      ];
      members.push(await SharedMember.open(cm.url, { name: 'bob/attached', to: OTHER, key, wait: 20 }));
      members[2]!.startPolling();
      await settled();
      const started = Date.now();
      cm.signal('SIGTERM');
      const ends = await Promise.all(members.map((m) => m.waitEnded(5000)));
      for (const end of ends) assert.equal(end.attrs.condition, 'system-shutdown');
      const exit = await cm.exit;
      const took = Date.now() - started;
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(took < 5000, `exited after ${took} ms`);
      assert.match(cm.stderr(), /SIGTERM: stopping/);
    } finally {
      await cm.stop();
    }
  });

  test('D20: a second SIGTERM or SIGINT during shutdown exits at once with code 1', async (t) => {
    for (const second of ['SIGINT', 'SIGTERM'] as const) {
      // A server that never answers </stream:stream> keeps the first shutdown waiting for it.
      const server = await ScriptedXmppServer.start({ answerClose: false });
      t.after(() => server.close());
      const cm = await startCmChild({ domains: { localhost: await server.domainConfig('off') } });
      try {
        const m = await online(cm.url, 'alice', 'twice');
        await settled();
        cm.signal('SIGTERM');
        await m.waitEnded(5000);
        const started = Date.now();
        cm.signal(second);
        const exit = await cm.exit;
        const took = Date.now() - started;
        assert.deepEqual(exit, { code: 1, signal: null }, second);
        assert.ok(took < 1000, `${second}: exited after ${took} ms`);
        assert.match(cm.stderr(), new RegExp(`${second} again; exiting without waiting`));
      } finally {
        await cm.stop();
      }
    }
  });

  test('B-127 D19: a silent upstream (Prosody stopped: no data, no FIN) is noticed by the ping and ends its members with remote-connection-failed; links to the other go on', async () => {
    const cm = await startCmChild({
      domains: { localhost: domainOf(a), [OTHER]: domainOf(b) },
      upstream: { pingIntervalS: 1, pingTimeoutS: 1 },
    });
    try {
      const onA = await online(cm.url, 'dave', 's1');
      const onB = await online(cm.url, 'dave', 's2', { to: OTHER });
      await roundTrip(onA, 'before-silence', 'localhost');
      await settled();
      const started = Date.now();
      process.kill(a.pid, 'SIGSTOP');
      try {
        const end = await onA.waitEnded(10_000);
        const took = Date.now() - started;
        assert.equal(end.attrs.condition, 'remote-connection-failed');
        // Idle for pingIntervalS, then pingTimeoutS without an answer: about 2 s, never before 1 s.
        assert.ok(took >= 1000 && took < 8000, `ended after ${took} ms`);
      } finally {
        process.kill(a.pid, 'SIGCONT');
      }
      await roundTrip(onB, 'while-a-was-silent', OTHER);
      assert.equal(onB.ended, false);
      await onB.terminate();
    } finally {
      await cm.stop();
    }
  });

  test('B-127 D19: SIGKILL of one upstream Prosody ends every member of every link to it within a second; links to the other go on', async () => {
    const cm = await startCmChild({ domains: { localhost: domainOf(a), [OTHER]: domainOf(b) } });
    try {
      const key = newKey();
      const onA = [await online(cm.url, 'alice', 'k1'), await online(cm.url, 'bob', 'k2', { key })];
      onA.push(await SharedMember.open(cm.url, { name: 'bob/attached', key, wait: 20 }));
      onA[2]!.startPolling();
      const onB = await online(cm.url, 'carol', 'k3', { to: OTHER });
      await roundTrip(onA[0]!, 'before', 'localhost');
      await settled();

      const started = Date.now();
      process.kill(a.pid, 'SIGKILL');
      const ends = await Promise.all(onA.map((m) => m.waitEnded(5000).then((end) => ({ end, took: Date.now() - started }))));
      for (const { end, took } of ends) {
        assert.equal(end.attrs.condition, 'remote-connection-failed');
        assert.ok(took < 1000, `terminal condition after ${took} ms`);
      }
      await roundTrip(onB, 'after', OTHER);
      assert.equal(onB.ended, false);
      assert.ok(cm.alive);
      await onB.terminate();
    } finally {
      await cm.stop();
    }
  });
});
