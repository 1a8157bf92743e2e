import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectionManager } from '../../src/cm.js';
import { createMemoryLogger } from '../../src/log.js';
import { ScriptedXmppServer } from '../support/scripted-xmpp-server.js';
import { cancellablePost, HTTPBIND_NS, postBody, RawBoshClient, XBOSH_NS, type BoshAnswer } from '../support/bosh-http.js';
import { startScriptedCm } from '../support/scripted-cm.js';

/**
 * D24 over real HTTP/1.1: what a page reload does to a BOSH session. The browser cancels the held
 * request (its TCP connection closes), then the restored page goes on with the saved sid and rid.
 */
let server: ScriptedXmppServer;
let cm: ConnectionManager;
let url: string;
const memory = createMemoryLogger('debug');

before(async () => {
  server = await ScriptedXmppServer.start();
  ({ cm, url } = await startScriptedCm(server, { tls: 'off', logger: memory.logger }));
});

after(async () => {
  await cm.stop();
  await server.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function bodyOf(client: RawBoshClient, rid: number, payload = ''): string {
  return `<body rid='${rid}' sid='${client.sid}' ${XBOSH_NS} ${HTTPBIND_NS}>${payload}</body>`;
}

/** Sends `rid` again (a retry or a resume), not the next one. */
function resend(client: RawBoshClient, rid: number): Promise<BoshAnswer> {
  return postBody(url, bodyOf(client, rid));
}

async function loggedIn(user: string): Promise<{ client: RawBoshClient; jid: string }> {
  const client = new RawBoshClient(url);
  await client.create("to='localhost' wait='10' hold='1' ver='1.11' xmpp:version='1.0'");
  const jid = await client.login(user, 'pw', 'web');
  return { client, jid };
}

/** The server sends a message to `jid` (as if from another user). */
function serverSends(jid: string, id: string): void {
  server.connectionOf(jid)!.send(`<message from='bob@localhost/x' to='${jid}' id='${id}' xmlns='jabber:client'><body>${id}</body></message>`);
}

/** Resolves once the CM has dropped one more held request than `before` (it saw the connection close). */
async function dropped(before: number): Promise<void> {
  for (let i = 0; i < 500 && dropCount() <= before; i++) await sleep(10);
  assert.ok(dropCount() > before, 'the CM saw the connection close');
}

function dropCount(): number {
  return memory.lines.filter((l) => l.includes('client went away from a held request')).length;
}

function messageIds(answer: BoshAnswer | string | undefined): string[] {
  if (answer === undefined) return [];
  const text = typeof answer === 'string' ? answer : answer.text;
  return [...text.matchAll(/<message [^>]*id='([^']+)'/g)].map((m) => m[1]!);
}

test('B-73 D24: Converse reload over HTTP/1.1: hold=1, the held request closed after 300 ms, an empty rid+1 100 ms later is held, and a stanza then arrives', async () => {
  const { client, jid } = await loggedIn('converse');
  client.rid += 1;
  const held = cancellablePost(url, bodyOf(client, client.rid));
  await sleep(300);
  held.close();
  await sleep(100);
  const next = client.send();
  await sleep(200);
  serverSends(jid, 'after-reload');
  const answer = await next;
  assert.equal(answer.attrs.type, undefined, answer.text);
  assert.deepEqual(messageIds(answer), ['after-reload']);
  assert.equal(await held.answer, undefined, 'nothing reached the closed request');
  await client.send('', "type='terminate'");
});

test('B-50 B-73 D24: two empty requests with hold=1 half a second apart: the first answered empty, the second held, the session goes on', async () => {
  const { client, jid } = await loggedIn('twice');
  const first = client.send();
  await sleep(500);
  const second = client.send();
  const a = await first;
  assert.equal(a.text, `<body ${HTTPBIND_NS}/>`);
  serverSends(jid, 'held');
  const b = await second;
  assert.deepEqual(messageIds(b), ['held']);
  await client.send('', "type='terminate'");
});

test('B-89 D24: resuming with the saved sid and the rid of the dropped request: held again, and a message sent afterwards arrives', async () => {
  const { client, jid } = await loggedIn('resume-same');
  client.rid += 1;
  const lost = cancellablePost(url, bodyOf(client, client.rid));
  await sleep(50);
  lost.close();
  await sleep(50);
  const resumed = resend(client, client.rid);
  await sleep(100);
  serverSends(jid, 'to-resumed');
  assert.deepEqual(messageIds(await resumed), ['to-resumed']);
  const later = client.send();
  await sleep(50);
  serverSends(jid, 'later');
  assert.deepEqual(messageIds(await later), ['later'], 'the session goes on');
  await client.send('', "type='terminate'");
});

test('B-82 D24: resuming with the saved sid and the next rid: a message sent while no request was held arrives, nothing lost', async () => {
  const { client, jid } = await loggedIn('resume-next');
  client.rid += 1;
  const lost = cancellablePost(url, bodyOf(client, client.rid));
  await sleep(50);
  const before = dropCount();
  lost.close();
  await dropped(before);
  serverSends(jid, 'while-away');
  await sleep(50);
  assert.deepEqual(messageIds(await client.send()), ['while-away']);
  const later = client.send();
  await sleep(50);
  serverSends(jid, 'later');
  assert.deepEqual(messageIds(await later), ['later']);
  await client.send('', "type='terminate'");
});

test('B-88 B-89 D24: 200 times a held request is closed around the moment a stanza is delivered; retrying the same rid gets it exactly once', async () => {
  const { client, jid } = await loggedIn('race');
  const dropsBefore = dropCount();
  for (let i = 0; i < 200; i++) {
    client.rid += 1;
    const rid = client.rid;
    const held = cancellablePost(url, bodyOf(client, rid));
    await sleep(10);
    // The close lands from a few ms before to a few ms after the stanza reaches the CM.
    const offset = (i % 9) - 4;
    if (offset < 0) {
      held.close();
      await sleep(-offset);
      serverSends(jid, `m${i}`);
    } else {
      serverSends(jid, `m${i}`);
      await sleep(offset);
      held.close();
    }
    const lostCopy = messageIds(await held.answer);
    const retry = await resend(client, rid);
    assert.equal(retry.attrs.type, undefined, `iteration ${i}: ${retry.text}`);
    const next = client.send();
    await sleep(5);
    serverSends(jid, `s${i}`);
    const after = await next;
    const seen = [...messageIds(retry), ...messageIds(after)];
    assert.deepEqual(
      seen.filter((id) => id === `m${i}`),
      [`m${i}`],
      `iteration ${i} (offset ${offset}, the closed request read ${JSON.stringify(lostCopy)}): the stanza exactly once on the retry and the next request`,
    );
    assert.deepEqual(messageIds(retry), [`m${i}`], `iteration ${i}: on the retry of the same rid`);
    assert.deepEqual(messageIds(after), [`s${i}`], `iteration ${i}: the next request carries only what came next`);
  }
  const drops = dropCount() - dropsBefore;
  assert.ok(drops > 0, 'some closes reached the CM before the stanza (dropped requests)');
  await client.send('', "type='terminate'");
});
