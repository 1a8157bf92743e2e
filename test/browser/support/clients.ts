/**
 * Support for the browser tests of real XMPP clients (Converse.js, Strophe.js, StanzaJS) against
 * the CM in front of a throwaway Prosody: one CM per test (so counters and sessions start from
 * zero), pages served from test/browser/pages/ and node_modules by a static server, page
 * watching (errors, BOSH requests and responses), and a roster subscription set up from Node.
 */
import assert from 'node:assert/strict';
import { $iq } from 'strophe.js';
import { DOMParser, XMLSerializer, type Element as XmlElement } from '@xmldom/xmldom';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createConnectionManager, type ConnectionManager } from '../../../src/cm.js';
import { createLogger } from '../../../src/log.js';
import { demoCmConfig } from '../../../demo/server.js';
import { startProsody, type ProsodyInstance } from '../../support/prosody.js';
import { connectStrophe, eventually, type StropheClient, type TestClient } from '../../support/xmpp-clients.js';
import { serveStatic, type StaticServer } from './static-server.js';
import { launchChromium } from './chromium.js';

export const ALICE = 'alice@localhost';
export const BOB = 'bob@localhost';
export const unique = (): string => Math.random().toString(36).slice(2, 10);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What a test file starts once: Prosody, the page server, Chromium, and bob (see `bob` below). */
export interface ClientSuite {
  prosody: ProsodyInstance;
  pages: StaticServer;
  browser: Browser;
  bob: StropheClient;
  /** Ends all of it (Prosody by its PID), whatever was started. */
  stop(): Promise<void>;
}

/**
 * Starts a suite; `bob(prosody)` logs bob in from Node. On a failure part-way, what was started
 * is stopped again before the error is rethrown.
 */
