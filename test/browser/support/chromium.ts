/**
 * Headless Chromium (Debian's `chromium` package) driven by playwright-core, and helpers for the
 * demo pages (demo/app.js, demo/strophe-app.js), which expose their state as `window.demo`.
 * `npx playwright install` is not used: the browser comes from the system.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { prosodyAvailable } from '../../support/prosody.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/** Why the browser tests cannot run on this machine (their `skip` option), or false. */
export function browserTestsSkip(): string | false {
  if (!chromiumAvailable()) return `Chromium is not installed (${CHROMIUM_PATH}; Debian package 'chromium', .ci/run installs it)`;
  if (!prosodyAvailable()) return 'prosody is not installed';
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      // Keep timers of background pages running at full speed (several tabs of one context).
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
  });
}

/** One log line of a demo page (see demo/app.js). */
export interface DemoEntry {
  kind: 'live' | 'echo' | 'replay' | 'sent' | 'info';
  name?: string;
  type?: string;
  from?: string;
  to?: string;
  id?: string;
  body?: string;
  text?: string;
  at: number;
}

/** What `window.demo` holds (the parts the tests read). */
export interface DemoState {
  status: string;
  jid: string;
  sid: string;
  result: string;
  resumed?: boolean;
  error?: string;
  entries: DemoEntry[];
}

export interface Tab {
  page: Page;
  /** Uncaught page errors and console errors, for failure messages. */
  problems: string[];
  /** Bodies of every request the page sent to `watchUrl` (when given). */
  requests: string[];
  /** The client library's debug lines (pages opened with `debug=1`), the last 100. */
  trace: string[];
  label: string;
}

export interface OpenOptions {
  /** Query parameters of the page URL. */
  query?: Record<string, string>;
  /** Wait until `demo.status` is 'connected'. @default true */
  waitConnected?: boolean;
  /** Record the bodies of requests to this URL prefix in `tab.requests`. */
  watchUrl?: string;
  label?: string;
  timeoutMs?: number;
}

/** Opens `path` of `baseUrl` (a demo page) in a new tab of `context`. */
export async function openTab(context: BrowserContext, baseUrl: string, path: string, opts: OpenOptions = {}): Promise<Tab> {
  const page = await context.newPage();
  const tab: Tab = { page, problems: [], requests: [], trace: [], label: opts.label ?? path };
  page.on('pageerror', (err) => tab.problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') tab.problems.push(`console: ${msg.text()}`);
    else if (msg.type() === 'debug') {
      tab.trace.push(`${new Date().toISOString().slice(11, 23)} ${msg.text()}`);
      if (tab.trace.length > 100) tab.trace.shift();
    }
  });
  if (opts.watchUrl) {
    const prefix = opts.watchUrl;
    page.on('request', (req) => {
      if (req.method() === 'POST' && req.url().startsWith(prefix)) tab.requests.push(req.postData() ?? '');
    });
  }
  const url = new URL(path, baseUrl);
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
  // The client's debug lines (never request bodies) end up in failure messages.
  if (!url.searchParams.has('debug')) url.searchParams.set('debug', '1');
  await page.goto(url.href, { timeout: opts.timeoutMs ?? 15_000 });
  if (opts.waitConnected ?? true) await waitConnected(tab, opts.timeoutMs ?? 15_000);
  return tab;
}

export async function state(tab: Tab): Promise<DemoState> {
  return tab.page.evaluate(() => {
    const d = (window as unknown as { demo: DemoState }).demo;
    return { status: d.status, jid: d.jid, sid: d.sid, result: d.result, resumed: d.resumed, error: d.error, entries: d.entries };
  });
}

async function describeTab(tab: Tab): Promise<string> {
  let s = '(no state)';
  try {
    const st = await state(tab);
    s = `status=${st.status} result=${st.result} error=${st.error ?? ''}; last entries: ${JSON.stringify(st.entries.slice(-6).map((e) => [e.kind, e.name, e.body ?? e.text]))}`;
  } catch (err) {
    s = `(state unreadable: ${(err as Error).message})`;
  }
  return `${tab.label}: ${s}${tab.problems.length ? `; problems: ${tab.problems.slice(-5).join(' | ')}` : ''}`
    + `${tab.trace.length ? `; client trace: ${tab.trace.slice(-12).join(' | ')}` : ''}`;
}

/** Runs `wait`; on failure rethrows with the tab's state and problems in the message. */
async function withTabContext<T>(tab: Tab, what: string, wait: () => Promise<T>): Promise<T> {
  try {
    return await wait();
  } catch (err) {
    throw new Error(`${what} failed: ${(err as Error).message.split('\n')[0]}\n  ${await describeTab(tab)}`);
  }
}

export function waitConnected(tab: Tab, timeoutMs = 15_000): Promise<void> {
  return withTabContext(tab, `${tab.label}: waiting for status connected`, async () => {
    await tab.page.waitForFunction(() => (window as unknown as { demo?: DemoState }).demo?.status === 'connected', undefined, {
      timeout: timeoutMs,
      polling: 50,
    });
  });
}

/** Waits until the tab's log holds a message with `body` of one of `kinds`; returns that entry. */
export function waitForMessage(tab: Tab, body: string, kinds: DemoEntry['kind'][], timeoutMs = 10_000): Promise<DemoEntry> {
  return withTabContext(tab, `${tab.label}: waiting for message '${body}' as ${kinds.join('/')}`, async () => {
    const handle = await tab.page.waitForFunction(
      ({ body, kinds }) =>
        (window as unknown as { demo: DemoState }).demo.entries.find((e) => e.name === 'message' && e.body === body && kinds.includes(e.kind)),
      { body, kinds },
      { timeout: timeoutMs, polling: 50 },
    );
    return (await handle.jsonValue()) as DemoEntry;
  });
}

/** The message entries of the tab's log with this body. */
export async function messagesWithBody(tab: Tab, body: string): Promise<DemoEntry[]> {
  return (await state(tab)).entries.filter((e) => e.name === 'message' && e.body === body);
}

/** Sends a chat message from the tab (demo.send); returns its id. */
export function sendFromTab(tab: Tab, to: string, text: string): Promise<string> {
  return tab.page.evaluate(({ to, text }) => (window as unknown as { demo: { send(to: string, text: string): string } }).demo.send(to, text), { to, text });
}

/** `demo.leave(closeAll)` of a connected demo page, bounded. */
export async function leave(tab: Tab, closeAll: boolean, timeoutMs = 5000): Promise<void> {
  await Promise.race([
    tab.page.evaluate((all) => (window as unknown as { demo: { leave(all: boolean): Promise<void> } }).demo.leave(all), closeAll),
    new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
  ]);
}
