import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { Element } from '../xml/element.js';
import { BoshTransport, type BoshTransportOptions, type FetchLike, type TransportState } from './bosh-transport.js';
import { Emitter } from './emitter.js';
import { BoshError, TimeoutError } from './errors.js';
import { AutoKeyStore, PepKeyStore, PrivateXmlKeyStore, type BrowserKeyShare, type IqSender, type ServerKeyStore } from './key-exchange.js';
import { login, stanzaError, type Mechanism } from './login.js';
import { NS } from './namespaces.js';
import { generateKey, isValidSharedKey } from './shared-key.js';
import { MemoryStore, type KeyValueStore } from './storage.js';
import { defaultXmlCodec } from './default-codec.js';
import type { XmlCodec } from './xml-codec.js';
import { sharedAttr, xml } from './xml.js';

/** How this client joined its link (D9): created it, attached to it, or no sharing at all. */
export type SharedResult = 'created' | 'attached' | 'unshared';

/** `live`: from the server; `echo`: what another member sent (D11); `replay`: history (D14, D14b). */
export type StanzaKind = 'live' | 'echo' | 'replay';

export interface StanzaEvent {
  element: Element;
  kind: StanzaKind;
  /** `shared:echo='true'`: another member (or this tab before a reload) sent it. */
  echo: boolean;
  /** `shared:replay='true'`: snapshot or replay after an attach. */
  replay: boolean;
}

export type ClientStatus = 'disconnected' | 'connecting' | 'authenticating' | 'connected' | 'disconnecting';

export interface SharedClientEvents {
  stanza: StanzaEvent;
  status: ClientStatus;
  /** The session ended; `error` is unset after a clean disconnect(). */
  disconnected: { error?: Error };
  /** D14b: events after `since` were lost (`shared:gap='true'`, or `since` came from an older link). */
  gap: { since: number };
  /** The key of this client's link changed (created, attached, switched). */
  key: string;
}

/** Key exchange through the user's server (ProtoXEP §3, §6.2). */
export type KeyExchange = 'none' | 'auto' | 'pep' | 'private' | ServerKeyStore;

export interface ConnectOptions {
  /** The CM's BOSH URL. */
  url: string;
  /** The XMPP domain (`to` of the creation request). */
  domain: string;
  /** The account: needed to log in (creator), and names what is saved for resuming. */
  jid?: string;
  password?: string;
  resource?: string;
  /** Attach with (or create with) this key; else one from `keyShare`, else a fresh one. */
  key?: string;
  /** `shared:since` for the attach: the last `shared:seq` processed (D14b). */
  since?: number;
  /** D23: resume the session saved in `storage` (same sid, next rid), else attach with its key. @default true */
  resume?: boolean;
  /** false: an ordinary unshared session (no `shared:key`). @default true */
  share?: boolean;
  /** Find and publish the key on the server (ProtoXEP flow). @default 'none' */
  keyExchange?: KeyExchange;
  /** Same-origin tabs: where the key is shared (docs/design.md D23). */
  keyShare?: BrowserKeyShare;
  route?: string;
  /** @default 60 */
  wait?: number;
  /** @default 1 */
  hold?: number;
  'xml:lang'?: string;
  /** SASL mechanisms allowed, best first. */
  mechanisms?: readonly Mechanism[];
}

export interface SharedClientOptions {
  fetch?: FetchLike;
  clock?: Clock;
  codec?: XmlCodec;
  /** Where the session is saved for resuming after a reload (`webStorage(sessionStorage)`). @default MemoryStore */
  storage?: KeyValueStore;
  /** Transport tuning (retries, backoff, acks, timeouts, headers). */
  transport?: Omit<BoshTransportOptions, 'url' | 'codec' | 'fetch' | 'clock'>;
  /** Default timeout of iq(). @default 30000 */
  iqTimeoutMs?: number;
  /** Timeout of each login step. @default 30000 */
  loginTimeoutMs?: number;
  /** D6: retries of an attach refused with `not-ready`, and their backoff. */
  notReady?: { attempts?: number; baseMs?: number; maxMs?: number };
  /** D23: how long a resumed request may stay unanswered before the resume counts as good. @default 2000 */
  resumeProbeMs?: number;
  /** Random key source (tests). */
  generateKey?: () => string;
  log?: (message: string) => void;
}

