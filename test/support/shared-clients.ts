/**
 * Shared BOSH members for end-to-end tests over real HTTP (docs/shared-bosh.md).
 *
 * A `SharedMember` is one BOSH session of a link: it creates or attaches with `shared:key`, may log
 * in (SASL PLAIN, restart, bind) when it is the creator, and then keeps one request held at the CM
 * (`startPolling()`), so that everything the CM sends it is recorded in `received` as it arrives.
 * Payloads are sent with `send()`; the member never has more than `requests` requests open, and it
 * sends an empty poll only when none is open, so it stays within XEP-0124's polling rules.
 */
import { randomBytes } from 'node:crypto';
import { parseBody } from '../../src/xml/body-parser.js';
import type { Element } from '../../src/xml/element.js';
import { HTTPBIND_NS, XBOSH_NS } from './bosh-http.js';
import { NS_SHARED } from '../../src/protocol/namespaces.js';

export { NS_SHARED };
export const SHARED_DECL = `xmlns:shared='${NS_SHARED}'`;

/** A fresh key: 32 random bytes in base64url (43 characters, docs/shared-bosh.md §2). */
export function newKey(): string {
  return randomBytes(32).toString('base64url');
}

/** One answer of the CM, parsed. */
export interface MemberAnswer {
  rid: number;
  status: number;
  text: string;
  attrs: Record<string, string>;
  children: Element[];
}

/** One top-level element a member received, with the answer that carried it. */
export interface Got {
  el: Element;
  xml: string;
  rid: number;
  /** `shared:seq` of the carrying body, if any. */
  seq: number | undefined;
  /** Carried by the creation (attach) response. */
  inCreation: boolean;
  /** Carried by a terminal body. */
  inTerminal: boolean;
}

export interface OpenOptions {
  /** `shared:key`; omit for an unshared session. */
  key?: string;
  /** `shared:since` (attach only). */
  since?: number;
  /** @default 'localhost' */
  to?: string;
  /** BOSH `wait`, seconds. @default 10 */
  wait?: number;
  /** Extra HTTP headers of the creation request (e.g. `origin`). */
  headers?: Record<string, string>;
  /** Name for error messages. */
  name?: string;
}

export const isEcho = (el: Element): boolean => el.attrs['shared:echo'] === 'true';
export const isReplay = (el: Element): boolean => el.attrs['shared:replay'] === 'true';
export const bodyText = (el: Element): string | undefined => el.getChild('body')?.text();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves after `ms`; for letting late duplicates arrive before counting. */
export const settle = sleep;

interface Outgoing {
  payload: string;
  attrs: string;
  poll: boolean;
  resolve: (a: MemberAnswer | undefined) => void;
}

export class SharedMember {
  sid = '';
  rid = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
  creation: MemberAnswer | undefined;
  /** Every answer, in the order they arrived. */
  readonly answers: MemberAnswer[] = [];
  /** Every top-level element received, in order. */
  readonly received: Got[] = [];
  /** The terminal answer that ended this member, if any. */
  terminal: MemberAnswer | undefined;
  /** Highest `shared:seq` of an answer processed. */
  lastSeq = 0;
  /** Failed HTTP requests (other than aborted polls). */
  readonly errors: unknown[] = [];
  private requests = 2;
  private open = 0;
  private polling = false;
  private readonly queue: Outgoing[] = [];
  private readonly controllers = new Set<AbortController>();
  private readonly waiters = new Set<{ pred: (g: Got) => boolean; resolve: (g: Got) => void }>();
  private readonly endWaiters: ((a: MemberAnswer) => void)[] = [];

  private constructor(readonly url: string, readonly name: string) {}

  /** Sends a creation request (create or attach); the member is ended if the answer is terminal. */
  static async open(url: string, opts: OpenOptions = {}): Promise<SharedMember> {
    const m = new SharedMember(url, opts.name ?? 'member');
    let attrs = `to='${opts.to ?? 'localhost'}' wait='${opts.wait ?? 10}' hold='1' ver='1.11' xmpp:version='1.0' xml:lang='en'`;
    if (opts.key !== undefined) attrs += ` shared:key='${opts.key}' ${SHARED_DECL}`;
    if (opts.since !== undefined) attrs += ` shared:since='${opts.since}'`;
    const answer = await m.post(`<body rid='${m.rid}' ${attrs} ${XBOSH_NS} ${HTTPBIND_NS}/>`, m.rid, opts.headers ?? {});
    m.creation = answer;
    m.sid = answer.attrs.sid ?? '';
    if (answer.attrs.requests) m.requests = Number(answer.attrs.requests);
    m.record(answer, true);
    return m;
  }

  get ended(): boolean {
    return this.terminal !== undefined;
  }

  get result(): string | undefined {
    return this.creation?.attrs['shared:result'];
  }

