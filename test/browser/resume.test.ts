/**
 * Real clients resuming their own BOSH session at the CM with a saved sid and rid (no Shared
 * BOSH key: plain XEP-0124/XEP-0206 sessions), after the page that held the session went away
 * with a request still waiting at the CM (D24, issue 14 item 2):
 * - Strophe.js 5 `restore()` after a real page reload (keepalive: true);
 * - Strophe.js 5 `attach(jid, sid, rid)` in a new tab with the sid/rid saved by a closed tab;
 * - StanzaJS (in Node) continuing the sid/rid saved by a closed tab.
 * Afterwards messages flow both ways with bob (Strophe.js in Node on Prosody's own BOSH).
 * Each test has its own CM and browser context; the CM is stopped at the end.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { createClient, type Agent } from 'stanza';
import type { BrowserContext } from 'playwright-core';
import { connectStrophe, eventually } from '../support/xmpp-clients.js';
import { browserTestsSkip } from './support/chromium.js';
import {
  ALICE,
  BOB,
  badResponses,
  saslAuths,
  sleep,
  startClientSuite,
  startCm,
  stayLocal,
  unique,
  waitForBody,
  waitInPage,
  watchedPage,
  type ClientSuite,
  type TestCm,
  type WatchedPage,
} from './support/clients.js';

const skip = browserTestsSkip();

const q = JSON.stringify;

interface StrophePage {
  status: string;
  statuses: string[];
  jid: string;
  sid: string;
  received: { name: string; from: string | null; body: string | null }[];
  connect(jid: string, password: string): void;
  restore(jid: string): string;
  attach(jid: string, sid: string, rid: number): void;
  save(): { jid: string; sid: string; rid: number };
  send(to: string, text: string): void;
}
type WithPage = { page: StrophePage };

describe('clients resuming a saved sid/rid after their page went away', { skip, timeout: 240_000 }, () => {
  let suite: ClientSuite;
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    suite = await startClientSuite((p) => connectStrophe({ boshUrl: p.boshUrl, jid: `${BOB}/bob-node`, password: 'bob-pw', mechanism: 'SCRAM-SHA-1' }));
  });

  after(() => suite?.stop());

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    await eventually(async () => assert.deepEqual(await suite.prosody.onlineResources(ALICE), []), {
      timeoutMs: 10_000,
      intervalMs: 200,
      label: 'alice offline after the test',
    });
  });

  const setup = async () => {
    const cm = await startCm(suite.prosody);
    cleanups.push(() => cm.cm.stop());
    const context = await suite.browser.newContext();
    context.setDefaultTimeout(20_000);
    await stayLocal(context);
    cleanups.push(() => context.close());
    return { cm, context };
  };

  const describeStrophe = 'window.page && { status: window.page.status, statuses: window.page.statuses.slice(-6), received: window.page.received.slice(-3) }';

  /** A Strophe.js 5 page (pages/strophe.html) logged in as alice through the CM. */
  const stropheLoggedIn = async (context: BrowserContext, cm: TestCm, label: string) => {
    const w = await watchedPage(context, cm.boshUrl, label);
    await w.page.goto(`${suite.pages.origin}/pages/strophe.html?bosh=${encodeURIComponent(cm.boshUrl)}`);
    await waitInPage(w, 'page loaded', 'typeof window.page?.connect === "function"');
    await w.page.evaluate(({ jid, pw }) => (window as unknown as WithPage).page.connect(jid, pw), { jid: ALICE, pw: 'alice-pw' });
    await waitInPage(w, 'connected', 'window.page.status === "connected"', { describe: describeStrophe });
    return w;
  };

  const pageState = (w: WatchedPage) =>
    w.page.evaluate(() => {
      const p = (window as unknown as WithPage).page;
      return { status: p.status, jid: p.jid, sid: p.sid };
    });

  /** bob -> the page's JID, then the page -> bob (his full JID: he sends no presence). */
  const stropheChat = async (w: WatchedPage, jid: string, what: string) => {
    const inbound = `${what}: to strophe ${unique()}`;
    suite.bob.sendMessage(jid, inbound);
    await waitInPage(w, `message '${inbound}'`, `window.page.received.some((m) => m.body === ${q(inbound)})`, { describe: describeStrophe });
    const outbound = `${what}: from strophe ${unique()}`;
    const mark = suite.bob.mark();
    await w.page.evaluate(({ to, text }) => (window as unknown as WithPage).page.send(to, text), { to: suite.bob.jid, text: outbound });
    const got = await waitForBody(suite.bob, outbound, mark, `'${outbound}' at bob`);
    assert.equal(got.from, jid);
  };

  /** Traffic, then the session's page goes away while its next request waits at the CM. */
  const trafficThen = async (w: WatchedPage, jid: string, delayMs: number) => {
    const text = `just before ${unique()}`;
    suite.bob.sendMessage(jid, text);
    await waitInPage(w, `message '${text}'`, `window.page.received.some((m) => m.body === ${q(text)})`, { describe: describeStrophe });
    await sleep(delayMs);
  };

  /**
   * A tab logs in, chats, and soon after traffic saves its sid/rid (Strophe's pause()) and is
   * closed: its waiting request is cut.
   */
  const sessionOfClosedTab = async (context: BrowserContext, cm: TestCm) => {
    const w = await stropheLoggedIn(context, cm, 'strophe tab 1');
    const { jid } = await pageState(w);
    await stropheChat(w, jid, 'tab 1');
    await trafficThen(w, jid, 300);
    const saved = await w.page.evaluate(() => (window as unknown as WithPage).page.save());
    await w.page.close();
    return { jid, saved };
  };

  test('D24: Strophe.js 5 restore() after a real page reload (keepalive) resumes its sid; messages flow both ways afterwards', { timeout: 90_000 }, async () => {
    const { cm, context } = await setup();
    const w = await stropheLoggedIn(context, cm, 'strophe');
    const before = await pageState(w);
    await stropheChat(w, before.jid, 'before the reload');
    await trafficThen(w, before.jid, 300);
    const created = await cm.sessionsCreated();
    const requestsBefore = w.requests.length;
    const responsesBefore = w.responses.length;
    await w.page.reload();
    await waitInPage(w, 'page loaded', 'typeof window.page?.restore === "function"');
    assert.equal(await w.page.evaluate((jid) => (window as unknown as WithPage).page.restore(jid), ALICE), 'restoring');
    await waitInPage(w, 'attached', 'window.page.status === "attached"', { describe: describeStrophe });
    const after = await pageState(w);
    assert.equal(after.sid, before.sid);
    assert.equal(after.jid, before.jid);
    await stropheChat(w, before.jid, 'after restore()');
    assert.equal(saslAuths(w.requests.slice(requestsBefore)), 0, 'no SASL after the reload');
    assert.equal(await cm.sessionsCreated(), created, 'no session created at the CM');
    assert.deepEqual(badResponses(w.responses.slice(responsesBefore)), []);
    assert.equal(await w.page.evaluate(() => (window as unknown as WithPage).page.status), 'attached', 'still attached');
  });

  test('D24: Strophe.js 5 attach(jid, sid, rid) in a new tab with the sid/rid of a closed tab; messages flow both ways afterwards', { timeout: 90_000 }, async () => {
    const { cm, context } = await setup();
    const { jid, saved } = await sessionOfClosedTab(context, cm);
    const created = await cm.sessionsCreated();
    const w2 = await watchedPage(context, cm.boshUrl, 'strophe tab 2');
    await w2.page.goto(`${suite.pages.origin}/pages/strophe.html?bosh=${encodeURIComponent(cm.boshUrl)}`);
    await waitInPage(w2, 'page loaded', 'typeof window.page?.attach === "function"');
    await w2.page.evaluate((s) => (window as unknown as WithPage).page.attach(s.jid, s.sid, s.rid), saved);
    await waitInPage(w2, 'attached', 'window.page.status === "attached"', { describe: describeStrophe });
    await stropheChat(w2, jid, 'attached in tab 2');
    assert.equal(await cm.sessionsCreated(), created, 'no session created at the CM');
    assert.equal(saslAuths(w2.requests), 0);
    assert.deepEqual(badResponses(w2.responses), []);
    assert.equal(await w2.page.evaluate(() => (window as unknown as WithPage).page.status), 'attached', 'still attached');
  });

  test('D24: StanzaJS continues the sid/rid of a closed tab; messages flow both ways afterwards', { timeout: 90_000 }, async () => {
    const { cm, context } = await setup();
    const { jid, saved } = await sessionOfClosedTab(context, cm);
    const created = await cm.sessionsCreated();

    const { agent, inbound, responses } = resumeStanza(cm.boshUrl, saved);
    cleanups.push(async () => {
      const t = agent.transport as unknown as { isEnded?: boolean } | undefined;
      if (t) t.isEnded = true; // no terminate: the CM is stopped right after
    });
    await eventually(() => assert.ok(agent.sessionStarted, 'session started'), { timeoutMs: 10_000, label: 'StanzaJS resumed' });
    assert.equal(agent.jid, saved.jid);
    const text = `to stanza ${unique()}`;
    suite.bob.sendMessage(jid, text);
    await eventually(() => assert.ok(inbound.includes(text), `StanzaJS got '${text}'; got ${q(inbound.slice(-3))}`), { timeoutMs: 15_000, intervalMs: 100 });
    const back = `from stanza ${unique()}`;
    const mark = suite.bob.mark();
    agent.sendMessage({ to: suite.bob.jid, type: 'chat', body: back });
    const got = await waitForBody(suite.bob, back, mark, `'${back}' at bob`);
    assert.equal(got.from, jid);
    assert.equal(await cm.sessionsCreated(), created, 'no session created at the CM');
    assert.deepEqual(badResponses(responses), []);
  });
});