/** What connect() resolves with. */
export interface ConnectResult {
  result: SharedResult;
  jid: string;
  sid: string;
  /** The session is the one saved by an earlier page (D23). */
  resumed: boolean;
  /** The attach response said events after `since` are gone (or `since` was from another link). */
  gap: boolean;
}

/** connect() could not finish for a reason that is not a BOSH, SASL or stanza error. */
export class ConnectError extends Error {
  override name = 'ConnectError';
  constructor(
    readonly code: 'credentials-required' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

interface SavedSession {
  v: 1;
  url: string;
  domain: string;
  jid: string;
  result: SharedResult;
  key?: string;
  seq?: number;
  authid?: string;
  transport?: TransportState;
}

interface PendingIq {
  resolve: (el: Element) => void;
  reject: (err: Error) => void;
  timer: TimerHandle;
}

/** Elements handed to login() while the stream is negotiated. */
class Inbox {
  private readonly items: Element[] = [];
  private waiter: { resolve: (el: Element) => void; reject: (e: Error) => void; timer: TimerHandle } | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  push(el: Element): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.timer.cancel();
      w.resolve(el);
    } else this.items.push(el);
  }

  fail(err: Error): void {
    this.failure ??= err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.timer.cancel();
      w.reject(err);
    }
  }

  next(): Promise<Element> {
    const item = this.items.shift();
    if (item) return Promise.resolve(item);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.waiter = undefined;
        reject(new TimeoutError(`no answer from the server in ${this.timeoutMs} ms while logging in`));
      }, this.timeoutMs);
      this.waiter = { resolve, reject, timer };
    });
  }
}

const SAVED_PREFIX = 'shared-bosh:session:';

function bare(jid: string): string {
  const slash = jid.indexOf('/');
  return (slash === -1 ? jid : jid.slice(0, slash)).toLowerCase();
}

/**
 * A Shared BOSH client (docs/shared-bosh.md): creates a sharable session or attaches to one,
 * logs in when it is the creator, tells live stanzas from echoes and replays, resumes after a
 * page reload (D23) and exchanges the key (ProtoXEP §3).
 *
 * Listeners must be in place before connect(): an attach delivers the presence snapshot and
 * replay (as `stanza` events with kind `replay`) before connect() resolves.
 */
export class SharedClient extends Emitter<SharedClientEvents> {
  private readonly clock: Clock;
  private readonly storage: KeyValueStore;
  private codec: XmlCodec | undefined;
  private transport: BoshTransport | undefined;
  private inbox: Inbox | undefined;
  private readonly pendingIqs = new Map<string, PendingIq>();
  private iqCounter = 0;
  private currentStatus: ClientStatus = 'disconnected';
  private options: ConnectOptions | undefined;
  private savedName = '';
  private resumeTentative = false;
  private disconnectRequested = false;
  private detaching = false;

  /** How this client joined its link. */
  result: SharedResult | undefined;
  /** The full JID of the stream (bound, or `shared:jid` of the attach). */
  jid = '';
  /** The key of the link (undefined when unshared). */
  key: string | undefined;
  /** The last `shared:seq` processed (D14b). */
  seq = 0;
  /** The upstream stream id (`authid`). */
  authid: string | undefined;
  /** This session was resumed from storage (D23). */
  resumed = false;

