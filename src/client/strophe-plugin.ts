/**
 * Shared BOSH for Strophe.js 5 (ProtoXEP `urn:xmpp:tmp:shared-bosh:0`, docs/shared-bosh.md):
 * an unchanged Strophe application creates or attaches to a shared session.
 *
 * How it hooks into Strophe (strophe.js 5, src/transports/bosh.ts and src/connection.ts):
 * - `Bosh._connect()` builds the creation body with `this._buildBody().attrs({to, wait, ...})`.
 *   We wrap `_connect` to raise a flag and `_buildBody` to add `xmlns:shared`, `shared:key` (and
 *   `shared:since`) to the body built while the flag is up, i.e. the creation body only. The
 *   same `_buildBody` wrapper adds `shared:close='all'` inside a wrapped `_sendTerminate`.
 * - `Bosh._reqToData(req)` turns every response into its `<body/>`; the wrapper reads
 *   `shared:result`, `shared:jid`, `shared:seq`, `shared:gap` and `shared:error` there.
 * - `Connection._connect_cb` handles the creation response. `Bosh._connect` reads it from the
 *   connection when it sends, so an own property on the connection replaces it: for
 *   `shared:result='attached'` the wrapper takes the BOSH settings (`Bosh._connect_cb`), sets
 *   `jid` to `shared:jid`, marks the connection authenticated and reports `Status.CONNECTED`.
 *   SASL, restart and bind are skipped: the stream is already negotiated (D7).
 * - `Connection._dataRecv(req)` hands a response's stanzas to the handlers. After an attach the
 *   wrapper holds the snapshot and replay stanzas of the attach response (D14, D14b), and every
 *   stanza after them except IQ results and errors, until the application's handlers exist:
 *   right after the CONNECTED callback when the callback added handlers (`addHandlers` grew);
 *   otherwise when the application sends its initial presence (it registers its handlers before
 *   that, as contacts' presence answers it), or `snapshotHoldMs` after CONNECTED, whichever comes
 *   first. Delivering them during the CONNECTED callback loses them for applications that register
 *   their handlers later (Converse.js does so after reading its caches). Held bodies go through
 *   `_dataRecv` in order, so nothing overtakes the snapshot.
 * - `Connection._queueData(el)` takes every outbound stanza (send, sendIQ, sendPresence); the
 *   wrapper sees the initial presence there.
 * - `Connection.iqFallbackHandler` answers unhandled IQ get/set with service-unavailable. It is
 *   kept away from echoes and replays: another tab's request is not ours to answer.
 *
 * Handlers get every stanza; `isEcho(el)`, `isReplay(el)` and `stanzaKind(el)` tell a copy of
 * another tab's stanza (D11) and history (D14, D14b) from live traffic, or pass `filter`.
 */
import type { Element } from '../xml/element.js';
import { AutoKeyStore, PepKeyStore, PrivateXmlKeyStore, type BrowserKeyShare, type IqSender, type ServerKeyStore } from './key-exchange.js';
import { NS } from './namespaces.js';
import { generateKey, isValidSharedKey } from './shared-key.js';
import type { KeyValueStore } from './storage.js';
import { domToElement, type DomNodeLike } from './xml-codec.js';
import type { SharedError } from './errors.js';
import type { KeyExchange, SharedResult, StanzaKind } from './shared-client.js';

// --- the parts of Strophe.js this plugin touches (structural, so no import of strophe.js) ---

/** A DOM element as Strophe hands them out. */
export interface DomElementLike {
  nodeType: number;
  nodeName: string;
  getAttribute(name: string): string | null;
  getAttributeNS?(ns: string | null, localName: string): string | null;
  childNodes: ArrayLike<DomElementLike>;
  removeChild(child: DomElementLike): unknown;
  appendChild(child: DomElementLike): unknown;
  cloneNode(deep: boolean): DomElementLike;
  attributes?: ArrayLike<{ name: string; value: string }>;
  nodeValue: string | null;
}

interface BuilderLike {
  attrs(attrs: Record<string, string | number | null>): BuilderLike;
}

interface StropheBosh {
  sid: string | null;
  _buildBody(): BuilderLike;
  _connect(wait?: number, hold?: number, route?: string): void;
  _sendTerminate(pres: unknown): void;
  _reqToData(req: unknown): DomElementLike | null | undefined;
  _connect_cb(body: DomElementLike): number | undefined;
}