export async function startClientSuite(bob: (prosody: ProsodyInstance) => Promise<StropheClient>): Promise<ClientSuite> {
  const parts: Partial<ClientSuite> = {};
  const stop = async () => {
    try {
      await parts.browser?.close().catch(() => undefined);
      await parts.bob?.disconnect(3000).catch(() => undefined);
      await parts.pages?.close();
    } finally {
      await parts.prosody?.stop();
    }
  };
  try {
    parts.prosody = await startProsody();
    parts.pages = await serveClientPages();
    parts.browser = await launchChromium();
    parts.bob = await bob(parts.prosody);
    return { ...(parts as Omit<ClientSuite, 'stop'>), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The pages and the clients they load: Converse.js's dist/ and Strophe.js's ESM build as published, the compiled plugin. */
export function serveClientPages(): Promise<StaticServer> {
  return serveStatic({
    '/pages/': 'test/browser/pages/',
    '/converse/': 'node_modules/converse.js/dist/',
    '/strophe.esm.js': 'node_modules/strophe.js/dist/strophe.esm.js',
    '/lib/': 'dist/src/',
    '/favicon.ico': 'node_modules/converse.js/dist/images/favicon.ico',
  });
}

export interface TestCm {
  cm: ConnectionManager;
  boshUrl: string;
  /** `sbosh_sessions_created_total`. */
  sessionsCreated(): Promise<number>;
}

/** A CM of its own in front of `prosody` (the demo's settings: no creation rate limit). */
export async function startCm(prosody: ProsodyInstance): Promise<TestCm> {
  const cm = createConnectionManager(demoCmConfig(prosody, {}, 'silent'), { logger: createLogger('silent') });
  const { url } = await cm.start();
  return {
    cm,
    boshUrl: url,
    sessionsCreated: async () => (await cm.metrics.sessionsCreated.get()).values.reduce((n, v) => n + v.value, 0),
  };
}

/**
 * Answers every request of `context` that leaves 127.0.0.1 with an empty 204 (the tests have no
 * network; Converse's login screen shows its sponsors' logos from conversejs.org).
 */
export async function stayLocal(context: BrowserContext): Promise<void> {
  await context.route(/^(?!http:\/\/127\.0\.0\.1[:/])/, (route) => route.fulfill({ status: 204, body: '' }));
}

export interface WatchedPage {
  page: Page;
  label: string;
  /** Uncaught page errors and console errors. */
  problems: string[];
  /** Bodies of the BOSH requests the page sent. */
  requests: string[];
  /** Bodies of the BOSH responses the page received. */
  responses: string[];
}

/** A new page of `context` that records its problems and its BOSH traffic with `boshUrl`. */
export async function watchedPage(context: BrowserContext, boshUrl: string, label: string): Promise<WatchedPage> {
  const page = await context.newPage();
  const watched: WatchedPage = { page, label, problems: [], requests: [], responses: [] };
  page.on('pageerror', (err) => watched.problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') watched.problems.push(`console: ${msg.text()}`);
  });
  page.on('requestfailed', (req) => {
    if (!req.url().startsWith(boshUrl)) watched.problems.push(`request failed: ${req.url()} (${req.failure()?.errorText ?? ''})`);
  });
  page.on('request', (req) => {
    if (req.method() === 'POST' && req.url().startsWith(boshUrl)) watched.requests.push(req.postData() ?? '');
  });
  page.on('response', (res) => {
    if (res.request().method() !== 'POST' || !res.url().startsWith(boshUrl)) return;
    res.text().then(
      (text) => watched.responses.push(text),
      () => undefined, // the page went away first
    );
  });
  return watched;
}

/**
 * Waits until `expression` (JavaScript run in the page) is truthy, or resolves to a truthy value
 * when it is a promise; the failure names the page, what `describe` (an expression) shows there,
 * and the page's problems. It polls with page.evaluate, which awaits a promise: waitForFunction
 * would take the promise object itself for a truthy result and return at once.
 */
export async function waitInPage(w: WatchedPage, what: string, expression: string, opts: { timeoutMs?: number; describe?: string } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let error = '';
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const timeout = AbortSignal.timeout(left);
    const value = await Promise.race([
      w.page.evaluate(expression).catch((err: Error) => void (error = err.message.split('\n')[0]!)),
      new Promise<undefined>((resolve) => timeout.addEventListener('abort', () => resolve(undefined), { once: true })),
    ]);
    if (value) return;
    await sleep(100);
  }
  const shown = opts.describe ? JSON.stringify(await w.page.evaluate(opts.describe).catch((e: Error) => `(unreadable: ${e.message})`)) : '';
  throw new Error(`${w.label}: ${what}: not within ${timeoutMs} ms${error ? ` (last error: ${error})` : ''}; ${shown}; problems: ${w.problems.slice(-5).join(' | ')}`);
}

/** SASL `<auth/>` elements among the requests. */
export function saslAuths(requests: string[]): number {
  return requests.filter((b) => /<auth[\s>]/.test(b)).length;
}

/**
 * What a client should never get here: a terminal body (`type='terminate'`, e.g. policy-violation)
 * or an IQ error `service-unavailable` that does not come from `peer` (a peer's client may refuse
 * a query it does not handle; the server or the CM refusing means the session was lost).
 */
export function badResponses(responses: string[], peer = 'bob@'): string[] {
  const bad: string[] = [];
  for (const text of responses) {
    let body: XmlElement;
    try {
      body = new DOMParser().parseFromString(text, 'text/xml').documentElement as XmlElement;
    } catch {
      bad.push(`unparsable: ${text.slice(0, 200)}`);
      continue;
    }
    if (body.getAttribute('type') === 'terminate') bad.push(text);
    for (const iq of Array.from(body.getElementsByTagName('iq'))) {
      const from = iq.getAttribute('from') ?? '';
      if (iq.getAttribute('type') === 'error' && iq.getElementsByTagName('service-unavailable').length > 0 && !from.startsWith(peer)) {
        bad.push(new XMLSerializer().serializeToString(iq));
      }
    }
  }
  return bad;
}

/**
 * Gives `a` and `b` a mutual presence subscription (both = 'both'), logging both in from Node
 * on Prosody's own BOSH; `b` stays online (available) and is returned, `a` logs out.
 */
export async function befriend(prosody: ProsodyInstance, a: { jid: string; password: string }, b: { jid: string; password: string }): Promise<StropheClient> {
  const bare = (jid: string) => jid.split('/')[0]!;
  const ca = await connectStrophe({ boshUrl: prosody.boshUrl, jid: `${bare(a.jid)}/setup`, password: a.password, mechanism: 'SCRAM-SHA-1', presence: true });
  let cb: StropheClient | undefined;
  try {
    cb = await connectStrophe({ boshUrl: prosody.boshUrl, jid: b.jid, password: b.password, mechanism: 'SCRAM-SHA-1', presence: true });
    const isSub = (from: string, type: string) => (s: { kind: string; type?: string; from?: string }) =>
      s.kind === 'presence' && s.type === type && bare(s.from ?? '') === bare(from);
    ca.sendPresence({ to: bare(b.jid), type: 'subscribe' });
    await cb.waitFor(isSub(a.jid, 'subscribe'), { label: 'subscription request of a' });
    cb.sendPresence({ to: bare(a.jid), type: 'subscribed' });
    cb.sendPresence({ to: bare(a.jid), type: 'subscribe' });
    await ca.waitFor(isSub(b.jid, 'subscribe'), { label: 'subscription request of b' });
    ca.sendPresence({ to: bare(b.jid), type: 'subscribed' });
    for (const [c, other] of [[ca, b.jid], [cb, a.jid]] as const) {
      await eventually(async () => {
        const roster = await c.iq($iq({ type: 'get' }).c('query', { xmlns: 'jabber:iq:roster' }));
        const item = Array.from(roster.getElementsByTagName('item')).find((i) => i.getAttribute('jid') === bare(other));
        assert.equal(item?.getAttribute('subscription'), 'both', `${c.jid}'s roster item for ${other}`);
      }, { timeoutMs: 10_000, intervalMs: 200, label: 'mutual subscription' });
    }
    return cb;
  } catch (err) {
    await cb?.disconnect(3000).catch(() => undefined);
    throw err;
  } finally {
    await ca.disconnect(3000).catch(() => undefined);
  }
}

/** Waits for a chat message from `from` with this body at a Node client. */
export function waitForBody(client: TestClient, body: string, since: number, label: string) {
  return client.waitFor((s) => s.kind === 'message' && s.body === body, { since, timeoutMs: 15_000, label });
}