  constructor(private readonly opts: SharedClientOptions = {}) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.storage = opts.storage ?? new MemoryStore();
  }

  get status(): ClientStatus {
    return this.currentStatus;
  }

  /** This member's own sid (D1). */
  get sid(): string | undefined {
    return this.transport?.sid;
  }

  private setStatus(status: ClientStatus): void {
    if (status === this.currentStatus) return;
    this.opts.log?.(`client: ${this.currentStatus} -> ${status}`);
    this.currentStatus = status;
    this.emit('status', status);
  }

  // --- connecting ---

  /**
   * D23 first (resume the saved session, else attach with its key and `shared:since`), then
   * attach with `key` / the key of `keyShare`, else create a link with a fresh key and log in.
   */
  async connect(options: ConnectOptions): Promise<ConnectResult> {
    if (this.currentStatus !== 'disconnected') throw new Error(`connect() while ${this.currentStatus}`);
    this.options = options;
    this.disconnectRequested = false;
    this.detaching = false;
    this.resumed = false;
    this.setStatus('connecting');
    try {
      this.codec = this.opts.codec ?? (await defaultXmlCodec());
      this.savedName = SAVED_PREFIX + (options.jid ? bare(options.jid) : options.domain.toLowerCase()) + '@' + options.url;
      const saved = options.resume === false ? undefined : this.loadSaved(options);
      if (saved?.transport) {
        if (await this.tryResume(saved)) {
          this.publishKey(); // a resumed tab answers the others' key requests again
          return this.connected(false);
        }
      }
      if (options.share === false) {
        await this.createAndLogin(undefined);
        return this.connected(false);
      }
      const key = options.key ?? saved?.key ?? options.keyShare?.get() ?? undefined;
      const since = options.since ?? (saved?.key !== undefined && saved.key === key ? saved.seq : undefined);
      const gap = await this.join(key, since, saved?.key === key ? saved?.authid : undefined);
      return this.connected(gap);
    } catch (err) {
      this.teardown();
      this.setStatus('disconnected');
      throw err;
    }
  }

  private connected(gap: boolean): ConnectResult {
    this.setStatus('connected');
    this.persist();
    return { result: this.result!, jid: this.jid, sid: this.sid!, resumed: this.resumed, gap };
  }

  /** Attaches with `key` (retrying `not-ready`), or creates; then the ProtoXEP key exchange. */
  private async join(key: string | undefined, since: number | undefined, savedAuthid: string | undefined, switched = false): Promise<boolean> {
    const options = this.options!;
    let gap = false;
    if (key !== undefined && isValidSharedKey(key)) {
      const attached = await this.attach(key, since, savedAuthid);
      if (attached === 'refused') {
        options.keyShare?.clear(key);
        await this.createAndLogin(this.freshKey());
      } else if (attached.result === 'created') {
        // The link of that key is gone: this client now created one with it (docs §10 item 9).
        await this.loginAsCreator(attached.body);
      } else gap = attached.gap;
    } else {
      await this.createAndLogin(this.freshKey());
    }
    if (this.result === 'created' && !switched) {
      const other = await this.exchangeKey();
      if (other !== undefined) {
        // ProtoXEP §3 step 5: leave our own link and attach to the one whose key is published.
        this.opts.log?.('client: a key is published by another client; switching to its link');
        await this.transport!.terminate();
        this.teardownTransport();
        return this.join(other, undefined, undefined, true);
      }
    }
    this.publishKey();
    return gap;
  }

  /** Same-origin tabs find the key in browser storage; listeners learn it from 'key'. */
  private publishKey(): void {
    if (this.key === undefined) return;
    if (this.result !== 'unshared') this.options?.keyShare?.set(this.key);
    this.emit('key', this.key);
  }

  private freshKey(): string {
    return (this.opts.generateKey ?? generateKey)();
  }

  private newTransport(): BoshTransport {
    this.teardownTransport();
    const t = new BoshTransport({
      ...this.opts.transport,
      url: this.options!.url,
      codec: this.codec!,
      ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
      clock: this.clock,
      ...(this.opts.log ? { log: this.opts.log } : {}),
    });
    t.on('body', (body) => this.onBody(t, body));
    t.on('closed', ({ error }) => this.onTransportClosed(t, error));
    t.on('state', () => this.persist());
    this.transport = t;
    return t;
  }

  private creationAttrs(): Record<string, string | number | undefined> {
    const o = this.options!;
    return { to: o.domain, route: o.route, wait: o.wait, hold: o.hold, 'xml:lang': o['xml:lang'] };
  }

  /**
   * One attach attempt per try, with D6 backoff on `not-ready`. 'refused' means the key
   * cannot be used here (weak-key, key-in-use, origin-mismatch, not-ready for too long).
   */
  private async attach(
    key: string,
    since: number | undefined,
    savedAuthid: string | undefined,
  ): Promise<'refused' | { result: SharedResult; body: Element; gap: boolean }> {
    const retry = { attempts: 6, baseMs: 250, maxMs: 4000, ...this.opts.notReady };
    for (let attempt = 0; ; attempt++) {
      const t = this.newTransport();
      let body: Element;
      try {
        body = await t.create({
          ...this.creationAttrs(),
          to: this.options!.domain,
          'xmlns:shared': NS.SHARED,
          'shared:key': key,
          'shared:since': since !== undefined ? String(since) : undefined,
        });
      } catch (err) {
        if (!(err instanceof BoshError) || err.sharedError === undefined) throw err;
        if (err.sharedError === 'too-many-members') throw err;
        if (err.sharedError === 'not-ready' && attempt + 1 < retry.attempts) {
          const delay = Math.min(retry.maxMs, retry.baseMs * 2 ** attempt);
          this.opts.log?.(`client: link not ready; attaching again in ${delay} ms`);
          await this.sleep(delay);
          continue;
        }
        // weak-key, key-in-use, origin-mismatch, or never ready: a link of our own instead.
        if (!this.canLogin()) throw err;
        this.opts.log?.(`client: attach refused (${err.sharedError}); creating a link of our own`);
        return 'refused';
      }
      const result = (sharedAttr(body, 'result') as SharedResult | undefined) ?? 'unshared';
      this.key = result === 'unshared' ? undefined : key;
      this.result = result;
      this.authid = body.attrs.authid;
      if (result !== 'attached') return { result, body, gap: false };
      this.jid = sharedAttr(body, 'jid') ?? '';
      const seq = Number(sharedAttr(body, 'seq') ?? 0);
      // docs/shared-bosh.md §10 item 10: a since from another link is a gap too.
      let gap = sharedAttr(body, 'gap') === 'true';
      if (since !== undefined && (seq < since || (savedAuthid !== undefined && savedAuthid !== this.authid))) gap = true;
      if (gap && since !== undefined) this.emit('gap', { since });
      this.deliver(body);
      this.seq = seq; // the attach response covers the link up to here (docs §3.2)
      t.start();
      return { result, body, gap };
    }
  }

  private canLogin(): boolean {
    return this.options?.jid !== undefined && this.options.password !== undefined;
  }

  /** A link of our own: created with `key` (sharable) or without (unshared), then login. */
  private async createAndLogin(key: string | undefined): Promise<void> {
    if (!this.canLogin()) {
      throw new ConnectError('credentials-required', 'creating a session needs jid and password');
    }
    const t = this.newTransport();
    const body = await t.create({
      ...this.creationAttrs(),
      to: this.options!.domain,
      ...(key !== undefined ? { 'xmlns:shared': NS.SHARED, 'shared:key': key } : {}),
    });
    const result = key === undefined ? 'unshared' : ((sharedAttr(body, 'result') as SharedResult | undefined) ?? 'unshared');
    this.result = result;
    this.key = result === 'unshared' ? undefined : key;
    this.authid = body.attrs.authid;
    if (result === 'attached') {
      // A fresh key matched a live link: cannot happen with a CSPRNG key; treat as attached.
      this.jid = sharedAttr(body, 'jid') ?? '';
      this.deliver(body);
      t.start();
      return;
    }
    await this.loginAsCreator(body);
  }

  /** RFC 6120 login over the creation response's stream (the creator's job, docs §3.1). */
  private async loginAsCreator(creation: Element): Promise<void> {
    if (!this.canLogin()) {
      await this.transport?.terminate().catch(() => undefined);
      throw new ConnectError('credentials-required', 'the shared link is gone and no credentials were given to log in');
    }
    const t = this.transport!;
    const o = this.options!;
    this.setStatus('authenticating');
    this.seq = Number(sharedAttr(creation, 'seq') ?? 0);
    const inbox = new Inbox(this.clock, this.opts.loginTimeoutMs ?? 30_000);
    this.inbox = inbox;
    const features = creation.elements().find((e) => e.localName === 'features');
    for (const el of creation.elements()) if (el !== features) inbox.push(el);
    t.start();
    try {
      const { jid } = await login(
        { send: (el) => t.send(el), next: () => inbox.next(), restart: () => t.restart(o.domain, o['xml:lang']) },
        { jid: o.jid!, password: o.password!, ...(o.resource ? { resource: o.resource } : {}), ...(o.mechanisms ? { mechanisms: o.mechanisms } : {}) },
        features,
      );
      this.jid = jid;
    } finally {
      this.inbox = undefined;
    }
  }

  /** ProtoXEP §3: the key another client published, or undefined after publishing ours. */
  private async exchangeKey(): Promise<string | undefined> {
    const store = this.serverKeyStore();
    if (!store || this.key === undefined) return undefined;
    try {
      const published = await store.fetch();
      if (published !== null && published !== this.key) return published;
      if (published === null) await store.publish(this.key);
    } catch (err) {
      this.opts.log?.(`client: key exchange failed: ${(err as Error).message}`);
    }
    return undefined;
  }

  private serverKeyStore(): ServerKeyStore | undefined {
    const choice = this.options?.keyExchange ?? 'none';
    const iq: IqSender = (stanza) => this.iq(stanza);
    switch (choice) {
      case 'none':
        return undefined;
      case 'pep':
        return new PepKeyStore(iq);
      case 'private':
        return new PrivateXmlKeyStore(iq);
      case 'auto':
        return new AutoKeyStore(iq, bare(this.jid));
      default:
        return choice;
    }
  }

  // --- resume (D23) ---

  private loadSaved(options: ConnectOptions): SavedSession | undefined {
    const text = this.storage.get(this.savedName);
    if (!text) return undefined;
    try {
      const saved = JSON.parse(text) as SavedSession;
      if (saved.v !== 1 || saved.url !== options.url || saved.domain !== options.domain) return undefined;
      if (options.jid && bare(saved.jid) !== bare(options.jid)) return undefined;
      return saved;
    } catch {
      return undefined;
    }
  }

  /**
   * Resumes the saved member: its unanswered requests are resent byte for byte, or an empty
   * request with the next rid goes out. A dead sid is refused at once (item-not-found); a live
   * one is held, so silence for `resumeProbeMs` counts as success (a late refusal still falls
   * back to an attach, see onTransportClosed).
   */
  private async tryResume(saved: SavedSession): Promise<boolean> {
    const t = this.newTransport();
    this.result = saved.result;
    this.jid = saved.jid;
    this.key = saved.key;
    this.seq = saved.seq ?? 0;
    this.authid = saved.authid;
    t.resume(saved.transport!);
    const outcome = await new Promise<boolean>((resolve) => {
      const timer = this.clock.setTimeout(() => finish(true), this.opts.resumeProbeMs ?? 2000);
      const offBody = t.on('body', (body) => finish(body.attrs.type !== 'terminate'));
      const offClosed = t.on('closed', () => finish(false));
      const finish = (ok: boolean) => {
        timer.cancel();
        offBody();
        offClosed();
        resolve(ok);
      };
      this.resumeTentative = true;
      t.start();
    });
    if (!outcome) {
      this.resumeTentative = false;
      this.opts.log?.('client: saved session is gone; attaching with its key instead');
      this.teardownTransport();
      this.storage.remove(this.savedName);
      return false;
    }
    this.resumed = true;
    return true;
  }

  /** Saves what the next page needs (D23); without the transport only an attach is possible. */
  private persist(withTransport = true): void {
    if (!this.savedName || !this.options || this.result === undefined) return;
    const transport = withTransport ? this.transport?.snapshot() : undefined;
    if (withTransport && (!transport || this.currentStatus !== 'connected')) return;
    const saved: SavedSession = {
      v: 1,
      url: this.options.url,
      domain: this.options.domain,
      jid: this.jid,
      result: this.result!,
      ...(this.key !== undefined ? { key: this.key } : {}),
      seq: this.seq,
      ...(this.authid !== undefined ? { authid: this.authid } : {}),
      ...(transport ? { transport } : {}),
    };
    this.storage.set(this.savedName, JSON.stringify(saved));
  }

  // --- traffic ---

  private onBody(t: BoshTransport, body: Element): void {
    if (t !== this.transport) return;
    if (body.attrs.type !== 'terminate') this.resumeTentative = false;
    this.deliver(body);
    const seq = sharedAttr(body, 'seq');
    if (seq !== undefined && /^\d+$/.test(seq)) this.seq = Math.max(this.seq, Number(seq));
    this.persist();
  }

  /** Hands each payload of a body to login, pending IQs and `stanza` listeners. */
  private deliver(body: Element): void {
    for (const el of body.elements()) {
      if (this.inbox) {
        this.inbox.push(el);
        continue;
      }
      const echo = sharedAttr(el, 'echo') === 'true';
      const replay = sharedAttr(el, 'replay') === 'true';
      const kind: StanzaKind = replay ? 'replay' : echo ? 'echo' : 'live';
      if (kind === 'live' && el.localName === 'iq' && (el.attrs.type === 'result' || el.attrs.type === 'error')) {
        // D12: our own IQ's answer comes back with our id and no echo mark.
        const pending = el.attrs.id !== undefined ? this.pendingIqs.get(el.attrs.id) : undefined;
        if (pending) {
          this.pendingIqs.delete(el.attrs.id!);
          pending.timer.cancel();
          if (el.attrs.type === 'result') pending.resolve(el);
          else pending.reject(stanzaError(el));
        }
      }
      this.emit('stanza', { element: el, kind, echo, replay });
    }
  }

  /** Sends stanzas (message, presence, iq). */
  send(...stanzas: Element[]): void {
    if (!this.transport || (this.currentStatus !== 'connected' && this.currentStatus !== 'authenticating')) {
      throw new BoshError('client-closed', 'not connected');
    }
    this.transport.send(...stanzas.map(withClientNs));
  }

  /** Sends an IQ get/set and resolves with its result (rejects with StanzaError or TimeoutError). */
  iq(stanza: Element, options: { timeoutMs?: number } = {}): Promise<Element> {
    const el = withClientNs(stanza.clone());
    if (el.attrs.id === undefined || el.attrs.id === '') {
      el.attrs.id = `sbc${(++this.iqCounter).toString(36)}-${Math.floor(Math.random() * 2 ** 32).toString(36)}`;
    }
    const id = el.attrs.id;
    return new Promise<Element>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.opts.iqTimeoutMs ?? 30_000;
      const timer = this.clock.setTimeout(() => {
        this.pendingIqs.delete(id);
        reject(new TimeoutError(`no answer to iq ${id} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingIqs.set(id, { resolve, reject, timer });
      try {
        this.send(el);
      } catch (err) {
        this.pendingIqs.delete(id);
        timer.cancel();
        reject(err as Error);
      }
    });
  }

  // --- ending ---

  /**
   * Leaves the link (§13): a terminate with an unavailable presence, which the CM drops while
   * other members remain (D16). `closeAll` ends the link for every member (D18) and forgets the
   * key everywhere it was shared.
   */
  async disconnect(options: { closeAll?: boolean } = {}): Promise<void> {
    const t = this.transport;
    if (!t || this.currentStatus === 'disconnected') return;
    this.disconnectRequested = true;
    this.setStatus('disconnecting');
    this.storage.remove(this.savedName);
    if (options.closeAll && this.key !== undefined) {
      this.options?.keyShare?.clear(this.key);
      const store = this.serverKeyStore();
      if (store) await store.clear(this.key).catch(() => undefined);
    }
    const presence = xml('presence', { type: 'unavailable', xmlns: NS.CLIENT });
    const attrs: Record<string, string> = options.closeAll ? { 'xmlns:shared': NS.SHARED, 'shared:close': 'all' } : {};
    await t.terminate([presence], attrs);
  }

  /**
   * Stops locally without telling the CM (for `pagehide`): the saved state stays, so the next
   * page resumes this member (D23).
   */
  detach(): void {
    this.persist();
    this.detaching = true;
    this.transport?.close();
  }

  private onTransportClosed(t: BoshTransport, error: BoshError | undefined): void {
    if (t !== this.transport) return;
    this.inbox?.fail(error ?? new BoshError('client-closed', 'session closed'));
    if (this.currentStatus === 'connecting' || this.currentStatus === 'authenticating') return; // connect() reports it
    if (this.detaching) {
      this.finishClosed(undefined); // the saved state stays for the next page
      return;
    }
    if (this.resumeTentative && error?.condition === 'item-not-found' && !this.disconnectRequested) {
      // D23: the resumed member was gone after all; attach with the key instead.
      this.resumeTentative = false;
      void this.recoverByAttach();
      return;
    }
    if (this.disconnectRequested || error?.condition === 'other-request') {
      // Left on purpose, or the link was closed for everyone (D18): nothing to come back to.
      if (error?.condition === 'other-request' && this.key !== undefined) this.options?.keyShare?.clear(this.key);
      this.storage.remove(this.savedName);
    } else if (error?.condition !== 'connection-failed') {
      // This member is gone but the link may live on: keep the key and seq for an attach.
      this.persist(false);
    }
    this.finishClosed(error);
  }

  private async recoverByAttach(): Promise<void> {
    const key = this.key;
    const since = this.seq;
    this.storage.remove(this.savedName);
    this.teardownTransport();
    this.resumed = false;
    if (key === undefined) {
      this.finishClosed(new BoshError('item-not-found', 'the saved session is gone'));
      return;
    }
    this.setStatus('connecting');
    try {
      const gap = await this.join(key, since, this.authid);
      this.connected(gap);
    } catch (err) {
      this.finishClosed(err as Error);
    }
  }

  private finishClosed(error: Error | undefined): void {
    for (const [id, p] of this.pendingIqs) {
      p.timer.cancel();
      p.reject(error ?? new BoshError('client-closed', 'disconnected'));
      this.pendingIqs.delete(id);
    }
    this.setStatus('disconnected');
    this.emit('disconnected', error ? { error } : {});
  }

  private teardownTransport(): void {
    const t = this.transport;
    this.transport = undefined;
    if (t && t.status !== 'closed') t.close();
  }

  private teardown(): void {
    this.inbox = undefined;
    this.teardownTransport();
    for (const p of this.pendingIqs.values()) p.timer.cancel();
    this.pendingIqs.clear();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }
}

function withClientNs(stanza: Element): Element {
  if (stanza.attrs.xmlns !== undefined || stanza.prefix !== '') return stanza;
  const copy = stanza.clone();
  copy.attrs = { xmlns: NS.CLIENT, ...copy.attrs };
  return copy;
}

export { bare as bareJid };