export interface StropheConnectionLike {
  _proto: unknown;
  jid: string;
  authenticated: boolean;
  connected: boolean;
  do_bind: boolean;
  _connect_cb(req: unknown, callback?: unknown, raw?: string): void;
  _dataRecv(req: unknown, raw?: string): void;
  _queueData(el: DomElementLike): void;
  /** Handlers added since the last response (Strophe moves them into its list in `_dataRecv`). */
  addHandlers: unknown[];
  disconnecting: boolean;
  _changeConnectStatus(status: number, condition?: string | null, elem?: unknown): void;
  iqFallbackHandler: { isMatch(el: DomElementLike): boolean };
  connect(jid: string, pass: string, callback?: StropheConnectCallback, wait?: number, hold?: number, route?: string): void;
  disconnect(reason?: string): void;
  sendIQ(el: unknown, callback?: (el: DomElementLike) => void, errback?: (el: DomElementLike | null) => void, timeout?: number): string;
  [plugin: string]: unknown;
}

export type StropheConnectCallback = (status: number, condition?: string | null, elem?: unknown) => void;

/** `Strophe` itself (only `Status` and `addConnectionPlugin` are used). */
export interface StropheLike {
  Status: { CONNFAIL: number; CONNECTED: number; DISCONNECTED: number; DISCONNECTING: number; CONNECTING: number; AUTHENTICATING: number };
  addConnectionPlugin(name: string, plugin: object): void;
}

// --- helpers for handlers ---

function attrNS(el: DomElementLike, localName: string): string | null {
  const viaNs = el.getAttributeNS?.(NS.SHARED, localName);
  if (viaNs) return viaNs;
  return el.getAttribute('shared:' + localName);
}

/** `shared:echo='true'`: a copy of what another member sent (D11), not something sent to you. */
export function isEcho(el: DomElementLike): boolean {
  return attrNS(el, 'echo') === 'true';
}

/** `shared:replay='true'`: the presence snapshot or a replayed event after an attach (D14, D14b). */
export function isReplay(el: DomElementLike): boolean {
  return attrNS(el, 'replay') === 'true';
}

export function stanzaKind(el: DomElementLike): StanzaKind {
  return isReplay(el) ? 'replay' : isEcho(el) ? 'echo' : 'live';
}

function isIqResponse(el: DomElementLike): boolean {
  const type = el.getAttribute('type');
  return el.nodeName === 'iq' && (type === 'result' || type === 'error');
}

/** An available presence without `to` (RFC 6121 §4.2: the initial presence, or a later broadcast). */
function isInitialPresence(el: DomElementLike): boolean {
  return el.nodeName === 'presence' && el.getAttribute('to') === null && el.getAttribute('type') === null;
}

/**
 * Moves the stanzas of `body` into a copy of it appended to `held`, except IQ results and errors
 * (the application may be waiting on them; nothing it waits for is held).
 */
function holdBack(body: DomElementLike, held: DomElementLike[]): void {
  const later = Array.from(body.childNodes).filter((c) => c.nodeType === 1 && !isIqResponse(c));
  if (later.length === 0) return;
  const copy = body.cloneNode(false);
  for (const child of later) copy.appendChild(child); // moves it out of `body`
  held.push(copy);
}

/** A response body the plugin hands to Strophe's `_dataRecv` itself (its `_reqToData` unwraps it). */
class HeldBody {
  constructor(readonly body: DomElementLike) {}
}

// --- options and state ---

