/**
 * Browser tabs sharing one XMPP connection, end to end: the demo pages (demo/) in headless
 * Chromium (Debian's `chromium`, driven by playwright-core), the CM (src/cm.ts) in front of a
 * throwaway Prosody, and bob as an independent Strophe.js client on Prosody's own BOSH.
 *
 * Every test opens its tabs in a fresh browser context (one origin, so the tabs share
 * localStorage and with it the key), with alice logging in in the first tab only. Afterwards the
 * link is closed for every tab (`shared:close='all'`), the context closed, and the test waits until
 * Prosody shows alice offline and the CM has no link left, so tests do not depend on each other.
 *
 * The pages load the client library as native ES modules from dist/src (see demo/server.ts).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, CDPSession } from 'playwright-core';
import { createConnectionManager, type ConnectionManager } from '../../src/cm.js';
import { createLogger } from '../../src/log.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';
import { connectStrophe, eventually, type StropheClient } from '../support/xmpp-clients.js';
import { demoCmConfig, serveDemoPages, throwawayTls, type DemoPageServer } from '../../demo/server.js';
import {
  browserTestsSkip,
  launchChromium,
  leave,
  messagesWithBody,
  openTab,
  sendFromTab,
  state,
  waitConnected,
  waitForMessage,
  type Tab,
} from './support/chromium.js';

const skip = browserTestsSkip();

const ALICE = 'alice@localhost';
const BOB = 'bob@localhost';
const T = { timeout: 30_000 };
const unique = (): string => Math.random().toString(36).slice(2, 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('demo tabs in headless Chromium share one connection through the CM', { skip, timeout: 180_000 }, () => {
  let prosody: ProsodyInstance;
  let cm: ConnectionManager;
  let boshUrl: string;
  let pages: DemoPageServer;
  let browser: Browser;
  let bob: StropheClient;
  /** Contexts and CMs of the running test, ended by afterEach. */
  let contexts: { context: BrowserContext; tabs: Tab[]; cm: ConnectionManager }[] = [];
  const extraCleanups: (() => Promise<void>)[] = [];

  const newContext = async (options: Parameters<Browser['newContext']>[0] = {}, tabCm = cm) => {
    const context = await browser.newContext(options);
    context.setDefaultTimeout(15_000);
    const entry = { context, tabs: [] as Tab[], cm: tabCm };
    contexts.push(entry);
    return entry;
  };

  /** The first tab logs in (created); the next `n - 1` attach, one without any URL parameters. */
  const openTabs = async (n: number, ctx: { context: BrowserContext; tabs: Tab[] }, url = pages.url, bosh?: string) => {
    const extra: Record<string, string> = bosh ? { bosh } : {};
    const first = await openTab(ctx.context, url, '/', {
      query: { jid: ALICE, password: 'alice-pw', connect: '1', ...extra },
      label: 'tab 1',
      watchUrl: bosh ?? boshUrl,
    });
    ctx.tabs.push(first);
    assert.equal((await state(first)).result, 'created');
    for (let i = 2; i <= n; i++) {
      // Tab 2 shows the demo's own behaviour: no jid, no connect=1; it finds the key and attaches.
      const query = i === 2 && !bosh ? {} : { jid: ALICE, connect: '1', ...extra };
      const tab = await openTab(ctx.context, url, '/', { query, label: `tab ${i}`, watchUrl: bosh ?? boshUrl });
      ctx.tabs.push(tab);
    }
    return ctx.tabs;
  };

  before(async () => {
    prosody = await startProsody();
    cm = createConnectionManager(demoCmConfig(prosody, {}, 'silent'), { logger: createLogger('silent') });
    ({ url: boshUrl } = await cm.start());
    pages = await serveDemoPages({ boshUrl, domain: prosody.domain, users: [{ jid: ALICE, password: 'alice-pw' }] });
    browser = await launchChromium();
    bob = await connectStrophe({ boshUrl: prosody.boshUrl, jid: `${BOB}/bob-browser`, password: 'bob-pw', mechanism: 'SCRAM-SHA-1' });
  });

  after(async () => {
    try {
      await browser?.close().catch(() => undefined);
      await bob?.disconnect(3000).catch(() => undefined);
      await pages?.close();
      await cm?.stop();
    } finally {
      await prosody?.stop();
    }
  });

  afterEach(async () => {
    const running = contexts;
    contexts = [];
    const problems = running.flatMap(({ tabs }) => tabs.flatMap((tab) => tab.problems.map((p) => `${tab.label}: ${p}`)));
    for (const { context, tabs, cm: tabCm } of running) {
      // End the link for every member (shared:close='all') from a tab still connected.
      for (const tab of tabs) {
        if (tab.page.isClosed()) continue;
        const st = await state(tab).catch(() => undefined);
        if (st?.status === 'connected' && st.result !== '' && tab.label.startsWith('tab')) {
          await leave(tab, true);
          break;
        }
      }
      await context.close().catch(() => undefined);
      await eventually(() => assert.equal(tabCm.stats().links, 0), { timeoutMs: 10_000, intervalMs: 100, label: 'no link left at the CM' });
    }
    for (const c of extraCleanups.splice(0).reverse()) await c().catch(() => undefined);
    await eventually(async () => assert.deepEqual(await prosody.onlineResources(ALICE), []), {
      timeoutMs: 10_000,
      intervalMs: 200,
      label: 'alice offline after the test',
    });
    assert.deepEqual(problems, [], 'no page errors and no console errors in any tab');
  });

  test('three tabs of the demo share one upstream connection: one Prosody resource, one link, three sessions', T, async () => {
    const ctx = await newContext();
    const [t1, t2, t3] = await openTabs(3, ctx);
    const [s1, s2, s3] = await Promise.all([t1!, t2!, t3!].map(state));
    assert.equal(s1!.result, 'created');
    assert.equal(s2!.result, 'attached', 'a tab opened without parameters attaches with the stored key');
    assert.equal(s3!.result, 'attached');
    assert.match(s1!.jid, /^alice@localhost\/.+/);
    assert.equal(s2!.jid, s1!.jid);
    assert.equal(s3!.jid, s1!.jid);
    assert.equal(new Set([s1!.sid, s2!.sid, s3!.sid]).size, 3, 'each tab has its own BOSH session');
    const resource = s1!.jid.split('/')[1]!;
    assert.deepEqual(await prosody.onlineResources(ALICE), [resource]);
    assert.deepEqual(cm.stats(), { sessions: 3, links: 1 });
    // Only the first tab logged in.
    for (const [tab, logins] of [[t1!, 1], [t2!, 0], [t3!, 0]] as const) {
      assert.equal(tab.requests.filter((b) => b.includes('<auth ')).length, logins, `${tab.label}: SASL auth elements sent`);
    }
  });

  test('a message from bob appears in every tab, once, as live', T, async () => {
    const ctx = await newContext();
    const tabs = await openTabs(3, ctx);
    const { jid } = await state(tabs[0]!);
    const text = `hello tabs ${unique()}`;
    bob.sendMessage(jid, text);
    for (const tab of tabs) {
      const entry = await waitForMessage(tab, text, ['live']);
      assert.equal(entry.from?.split('/')[0], BOB);
    }
    // To the bare JID too (the first tab sent initial presence for the link).
    const bareText = `to the bare jid ${unique()}`;
    bob.sendMessage(ALICE, bareText);
    for (const tab of tabs) await waitForMessage(tab, bareText, ['live']);
    await sleep(300);
    for (const tab of tabs) {
      assert.equal((await messagesWithBody(tab, text)).length, 1, `${tab.label}: once`);
      assert.equal((await messagesWithBody(tab, bareText)).length, 1, `${tab.label}: once`);
    }
  });

  test('a message sent in one tab appears in the others as echo and reaches bob once', T, async () => {
    const ctx = await newContext();
    const [t1, t2, t3] = await openTabs(3, ctx);
    const text = `from tab 2 ${unique()}`;
    const mark = bob.mark();
    const id = await sendFromTab(t2!, `${BOB}/bob-browser`, text);
    for (const tab of [t1!, t3!]) {
      const echo = await waitForMessage(tab, text, ['echo']);
      assert.equal(echo.id, id);
      assert.equal(echo.to, `${BOB}/bob-browser`);
    }
    const got = await bob.waitFor((s) => s.kind === 'message' && s.body === text, { since: mark, label: 'the message from tab 2' });
    assert.equal(got.from, (await state(t2!)).jid);
    await sleep(500);
    assert.equal(bob.received.slice(mark).filter((s) => s.body === text).length, 1, 'bob gets it once');
    const own = await messagesWithBody(t2!, text);
    assert.deepEqual(own.map((e) => e.kind), ['sent'], 'the sending tab gets no echo of its own message');
    for (const tab of [t1!, t3!]) assert.equal((await messagesWithBody(tab, text)).length, 1);
  });

  test('reloading the tab that logged in loses no message sent during the reload and logs in no second time', T, async (t) => {
    const ctx = await newContext();
    const [t1, t2] = await openTabs(2, ctx);
    const before1 = await state(t1!);
    const resources = await prosody.onlineResources(ALICE);
    assert.equal(resources.length, 1);

    // Hold the reloaded document's script: the old page is gone (pagehide ran), the new one has
    // not connected yet. Bob sends exactly then.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let scriptRequested!: () => void;
    const requested = new Promise<void>((r) => (scriptRequested = r));
    await t1!.page.route('**/app.js', async (route) => {
      scriptRequested();
      await gate;
      await route.continue();
    });
    const requestsBefore = t1!.requests.length;
    const reloaded = t1!.page.reload({ timeout: 20_000 });
    await requested;
    const text = `during the reload ${unique()}`;
    bob.sendMessage(before1.jid, text);
    await waitForMessage(t2!, text, ['live']); // the CM has it while tab 1 is down
    const during = await t1!.page.evaluate(() => typeof (window as unknown as { demo?: unknown }).demo);
    assert.equal(during, 'undefined', 'tab 1 had not started when bob sent');
    release();
    await reloaded;
    await t1!.page.unroute('**/app.js');
    await waitConnected(t1!);
    const entry = await waitForMessage(t1!, text, ['live', 'replay']);
    const after1 = await state(t1!);
    assert.ok(after1.resumed === true || after1.result === 'attached', `tab 1 came back by resume or attach, not by a new login: ${JSON.stringify(after1)}`);
    assert.equal(after1.jid, before1.jid, 'the same full JID');
    const sentSince = t1!.requests.slice(requestsBefore);
    assert.ok(sentSince.length > 0, 'tab 1 made BOSH requests after the reload');
    assert.equal(sentSince.filter((b) => b.includes('xmpp-sasl')).length, 0, 'no SASL element after the reload');
    assert.deepEqual(await prosody.onlineResources(ALICE), resources, 'Prosody still shows the one resource');
    assert.equal(cm.stats().links, 1);
    if (after1.resumed) {
      assert.equal(after1.sid, before1.sid, 'a resumed tab keeps its sid');
      assert.deepEqual(cm.stats(), { sessions: 2, links: 1 });
    }
    assert.equal((await messagesWithBody(t1!, text)).length, 1, `once (${entry.kind})`);
    t.diagnostic(`tab 1 came back ${after1.resumed ? 'by resuming its sid' : `by attaching (${after1.result})`}; the message came as ${entry.kind}`);
    // And it still works both ways.
    const next = `after the reload ${unique()}`;
    bob.sendMessage(before1.jid, next);
    await waitForMessage(t1!, next, ['live']);
    await waitForMessage(t2!, next, ['live']);
  });

  test('closing a tab (the one that logged in) leaves the others online and receiving', T, async () => {
    const ctx = await newContext();
    const [t1, t2, t3] = await openTabs(3, ctx);
    const { jid } = await state(t1!);
    const resources = await prosody.onlineResources(ALICE);
    await t1!.page.close();
    ctx.tabs.shift();
    await sleep(300);
    const text = `after the close ${unique()}`;
    bob.sendMessage(jid, text);
    await waitForMessage(t2!, text, ['live']);
    await waitForMessage(t3!, text, ['live']);
    assert.deepEqual(await prosody.onlineResources(ALICE), resources, 'still online with the same resource');
    assert.equal(cm.stats().links, 1);
    const reply = `reply from tab 3 ${unique()}`;
    const mark = bob.mark();
    await sendFromTab(t3!, `${BOB}/bob-browser`, reply);
    await bob.waitFor((s) => s.kind === 'message' && s.body === reply, { since: mark, label: 'the reply' });
    await waitForMessage(t2!, reply, ['echo']);
    for (const tab of [t2!, t3!]) assert.equal((await state(tab)).status, 'connected');
  });

  test('twenty tabs over HTTP/2 (TLS) all keep receiving', { timeout: 90_000 }, async (t) => {
    const tls = await throwawayTls();
    extraCleanups.push(tls.remove);
    const h2cm = createConnectionManager(demoCmConfig(prosody, { tls: tls.tls, http2: true }, 'silent'), { logger: createLogger('silent') });
    const { url: h2url } = await h2cm.start();
    extraCleanups.push(() => h2cm.stop());
    assert.match(h2url, /^https:\/\//);
    const ctx = await newContext({ ignoreHTTPSErrors: true }, h2cm);
    // Record the protocol of every response from the CM (Chrome DevTools Protocol).
    const protocols: string[] = [];
    const cdps: CDPSession[] = [];
    const first = await openTab(ctx.context, pages.url, '/', {
      query: { jid: ALICE, password: 'alice-pw', connect: '1', bosh: h2url },
      label: 'tab 1',
      timeoutMs: 20_000,
    });
    ctx.tabs.push(first);
    const watch = async (tab: Tab) => {
      const cdp = await ctx.context.newCDPSession(tab.page);
      cdps.push(cdp);
      cdp.on('Network.responseReceived', (ev: { response: { url: string; protocol?: string } }) => {
        if (ev.response.url.startsWith(h2url)) protocols.push(ev.response.protocol ?? '?');
      });
      await cdp.send('Network.enable');
    };
    await watch(first);
    const N = 20;
    // Open the other tabs a few at a time; the demo connects them one after another (Web Locks).
    for (let i = 2; i <= N; i += 5) {
      const batch = [];
      for (let j = i; j < Math.min(i + 5, N + 1); j++) {
        batch.push(openTab(ctx.context, pages.url, '/', { query: { jid: ALICE, connect: '1', bosh: h2url }, label: `tab ${j}`, timeoutMs: 30_000 }));
      }
      ctx.tabs.push(...(await Promise.all(batch)));
    }
    await Promise.all(ctx.tabs.slice(1, 4).map(watch));
    const tabs = ctx.tabs;
    assert.equal(tabs.length, N);
    const states = await Promise.all(tabs.map(state));
    assert.deepEqual(states.map((s) => s.result), ['created', ...Array(N - 1).fill('attached')]);
    assert.equal(new Set(states.map((s) => s.sid)).size, N);
    assert.deepEqual(h2cm.stats(), { sessions: N, links: 1 });
    assert.equal((await prosody.onlineResources(ALICE)).length, 1);
    const { jid } = states[0]!;
    for (let round = 1; round <= 2; round++) {
      const text = `to ${N} tabs, round ${round} ${unique()}`;
      bob.sendMessage(jid, text);
      await Promise.all(tabs.map((tab) => waitForMessage(tab, text, ['live'], 20_000)));
      await sleep(1000);
    }
    // A message from the last tab reaches the first as echo, over the same HTTP/2 connection.
    const echo = `from tab ${N} ${unique()}`;
    await sendFromTab(tabs[N - 1]!, `${BOB}/bob-browser`, echo);
    await waitForMessage(tabs[0]!, echo, ['echo']);
    await bob.waitFor((s) => s.kind === 'message' && s.body === echo, { label: `the message from tab ${N}` });
    assert.ok(protocols.length > 0, 'saw responses from the CM');
    assert.deepEqual([...new Set(protocols)], ['h2'], 'every response from the CM came over HTTP/2');
    t.diagnostic(`${protocols.length} responses from the CM seen by 4 tabs, all h2`);
    for (const cdp of cdps) await cdp.detach().catch(() => undefined);
  });

  test('a Strophe.js page with the Shared BOSH plugin attaches to the link of a page using the client library', T, async () => {
    const ctx = await newContext();
    const [t1] = await openTabs(1, ctx);
    const s1 = await state(t1!);
    const strophe = await openTab(ctx.context, pages.url, '/strophe.html', {
      query: { jid: ALICE, connect: '1' },
      label: 'strophe page',
      watchUrl: boshUrl,
    });
    ctx.tabs.push(strophe);
    const st = await state(strophe);
    assert.equal(st.result, 'attached');
    assert.equal(st.jid, s1.jid);
    assert.ok(st.sid && st.sid !== s1.sid);
    assert.equal(strophe.requests.filter((b) => b.includes('xmpp-sasl')).length, 0, 'no SASL from the Strophe page');
    assert.deepEqual(cm.stats(), { sessions: 2, links: 1 });
    assert.equal((await prosody.onlineResources(ALICE)).length, 1);

    const text = `to both pages ${unique()}`;
    bob.sendMessage(s1.jid, text);
    await waitForMessage(t1!, text, ['live']);
    await waitForMessage(strophe, text, ['live']);

    const fromStrophe = `from strophe ${unique()}`;
    const mark = bob.mark();
    await sendFromTab(strophe, `${BOB}/bob-browser`, fromStrophe);
    await waitForMessage(t1!, fromStrophe, ['echo']);
    await bob.waitFor((s) => s.kind === 'message' && s.body === fromStrophe, { since: mark, label: 'the message from the Strophe page' });

    const fromDemo = `from the demo page ${unique()}`;
    await sendFromTab(t1!, `${BOB}/bob-browser`, fromDemo);
    await waitForMessage(strophe, fromDemo, ['echo']);
    await sleep(300);
    assert.equal(bob.received.slice(mark).filter((s) => s.body === fromStrophe).length, 1);
  });
});
