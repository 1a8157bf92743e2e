/**
 * Converse.js 14 (npm `converse.js`, its dist/ served as static files, unchanged) in headless
 * Chromium against the CM in front of a throwaway Prosody; bob is a Strophe.js client in Node on
 * Prosody's own BOSH, subscribed to alice both ways, online. Issue 14: a reload soon after
 * traffic keeps the session (Converse restores its saved sid/rid: D24), an idle session keeps
 * working, and two Converse tabs share one link through the Strophe plugin (D25 `from` on echoes,
 * D14 snapshot after Converse's handlers exist).
 *
 * Converse's state is read through its API (`window.probe` in pages/converse-page.js holds
 * `_converse`), not its DOM. Each test has its own CM and browser context; the CM is stopped at
 * the end, which ends alice's upstream session.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext } from 'playwright-core';
import { eventually } from '../support/xmpp-clients.js';
import { browserTestsSkip } from './support/chromium.js';
import {
  ALICE,
  BOB,
  badResponses,
  befriend,
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

interface ProbeState {
  connected: boolean;
  restored: boolean;
  jid: string;
  sid: string;
  shared: string;
  events: string[];
}

describe('Converse.js 14 through the CM', { skip, timeout: 300_000 }, () => {
  let suite: ClientSuite;
  let running: { context?: BrowserContext; cm?: TestCm } = {};

  before(async () => {
    suite = await startClientSuite((p) => befriend(p, { jid: ALICE, password: 'alice-pw' }, { jid: `${BOB}/bob-node`, password: 'bob-pw' }));
  });

  after(() => suite?.stop());

  afterEach(async () => {
    const { context, cm } = running;
    running = {};
    await context?.close().catch(() => undefined);
    await cm?.cm.stop();
    await eventually(async () => assert.deepEqual(await suite.prosody.onlineResources(ALICE), []), {
      timeoutMs: 10_000,
      intervalMs: 200,
      label: 'alice offline after the test',
    });
  });

  const setup = async () => {
    const cm = await startCm(suite.prosody);
    const context = await suite.browser.newContext();
    context.setDefaultTimeout(20_000);
    await stayLocal(context);
    running = { context, cm };
    return { cm, context };
  };

  /** Opens Converse (logging in as alice, or attaching with `shared`); resolves once bob shows online. */
  const openConverse = async (context: BrowserContext, cm: TestCm, label: string, shared = false) => {
    const w = await watchedPage(context, cm.boshUrl, label);
    const url = new URL('/pages/converse.html', suite.pages.origin);
    url.searchParams.set('jid', ALICE);
    url.searchParams.set('password', 'alice-pw');
    url.searchParams.set('bosh', cm.boshUrl);
    if (shared) {
      url.searchParams.set('shared', '1');
      // A hold longer than the waits below: the snapshot reaches Converse because Converse's
      // initial presence releases it, not because the hold ran out.
      url.searchParams.set('hold', '60000');
    }
    await w.page.goto(url.href, { timeout: 30_000 });
    await untilOnline(w);
    return w;
  };

  const probeState = (w: WatchedPage) => w.page.evaluate(() => (window as unknown as { probe: { state(): ProbeState } }).probe.state());

  const untilOnline = (w: WatchedPage, timeoutMs = 30_000) =>
    waitInPage(w, 'connected, bob shown online', `window.probe?.state?.().connected && window.probe.contactStatus(${q(BOB)}) === 'online'`, {
      timeoutMs,
      describe: `[window.probe?.state?.(), window.probe?.contactStatus?.(${q(BOB)})]`,
    });

  const untilMessage = (w: WatchedPage, body: string, sender: 'me' | 'them', timeoutMs = 15_000) =>
    waitInPage(w, `message '${body}' from ${sender}`, `window.probe.messages(${q(BOB)}).then((ms) => ms.some(([s, b]) => s === ${q(sender)} && b === ${q(body)}))`, {
      timeoutMs,
      describe: `window.probe.messages(${q(BOB)}).then((ms) => ms.slice(-5))`,
    });

  /** A message each way: Converse -> bob, bob -> alice (to the JID Converse is bound to). */
  const chatBothWays = async (w: WatchedPage, what: string) => {
    const out = `${what}: from converse ${unique()}`;
    const mark = suite.bob.mark();
    await w.page.evaluate(({ to, body }) => (window as unknown as { probe: { send(to: string, b: string): Promise<void> } }).probe.send(to, body), { to: BOB, body: out });
    const got = await waitForBody(suite.bob, out, mark, `${w.label}: '${out}' at bob`);
    const { jid } = await probeState(w);
    assert.equal(got.from, jid, 'bob sees it from the JID Converse is bound to');
    const back = `${what}: to converse ${unique()}`;
    suite.bob.sendMessage(jid, back);
    await untilMessage(w, back, 'them');
  };

  /** The body of the last message of `sender` in the chat with bob. */
  const lastBody = async (w: WatchedPage, sender: 'me' | 'them') => {
    const ms = await w.page.evaluate((c) => (window as unknown as { probe: { messages(c: string): Promise<[string, string | null][]> } }).probe.messages(c), BOB);
    return ms.filter(([s]) => s === sender).at(-1)?.[1] ?? '';
  };

  const assertNoProblems = (ws: WatchedPage[]) =>
    assert.deepEqual(ws.flatMap((w) => w.problems.map((p) => `${w.label}: ${p}`)), [], 'no page errors and no console errors');

  test('D24: Converse.js logs in, chats both ways, and a reload 0.15 s and 0.7 s after traffic keeps the session (restored sid, no new login, contact still online)', { timeout: 150_000 }, async (t) => {
    const { cm, context } = await setup();
    const w = await openConverse(context, cm, 'converse');
    const first = await probeState(w);
    assert.match(first.jid, /^alice@localhost\/.+/);
    assert.equal(saslAuths(w.requests), 1, 'one SASL login');
    await chatBothWays(w, 'before the reloads');
    const resources = await suite.prosody.onlineResources(ALICE);
    assert.equal(resources.length, 1);

    for (const delayMs of [150, 700]) {
      // Traffic, then the reload while Converse's next request is held at the CM.
      const text = `just before the reload ${unique()}`;
      suite.bob.sendMessage(first.jid, text);
      await untilMessage(w, text, 'them');
      await sleep(delayMs);
      const created = await cm.sessionsCreated();
      const requestsBefore = w.requests.length;
      const responsesBefore = w.responses.length;
      await w.page.reload({ timeout: 30_000 });
      await untilOnline(w);
      const st = await probeState(w);
      const bad = badResponses(w.responses.slice(responsesBefore));
      assert.deepEqual(bad, [], `no error or terminate in the CM's answers after the reload at ${delayMs} ms`);
      assert.equal(saslAuths(w.requests.slice(requestsBefore)), 0, `no new SASL login after the reload at ${delayMs} ms`);
      assert.equal(st.restored, true, 'Converse restored its saved BOSH session');
      assert.equal(st.sid, first.sid, 'the same BOSH session');
      assert.equal(st.jid, first.jid, 'the same full JID');
      assert.equal(await cm.sessionsCreated(), created, 'no session created at the CM');
      assert.deepEqual(await suite.prosody.onlineResources(ALICE), resources, 'Prosody still has the one resource');
      await chatBothWays(w, `after the reload at ${delayMs} ms`);
      t.diagnostic(`reload ${delayMs} ms after traffic: restored sid ${st.sid}, ${w.requests.length - requestsBefore} requests since`);
    }
    assert.deepEqual(badResponses(w.responses), []);
    assertNoProblems([w]);
  });

  test('D24: a Converse.js reload while its next request has not left the browser keeps the session: the restored page goes on past the lost rid, and what waited at the CM arrives once', { timeout: 150_000 }, async () => {
    const { cm, context } = await setup();
    const w = await openConverse(context, cm, 'converse');
    const first = await probeState(w);
    await chatBothWays(w, 'before the reload');
    // The page's next BOSH request stays in the browser (as on a loaded machine) until the reload
    // aborts it: it never reaches the CM, but Strophe has saved the rid after it in sessionStorage.
    let blocked = 0;
    let block = true;
    const inBrowser = (url: URL) => url.href.startsWith(cm.boshUrl);
    await context.route(inBrowser, (route) => {
      if (block && route.request().method() === 'POST') {
        block = false;
        blocked += 1;
        return; // neither continued nor answered
      }
      return route.continue();
    });
    const waiting = `waiting at the CM ${unique()}`;
    suite.bob.sendMessage(first.jid, waiting); // answers the held request, or waits at the CM
    await eventually(async () => assert.equal(blocked, 1), { timeoutMs: 10_000, intervalMs: 50, label: 'the next request held in the browser' });
    await sleep(500);
    const created = await cm.sessionsCreated();
    const requestsBefore = w.requests.length;
    const responsesBefore = w.responses.length;
    await w.page.reload({ timeout: 30_000 });
    await untilOnline(w);
    await untilMessage(w, waiting, 'them'); // it came either before the reload or after it
    const st = await probeState(w);
    assert.deepEqual(badResponses(w.responses.slice(responsesBefore)), [], 'no error or terminate in the CM\'s answers after the reload');
    assert.equal(st.restored, true, 'Converse restored its saved BOSH session');
    assert.equal(st.sid, first.sid, 'the same BOSH session');
    assert.equal(saslAuths(w.requests.slice(requestsBefore)), 0, 'no new SASL login');
    assert.equal(await cm.sessionsCreated(), created, 'no session created at the CM');
    assert.ok(w.responses.filter((r) => r.includes(waiting)).length <= 1, 'the message was not sent twice');
    const shown = await w.page.evaluate((c) => (window as unknown as { probe: { messages(c: string): Promise<[string, string | null][]> } }).probe.messages(c), BOB);
    assert.equal(shown.filter(([, b]) => b === waiting).length, 1, 'Converse shows it once');
    await chatBothWays(w, 'after the reload');
    await context.unroute(inBrowser);
    assert.deepEqual(badResponses(w.responses), []);
    assertNoProblems([w]);
  });

  test('D24: a Converse.js session idle for 70 s still works (its held requests are answered and renewed)', { timeout: 150_000 }, async () => {
    const { cm, context } = await setup();
    const w = await openConverse(context, cm, 'converse');
    const before = await probeState(w);
    await chatBothWays(w, 'before the idle period');
    const created = await cm.sessionsCreated();
    await sleep(70_000); // the scenario: nobody does anything for longer than `wait`
    const st = await probeState(w);
    assert.equal(st.connected, true);
    assert.equal(st.sid, before.sid, 'the same BOSH session');
    assert.equal(await cm.sessionsCreated(), created, 'no session created meanwhile');
    assert.equal(saslAuths(w.requests), 1, 'no second login');
    await chatBothWays(w, 'after 70 s idle');
    assert.equal(await suite.prosody.onlineResources(ALICE).then((r) => r.length), 1);
    assert.deepEqual(badResponses(w.responses), []);
    assertNoProblems([w]);
  });

  test('D25 D14: two Converse.js tabs share one link through the Strophe plugin: no errors, bob online in both, messages both ways from both', { timeout: 150_000 }, async () => {
    const { cm, context } = await setup();
    const t1 = await openConverse(context, cm, 'converse tab 1', true);
    const s1 = await probeState(t1);
    assert.equal(s1.shared, 'created');
    const t2 = await openConverse(context, cm, 'converse tab 2', true);
    const s2 = await probeState(t2);
    assert.equal(s2.shared, 'attached', 'the second tab attached with the key the first one shared');
    assert.equal(s2.jid, s1.jid, 'both tabs use the link\'s full JID');
    assert.notEqual(s2.sid, s1.sid);
    assert.equal(saslAuths(t2.requests), 0, 'the second tab did not log in');
    assert.deepEqual(cm.cm.stats(), { sessions: 2, links: 1 });
    assert.equal((await suite.prosody.onlineResources(ALICE)).length, 1);

    for (const [from, other] of [[t1, t2], [t2, t1]] as const) {
      const out = `from ${from.label} ${unique()}`;
      const mark = suite.bob.mark();
      await from.page.evaluate(({ to, body }) => (window as unknown as { probe: { send(to: string, b: string): Promise<void> } }).probe.send(to, body), { to: BOB, body: out });
      const got = await waitForBody(suite.bob, out, mark, `'${out}' at bob`);
      assert.equal(got.from, s1.jid);
      await untilMessage(other, out, 'me'); // the echo shows as alice's own message in the other tab
    }
    const back = `to both tabs ${unique()}`;
    suite.bob.sendMessage(s1.jid, back);
    await untilMessage(t1, back, 'them');
    await untilMessage(t2, back, 'them');
    // Let the tabs process the echoes of each other's chat states and receipts.
    await sleep(1000);
    for (const w of [t1, t2]) {
      assert.equal(await w.page.evaluate((c) => (window as unknown as { probe: { contactStatus(c: string): string } }).probe.contactStatus(c), BOB), 'online', `${w.label}: bob online`);
    }
    assertNoProblems([t1, t2]);

    // The attached tab reloads: Converse restores that tab's own sid; the other tab is untouched.
    const created = await cm.sessionsCreated();
    const requestsBefore = t2.requests.length;
    await t2.page.reload({ timeout: 30_000 });
    await untilOnline(t2);
    const r2 = await probeState(t2);
    assert.equal(r2.restored, true, 'the reloaded tab restored its session');
    assert.equal(r2.sid, s2.sid);
    assert.equal(saslAuths(t2.requests.slice(requestsBefore)), 0);
    assert.equal(await cm.sessionsCreated(), created);
    await chatBothWays(t2, 'tab 2 after its reload');
    await untilMessage(t1, `${(await lastBody(t2, 'me'))}`, 'me');
    assert.deepEqual(badResponses([...t1.responses, ...t2.responses]), []);
    assertNoProblems([t1, t2]);
  });
});