export interface SharedBoshPluginOptions {
  /** Same-origin key sharing (localStorage + storage event / BroadcastChannel). */
  keyShare?: BrowserKeyShare;
  /** Keeps `{ key, seq }` across page loads (`webStorage(sessionStorage)`), for `shared:since`. */
  storage?: KeyValueStore;
  /** Return false to keep a stanza from the handlers (e.g. `(kind) => kind !== 'echo'`). */
  filter?: (kind: StanzaKind, el: DomElementLike) => boolean;
  /** D6 backoff for `not-ready`. */
  notReady?: { attempts?: number; baseMs?: number; maxMs?: number };
  /**
   * Give every session a key even when the application calls `connection.connect()` itself:
   * the same-origin key if there is one (attach), else a fresh one (create). @default false
   */
  autoKey?: boolean;
  /** Server key exchange after a creator's login (ProtoXEP §3). @default 'none' */
  keyExchange?: Exclude<KeyExchange, ServerKeyStore> | ServerKeyStore;
  /**
   * After an attach whose CONNECTED callback added no handler, the snapshot and replay (and what
   * follows them) wait for the application's initial presence, at most this long after
   * CONNECTED; 0: they follow right after the callback. @default 3000
   */
  snapshotHoldMs?: number;
  generateKey?: () => string;
  setTimeout?: (callback: () => void, ms: number) => unknown;
  DOMParser?: new () => { parseFromString(text: string, type: 'text/xml'): { documentElement: unknown } };
}

export interface SharedConnectOptions {
  /** Attach (or create) with this key; else the saved one, the same-origin one, or a fresh one. */
  key?: string;
  since?: number;
  wait?: number;
  hold?: number;
  route?: string;
  keyExchange?: SharedBoshPluginOptions['keyExchange'];
}

interface Saved {
  key: string;
  seq: number;
}

/**
 * The per-connection controller, reachable as `connection.sharedBosh`.
 */
export class SharedBosh {
  /** The key of the current (or next) session; undefined: sessions are created unshared. */
  key: string | undefined;
  /** `shared:since` for the next creation request. */
  since: number | undefined;
  /** From the creation response: 'created', 'attached', or 'unshared' (no `shared:result`, D9). */
  result: SharedResult | undefined;
  /** `shared:jid` of an attach. */
  jid: string | undefined;
  /** The last `shared:seq` seen (D14b). */
  seq = 0;
  /** `shared:gap='true'` on the attach response. */
  gap = false;
  /** `shared:error` of the last refusal (D2, D5, D6, D8). */
  sharedError: SharedError | undefined;

  private creating = false;
  private closeAllRequested = false;
  private closingAll = false;
  private sentKey = false;
  private storageName: string | undefined;
  /** Inbound bodies held after an attach (see `_dataRecv` above); undefined: not holding. */
  private held: DomElementLike[] | undefined;
  private holdGeneration = 0;

  /** This connection's options (a copy of the plugin's; change them with configure()). */
  readonly options: SharedBoshPluginOptions;

  constructor(
    readonly connection: StropheConnectionLike,
    readonly Strophe: StropheLike,
    options: SharedBoshPluginOptions = {},
  ) {
    this.options = { ...options };
    this.install();
  }

  /** Changes this connection's options (e.g. a `keyShare` scoped to the account). */
  configure(options: Partial<SharedBoshPluginOptions>): this {
    Object.assign(this.options, options);
    return this;
  }

  // --- hooks ---