  /** SASL PLAIN, restart and bind, with no poll running; returns the bound full JID. */
  async login(user: string, password: string, resource: string): Promise<string> {
    const token = Buffer.from(`\0${user}\0${password}`).toString('base64');
    const auth = await this.request(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${token}</auth>`);
    if (auth?.children[0]?.name !== 'success') throw new Error(`${this.name}: SASL failed: ${auth?.text}`);
    const restart = await this.request('', "xmpp:restart='true' to='localhost'");
    if (restart?.children[0]?.name !== 'stream:features') throw new Error(`${this.name}: no features after restart: ${restart?.text}`);
    const bind = await this.request(
      `<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`,
    );
    const jid = bind?.children[0]?.getChild('bind')?.getChild('jid')?.text();
    if (!jid) throw new Error(`${this.name}: bind failed: ${bind?.text}`);
    return jid;
  }

  /** Sends one request (queued while `requests` are open); resolves with its own answer. */
  request(payload = '', attrs = ''): Promise<MemberAnswer | undefined> {
    return new Promise((resolve) => {
      this.queue.push({ payload, attrs, poll: false, resolve });
      this.pump();
    });
  }

  /** Fire and forget: the stanzas of interest are awaited with `waitFor`. */
  send(payload: string): void {
    void this.request(payload);
  }

  /** Keeps one request held at the CM from now on. */
  startPolling(): void {
    this.polling = true;
    this.pump();
  }

  /** Stops polling; `abort` also drops the open HTTP requests, as a reloading page does. */
  stopPolling(abort = false): void {
    this.polling = false;
    if (abort) for (const c of this.controllers) c.abort();
  }

  /** `type='terminate'` with this payload; resolves with the terminate request's own answer. */
  async terminate(payload = '', attrs = ''): Promise<MemberAnswer | undefined> {
    if (this.ended) return undefined;
    this.polling = false;
    // A terminate may exceed the window by one (XEP-0124 §13), so it is sent at once.
    this.rid += 1;
    const rid = this.rid;
    try {
      const a = await this.post(`<body rid='${rid}' sid='${this.sid}' type='terminate' ${attrs} ${XBOSH_NS} ${HTTPBIND_NS}>${payload}</body>`, rid);
      this.record(a, false);
      return a;
    } catch (err) {
      this.errors.push(err);
      return undefined;
    }
  }

  /** Resolves with the first received element (from index `since` on) that matches. */
  waitFor(pred: (g: Got) => boolean, opts: { timeoutMs?: number; since?: number; label?: string } = {}): Promise<Got> {
    for (let i = opts.since ?? 0; i < this.received.length; i++) if (pred(this.received[i]!)) return Promise.resolve(this.received[i]!);
    const timeoutMs = opts.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (g: Got) => { clearTimeout(timer); resolve(g); } };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        const seen = this.received.slice(-6).map((g) => g.xml.slice(0, 200)).join('\n  ');
        reject(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${opts.label ?? 'an element'}; last received:\n  ${seen}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  /** Resolves with the terminal answer once the member has ended. */
  waitEnded(timeoutMs = 5000): Promise<MemberAnswer> {
    if (this.terminal) return Promise.resolve(this.terminal);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: not ended after ${timeoutMs} ms`)), timeoutMs);
      this.endWaiters.push((a) => { clearTimeout(timer); resolve(a); });
    });
  }

  mark(): number {
    return this.received.length;
  }

  count(pred: (g: Got) => boolean, since = 0): number {
    return this.received.slice(since).filter(pred).length;
  }

  // ---- internals ---------------------------------------------------------------------

  private pump(): void {
    while (!this.ended && this.queue.length > 0 && this.open < this.requests) this.dispatch(this.queue.shift()!);
    if (!this.ended && this.polling && this.open === 0 && this.queue.length === 0) {
      this.dispatch({ payload: '', attrs: '', poll: true, resolve: () => undefined });
    }
    if (this.ended) for (const o of this.queue.splice(0)) o.resolve(undefined);
  }

  private dispatch(o: Outgoing): void {
    this.rid += 1;
    const rid = this.rid;
    this.open += 1;
    const controller = new AbortController();
    this.controllers.add(controller);
    const xml = `<body rid='${rid}' sid='${this.sid}' ${o.attrs} ${XBOSH_NS} ${HTTPBIND_NS}>${o.payload}</body>`;
    this.post(xml, rid, {}, controller.signal).then(
      (a) => {
        this.controllers.delete(controller);
        this.open -= 1;
        this.record(a, false);
        o.resolve(a);
        this.pump();
      },
      (err: unknown) => {
        this.controllers.delete(controller);
        this.open -= 1;
        if (!controller.signal.aborted) this.errors.push(err);
        o.resolve(undefined);
        if (!controller.signal.aborted) this.pump();
      },
    );
  }

  private async post(body: string, rid: number, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<MemberAnswer> {
    const res = await fetch(this.url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/xml; charset=utf-8', ...headers },
      signal: signal ?? AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    const parsed = text ? parseBody(text) : { attrs: {}, prefixes: {}, children: [] };
    return { rid, status: res.status, text, attrs: { ...parsed.attrs }, children: parsed.children };
  }

  private record(a: MemberAnswer, inCreation: boolean): void {
    this.answers.push(a);
    const terminal = a.attrs.type === 'terminate';
    const seqAttr = a.attrs['shared:seq'];
    const seq = seqAttr === undefined ? undefined : Number(seqAttr);
    if (seq !== undefined && seq > this.lastSeq) this.lastSeq = seq;
    for (const el of a.children) {
      const g: Got = { el, xml: el.toString(), rid: a.rid, seq, inCreation, inTerminal: terminal };
      this.received.push(g);
      for (const w of [...this.waiters]) {
        if (w.pred(g)) {
          this.waiters.delete(w);
          w.resolve(g);
        }
      }
    }
    if (terminal && !this.terminal) {
      this.terminal = a;
      this.polling = false;
      for (const cb of this.endWaiters.splice(0)) cb(a);
    }
  }
}