interface StanzaBosh extends EventEmitter {
  authenticated: boolean;
  connect(opts: Record<string, unknown>): void;
  scheduleRequests(): void;
}

/**
 * StanzaJS with its BOSH transport given the saved sid and rid (its prebind path: `connect`
 * with `sid` starts the session without a stream negotiation); bodies of messages and the raw
 * responses are recorded.
 */
function resumeStanza(boshUrl: string, saved: { jid: string; sid: string; rid: number }): { agent: Agent; inbound: string[]; responses: string[] } {
  const agent = createClient({
    jid: saved.jid,
    transports: { websocket: false, bosh: boshUrl },
    useStreamManagement: false,
    allowResumption: false,
  });
  const transports = (agent as unknown as { transports: Record<string, new (...args: unknown[]) => StanzaBosh> }).transports;
  const Base = transports.bosh!;
  transports.bosh = class extends Base {
    constructor(...args: unknown[]) {
      super(...args);
      this.on('error', () => undefined); // reported through 'disconnected'
    }
    override connect(opts: Record<string, unknown>): void {
      this.authenticated = true; // the stream is negotiated: poll at once
      super.connect({ ...opts, sid: saved.sid, rid: saved.rid, wait: 60 });
      this.scheduleRequests();
    }
  };
  const inbound: string[] = [];
  const responses: string[] = [];
  agent.on('message', (m) => {
    if (m.body) inbound.push(m.body);
  });
  agent.on('raw:incoming', (d: string) => responses.push(d));
  void agent.connect();
  return { agent, inbound, responses };
}