  private install(): void {
    const conn = this.connection;
    const proto = conn._proto as Partial<StropheBosh>;
    if (typeof proto._buildBody !== 'function' || typeof proto._connect !== 'function' || typeof proto._reqToData !== 'function') {
      return; // WebSocket or another transport: Shared BOSH is a BOSH extension
    }
    const bosh = proto as StropheBosh;

    const buildBody = bosh._buildBody.bind(bosh);
    bosh._buildBody = () => {
      const body = buildBody();
      if (this.creating && bosh.sid === null && this.key !== undefined) {
        body.attrs({
          'xmlns:shared': NS.SHARED,
          'shared:key': this.key,
          'shared:since': this.since !== undefined ? String(this.since) : null,
        });
        this.sentKey = true;
      }
      if (this.closingAll) body.attrs({ 'xmlns:shared': NS.SHARED, 'shared:close': 'all' });
      return body;
    };

    const connect = bosh._connect.bind(bosh);
    bosh._connect = (wait, hold, route) => {
      this.result = undefined;
      this.jid = undefined;
      this.gap = false;
      this.sharedError = undefined;
      this.sentKey = false;
      this.seq = 0;
      this.stopHolding();
      if (this.key === undefined && this.options.autoKey) {
        // An application that calls connection.connect() itself still shares (docs/client.md).
        this.key = this.options.keyShare?.get() ?? this.freshKey();
      }
      this.creating = true;
      try {
        connect(wait, hold, route);
      } finally {
        this.creating = false;
      }
    };

    const sendTerminate = bosh._sendTerminate.bind(bosh);
    bosh._sendTerminate = (pres) => {
      this.closingAll = this.closeAllRequested;
      try {
        sendTerminate(pres);
      } finally {
        this.closingAll = false;
        this.closeAllRequested = false;
      }
    };

    const reqToData = bosh._reqToData.bind(bosh);
    bosh._reqToData = (req) => {
      if (req instanceof HeldBody) return req.body;
      const body = reqToData(req);
      if (body) this.inspect(body);
      return body;
    };

    const connectCb = conn._connect_cb.bind(conn);
    conn._connect_cb = (req, callback, raw) => {
      let body: DomElementLike | null | undefined;
      try {
        body = bosh._reqToData(req);
      } catch {
        body = undefined; // the original reports the parse error
      }
      if (body && body.getAttribute('type') !== 'terminate' && this.result === 'attached') {
        this.completeAttach(bosh, body);
        return;
      }
      connectCb(req, callback, raw);
    };

    const dataRecv = conn._dataRecv.bind(conn);
    this.deliver = (body) => dataRecv(new HeldBody(body));
    conn._dataRecv = (req, raw) => {
      if (this.held === undefined || req instanceof HeldBody) return dataRecv(req, raw);
      const body = bosh._reqToData(req);
      if (!body) return dataRecv(req, raw);
      if (body.getAttribute('type') === 'terminate' || conn.disconnecting) {
        this.release();
        return dataRecv(new HeldBody(body));
      }
      holdBack(body, this.held);
      dataRecv(new HeldBody(body)); // what is left: IQ results and errors, or an empty body
    };

    const queueData = conn._queueData.bind(conn);
    conn._queueData = (el) => {
      queueData(el);
      if (this.held !== undefined && isInitialPresence(el)) this.releaseLater(0);
    };

    // Never answer another tab's IQ request (or a replayed one) with service-unavailable.
    const fallback = conn.iqFallbackHandler;
    const isMatch = fallback.isMatch.bind(fallback);
    fallback.isMatch = (el) => stanzaKind(el) === 'live' && isMatch(el);
  }

  /** Reads the Shared BOSH attributes of a response body and applies `filter`. */
  private inspect(body: DomElementLike): void {
    const result = attrNS(body, 'result');
    if (result === 'created' || result === 'attached') this.result = result;
    else if (this.sentKey && this.result === undefined && body.getAttribute('sid')) this.result = 'unshared';
    const jid = attrNS(body, 'jid');
    if (jid) this.jid = jid;
    if (attrNS(body, 'gap') === 'true') this.gap = true;
    const error = attrNS(body, 'error');
    if (error) this.sharedError = error as SharedError;
    const seq = attrNS(body, 'seq');
    if (seq !== null && /^\d+$/.test(seq)) {
      const n = Number(seq);
      // docs/shared-bosh.md §10 item 10: a `since` beyond the link's newest event is from another link.
      if (result === 'attached' && this.since !== undefined && n < this.since) this.gap = true;
      this.seq = Math.max(this.seq, n);
      this.save();
    }
    const filter = this.options.filter;
    if (filter) {
      for (const child of Array.from(body.childNodes)) {
        if (child.nodeType === 1 && !filter(stanzaKind(child), child)) body.removeChild(child);
      }
    }
  }

  /** D7: an attach response is a connected, bound stream; skip SASL, restart and bind. */
  private completeAttach(bosh: StropheBosh, body: DomElementLike): void {
    const conn = this.connection;
    conn.connected = true;
    bosh._connect_cb(body); // sid, wait, hold, requests, inactivity
    conn.jid = this.jid ?? conn.jid;
    conn.authenticated = true;
    conn.do_bind = false;
    this.held = [];
    holdBack(body, this.held);
    const handlersBefore = conn.addHandlers.length;
    conn._changeConnectStatus(this.Strophe.Status.CONNECTED, null);
    // Handlers added in the callback: the application is ready once it returns.
    const ready = conn.addHandlers.length > handlersBefore;
    this.releaseLater(ready ? 0 : (this.options.snapshotHoldMs ?? 3000));
  }

  /** Set by install(): hands a body to Strophe's own `_dataRecv`. */
  private deliver: (body: DomElementLike) => void = () => undefined;

  private releaseLater(ms: number): void {
    const generation = this.holdGeneration;
    const setTimer = this.options.setTimeout ?? ((cb: () => void, delay: number) => setTimeout(cb, delay));
    setTimer(() => {
      if (generation === this.holdGeneration) this.release();
    }, ms);
  }

  /** Hands the held bodies to the handlers, in order; later bodies go straight through again. */
  private release(): void {
    const held = this.stopHolding();
    for (const body of held) this.deliver(body);
  }

  private stopHolding(): DomElementLike[] {
    const held = this.held ?? [];
    this.held = undefined;
    this.holdGeneration++;
    return held;
  }

  /** Strophe calls this on every status change of the connection. */
  statusChanged(status: number): void {
    if (status === this.Strophe.Status.CONNECTED && this.key !== undefined && this.result !== 'unshared') {
      this.options.keyShare?.set(this.key);
      this.save();
    }
  }

  // --- API ---

  /**
   * Connects with Shared BOSH: attaches when the key belongs to a live link (no SASL), else
   * creates one with it and logs in. Retries `not-ready` with backoff (D6); a refused key
   * (weak-key, key-in-use, origin-mismatch) is replaced by a fresh one. The callback sees the
   * usual Strophe statuses, without the retries.
   */
  connect(jid: string, password: string, callback?: StropheConnectCallback, options: SharedConnectOptions = {}): void {
    const S = this.Strophe.Status;
    const saved = this.load(jid);
    this.key = options.key ?? saved?.key ?? this.options.keyShare?.get() ?? this.freshKey();
    this.since = options.since ?? (saved && saved.key === this.key ? saved.seq : undefined);
    this.storageName = 'shared-bosh:strophe:' + jid.split('/')[0]!.toLowerCase();
    const retry = { attempts: 6, baseMs: 250, maxMs: 4000, ...this.options.notReady };
    const setTimer = this.options.setTimeout ?? ((cb: () => void, ms: number) => setTimeout(cb, ms));
    const exchange = options.keyExchange ?? this.options.keyExchange ?? 'none';
    let attempt = 0;
    let hidden = false; // statuses of an abandoned try are not the application's business
    let switched = false;
    let nextTry: (() => void) | undefined;

    const go = () => this.connection.connect(jid, password, wrapped, options.wait, options.hold, options.route);
    const again = (delay: number) => {
      hidden = true;
      nextTry = () =>
        setTimer(() => {
          hidden = false;
          go();
        }, delay);
    };
    const wrapped: StropheConnectCallback = (status, condition, elem) => {
      if (hidden) {
        if (status === S.DISCONNECTED && nextTry) {
          const run = nextTry;
          nextTry = undefined;
          run();
        }
        return;
      }
      if (status === S.CONNFAIL && this.sharedError) {
        const refused = this.sharedError;
        if (refused === 'not-ready' && attempt + 1 < retry.attempts) {
          again(Math.min(retry.maxMs, retry.baseMs * 2 ** attempt++));
          return;
        }
        if (refused === 'weak-key' || refused === 'key-in-use' || refused === 'origin-mismatch' || refused === 'not-ready') {
          if (this.key) this.options.keyShare?.clear(this.key);
          this.key = this.freshKey();
          this.since = undefined;
          attempt = 0;
          again(0);
          return;
        }
      }
      if (status === S.CONNECTED && this.result === 'created' && exchange !== 'none' && !switched) {
        switched = true;
        void this.exchangeKey(exchange).then((other) => {
          if (other === undefined) {
            callback?.(status, condition, elem);
            return;
          }
          // ProtoXEP §3 step 5: leave our own link, attach to the published one.
          this.key = other;
          this.since = undefined;
          again(0);
          this.connection.disconnect('shared-bosh: switching to the published link');
        });
        return;
      }
      callback?.(status, condition, elem);
    };
    go();
  }

  /** D18: ends the link for every member (`shared:close='all'`) and forgets the key. */
  disconnectAll(reason?: string): void {
    this.closeAllRequested = true;
    if (this.key) this.options.keyShare?.clear(this.key);
    if (this.storageName) this.options.storage?.remove(this.storageName);
    this.connection.disconnect(reason);
  }

  /** An IqSender over this connection, for AutoKeyStore and friends. */
  iqSender(): IqSender {
    const Parser =
      this.options.DOMParser ?? (globalThis as unknown as { DOMParser: NonNullable<SharedBoshPluginOptions['DOMParser']> }).DOMParser;
    return (iq: Element) =>
      new Promise((resolve, reject) => {
        const dom = new Parser().parseFromString(iq.toString(), 'text/xml').documentElement;
        this.connection.sendIQ(
          dom,
          (res) => resolve(domToElement(res as unknown as DomNodeLike)),
          (err) => {
            if (!err) return reject(new Error('iq timed out'));
            const el = domToElement(err as unknown as DomNodeLike);
            const error = el.elements().find((c) => c.localName === 'error');
            const condition = error?.elements().find((c) => c.attrs.xmlns === NS.STANZAS)?.localName ?? 'undefined-condition';
            reject(Object.assign(new Error(condition), { name: 'StanzaError', condition, type: error?.attrs.type ?? 'cancel', element: el }));
          },
          30_000,
        );
      });
  }

  /** The published key if another client's, else publishes ours (ProtoXEP §3 steps 2 and 4). */
  private async exchangeKey(choice: Exclude<KeyExchange, 'none'>): Promise<string | undefined> {
    const iq = this.iqSender();
    const bareJid = this.connection.jid.split('/')[0]!;
    const store: ServerKeyStore =
      choice === 'pep' ? new PepKeyStore(iq) : choice === 'private' ? new PrivateXmlKeyStore(iq) : choice === 'auto' ? new AutoKeyStore(iq, bareJid) : choice;
    try {
      const published = await store.fetch();
      if (published !== null && published !== this.key) return published;
      if (published === null && this.key) await store.publish(this.key);
    } catch {
      // best effort: without an exchange this tab simply keeps its own link
    }
    return undefined;
  }

  private freshKey(): string {
    return (this.options.generateKey ?? generateKey)();
  }

  private load(jid: string): Saved | undefined {
    const text = this.options.storage?.get('shared-bosh:strophe:' + jid.split('/')[0]!.toLowerCase());
    if (!text) return undefined;
    try {
      const saved = JSON.parse(text) as Saved;
      return isValidSharedKey(saved.key) ? saved : undefined;
    } catch {
      return undefined;
    }
  }

  private save(): void {
    if (!this.storageName || !this.key || this.result === 'unshared' || this.result === undefined) return;
    this.options.storage?.set(this.storageName, JSON.stringify({ key: this.key, seq: this.seq } satisfies Saved));
  }
}

/**
 * The plugin for `Strophe.addConnectionPlugin`: each new connection gets a SharedBosh
 * controller as `connection.sharedBosh`. Register it before creating connections.
 */
export function sharedBoshPlugin(Strophe: StropheLike, options: SharedBoshPluginOptions = {}): object {
  return {
    init(this: Record<string, unknown>, conn: StropheConnectionLike) {
      const controller = new SharedBosh(conn, Strophe, options);
      // Strophe keeps `this` as connection.sharedBosh and calls its statusChanged(); both
      // are forwarded to the controller.
      this.controller = controller;
      conn.sharedBosh = controller;
    },
    statusChanged(this: { controller?: SharedBosh }, status: number) {
      this.controller?.statusChanged(status);
    },
  };
}

/** Registers the plugin as `sharedBosh`: `installSharedBosh(Strophe)`, then `new Strophe.Connection(url)`. */
export function installSharedBosh(Strophe: StropheLike, options: SharedBoshPluginOptions = {}): void {
  Strophe.addConnectionPlugin('sharedBosh', sharedBoshPlugin(Strophe, options));
}

/** For a connection created before the plugin was registered. */
export function withSharedBosh(connection: StropheConnectionLike, Strophe: StropheLike, options: SharedBoshPluginOptions = {}): SharedBosh {
  const controller = new SharedBosh(connection, Strophe, options);
  connection.sharedBosh = controller;
  // Without the plugin registry nobody calls statusChanged; wrap the status changes instead.
  const change = connection._changeConnectStatus.bind(connection);
  connection._changeConnectStatus = (status, condition, elem) => {
    controller.statusChanged(status);
    change(status, condition, elem);
  };
  return controller;
}
