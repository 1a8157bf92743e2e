/**
 * Real XMPP client libraries driven from Node, for end-to-end tests over BOSH.
 *
 * Strophe.js 5 in Node
 * --------------------
 * `import { Strophe, $msg, $pres, $iq } from 'strophe.js'` resolves (export condition "node") to
 * `dist/strophe.node.esm.js`. On import it installs the DOM globals Strophe needs (`DOMParser`,
 * `XMLSerializer`, `document` from @xmldom/xmldom, `WebSocket` from ws). Its BOSH transport
 * however still uses `new XMLHttpRequest()`, which Node does not have and Strophe does not shim,
 * and it does not use fetch. `installXmlHttpRequest()` below (called by `connectStrophe`) puts a
 * small XMLHttpRequest on `globalThis` built on node:http(s) with a keep-alive agent: `open`,
 * `setRequestHeader`, `send`, `abort`, `readyState`/`onreadystatechange`, `status`,
 * `responseText`, `responseXML` (parsed lazily with the DOMParser Strophe installed; Strophe 5's
 * own fallback for a missing `responseXML` is broken: it parses `responseText` and then returns
 * nothing, so the login hangs) and `getAllResponseHeaders`. Strophe's own logging is silenced unless STROPHE_LOG=debug|info|warn|error.
 *
 * StanzaJS 12 in Node
 * -------------------
 * `import { createClient } from 'stanza'` (CommonJS, named exports work from ESM). Its BOSH
 * transport uses the global `fetch`, so nothing needs installing. The SASL mechanism is forced by
 * filtering `client.sasl.mechanisms` before connecting.
 *
 * Both wrappers expose the same promise-based `TestClient`: every incoming message/presence/iq is
 * recorded (normalised into `ReceivedStanza`) and can be awaited with `waitFor(predicate)`; both
 * answer XEP-0199 pings and XEP-0092 version queries addressed to them.
 */
import http from 'node:http';
import https from 'node:https';
import { Strophe, $iq, $msg, $pres } from 'strophe.js';
import { createClient, type Agent as StanzaAgent } from 'stanza';
import { NS_PING } from '../../src/protocol/namespaces.js';

export type SaslMechanism = 'PLAIN' | 'SCRAM-SHA-1' | 'SCRAM-SHA-256';

export interface ClientConnectOptions {
  /** BOSH endpoint, e.g. `http://127.0.0.1:5280/http-bind`. */
  boshUrl: string;
  /** Bare JID, or full JID to ask for a resource. */
  jid: string;
  password: string;
  /** Force this SASL mechanism (only this one is offered by the client). */
  mechanism?: SaslMechanism;
  /** Give up connecting after this long, ms. @default 15000 */
  timeoutMs?: number;
  /** BOSH `wait`, seconds. @default 10 */
  wait?: number;
  /** Send initial presence once bound. @default false */
  presence?: boolean;
  /**
   * Resume a saved BOSH session instead of logging in (a reloaded page): Strophe's
   * `attach(jid, sid, rid)`, StanzaJS's BOSH transport started with the saved sid and rid.
   * `jid` is then the bound full JID and `password` is not used.
   */
  attach?: { sid: string; rid: number };
}

/** An incoming stanza, the same shape for both libraries. */
export interface ReceivedStanza {
  kind: 'message' | 'presence' | 'iq';
  from?: string;
  to?: string;
  /** With the RFC 6121 defaults filled in: 'available' for presence, 'normal' for message. */
  type?: string;
  id?: string;
  /** Text of `<body/>` for messages. */
  body?: string;
  /** Serialized XML (Strophe only). */
  xml?: string;
  /** The library's own object: a DOM Element (Strophe) or a JSON stanza (StanzaJS). */
  native: unknown;
  /** Date.now() when received. */
  at: number;
}

export interface WaitOptions {
  /** @default 10000 */
  timeoutMs?: number;
  /** Only look at stanzas received at or after this index of `received` (see `mark()`). @default 0 */
  since?: number;
  /** For the timeout error message. */
  label?: string;
}

export interface TestClient {
  readonly library: 'strophe' | 'stanza';
  /** The bound full JID. */
  readonly jid: string;
  readonly bareJid: string;
  readonly resource: string;
  /** Every incoming stanza, in order. */
  readonly received: ReceivedStanza[];
  /** Raw HTTP bodies received / sent. */
  readonly rawIn: string[];
  readonly rawOut: string[];
  /** True until the session ended (by us or the server). */
  readonly connected: boolean;
  /** `received.length`, to pass as `since` to `waitFor` before triggering something. */
  mark(): number;
  sendMessage(to: string, body: string, type?: 'chat' | 'normal' | 'headline'): void;
  sendPresence(opts?: { to?: string; type?: string; status?: string }): void;
  /** One raw XML element onto the stream (Strophe parses it first; StanzaJS writes it to its BOSH transport as is). */
  sendRaw(xml: string): void;
  /** XEP-0199 ping; `to` defaults to the server (own domain). Rejects on error or timeout. */
  ping(to?: string, timeoutMs?: number): Promise<void>;
  /** XEP-0092 software version of `to`. */
  version(to: string, timeoutMs?: number): Promise<{ name?: string; version?: string }>;
  waitFor(predicate: (s: ReceivedStanza) => boolean, opts?: WaitOptions): Promise<ReceivedStanza>;
  /** Clean BOSH terminate; resolves once the library reports the disconnect (or after timeout). */
  disconnect(timeoutMs?: number): Promise<void>;
}

const NS_VERSION = 'jabber:iq:version';

function bareOf(jid: string): string {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
}
function resourceOf(jid: string): string {
  const slash = jid.indexOf('/');
  return slash < 0 ? '' : jid.slice(slash + 1);
}
function domainOf(jid: string): string {
  const bare = bareOf(jid);
  const at = bare.indexOf('@');
  return at < 0 ? bare : bare.slice(at + 1);
}

// ---------------------------------------------------------------------------------------------
// Waiting

class Waiters {
  private waiters = new Set<{ pred: (s: ReceivedStanza) => boolean; resolve: (s: ReceivedStanza) => void }>();
  constructor(private readonly list: ReceivedStanza[]) {}

  push(s: ReceivedStanza): void {
    this.list.push(s);
    for (const w of [...this.waiters]) {
      let ok = false;
      try { ok = w.pred(s); } catch { ok = false; }
      if (ok) {
        this.waiters.delete(w);
        w.resolve(s);
      }
    }
  }

  waitFor(predicate: (s: ReceivedStanza) => boolean, opts: WaitOptions = {}, who = ''): Promise<ReceivedStanza> {
    for (let i = opts.since ?? 0; i < this.list.length; i++) {
      const s = this.list[i]!;
      if (predicate(s)) return Promise.resolve(s);
    }
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const w = {
        pred: predicate,
        resolve: (s: ReceivedStanza) => {
          clearTimeout(timer);
          resolve(s);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        const seen = this.list.slice(-8).map((s) => `${s.kind}/${s.type} from=${s.from} ${s.body ?? ''}`).join('; ');
        reject(new Error(`${who}: timed out after ${timeoutMs} ms waiting for ${opts.label ?? 'a stanza'}; last seen: ${seen}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// XMLHttpRequest for Strophe in Node

const keepAliveHttp = new http.Agent({ keepAlive: true });
const keepAliveHttps = new https.Agent({ keepAlive: true });

/** Errors thrown by Strophe inside XHR callbacks (they would otherwise crash the test process). */
export const xhrCallbackErrors: unknown[] = [];

export class NodeXMLHttpRequest {
  static readonly UNSENT = 0;
  static readonly OPENED = 1;
  static readonly HEADERS_RECEIVED = 2;
  static readonly LOADING = 3;
  static readonly DONE = 4;

  readyState = 0;
  status = 0;
  statusText = '';
  responseText = '';
  withCredentials = false;
  timeout = 0;
  onreadystatechange: ((this: NodeXMLHttpRequest, ev: unknown) => void) | null = null;

  private method = 'GET';
  private url = '';
  private headers: Record<string, string> = {};
  private responseHeaders: string[] = [];
  private req: http.ClientRequest | undefined;
  private sent = false;
  private aborted = false;
  private parsed: Document | null | undefined;

  /**
   * The response parsed as XML with the global DOMParser that Strophe's Node entry installs
   * (Strophe 5 needs this: its `responseText` fallback parses but then returns nothing).
   */
  get responseXML(): Document | null {
    if (this.readyState !== 4 || this.responseText === '') return null;
    if (this.parsed === undefined) {
      const P = (globalThis as unknown as { DOMParser?: new () => { parseFromString(s: string, t: string): Document } }).DOMParser;
      this.parsed = P ? new P().parseFromString(this.responseText, 'text/xml') : null;
    }
    return this.parsed;
  }

  overrideMimeType(_mime: string): void { /* responses are always treated as XML */ }

  open(method: string, url: string, _async = true): void {
    this.method = method;
    this.url = url;
    this.headers = {};
    this.responseHeaders = [];
    this.status = 0;
    this.responseText = '';
    this.parsed = undefined;
    this.sent = false;
    this.aborted = false;
    this.setState(1);
  }

  setRequestHeader(name: string, value: string): void {
    this.headers[name] = value;
  }

  getAllResponseHeaders(): string {
    let out = '';
    for (let i = 0; i + 1 < this.responseHeaders.length; i += 2) {
      out += `${this.responseHeaders[i]!.toLowerCase()}: ${this.responseHeaders[i + 1]}\r\n`;
    }
    return out;
  }

  getResponseHeader(name: string): string | null {
    const lname = name.toLowerCase();
    const values: string[] = [];
    for (let i = 0; i + 1 < this.responseHeaders.length; i += 2) {
      if (this.responseHeaders[i]!.toLowerCase() === lname) values.push(this.responseHeaders[i + 1]!);
    }
    return values.length > 0 ? values.join(', ') : null;
  }

  send(body?: string | null): void {
    if (this.readyState !== 1 || this.sent) {
      // A browser throws InvalidStateError here and merely logs it; Strophe hits this when a
      // retry timer fires after the request was aborted. Throwing from a timer would crash Node.
      xhrCallbackErrors.push(new Error('XMLHttpRequest.send() in state ' + this.readyState));
      return;
    }
    this.sent = true;
    const url = new URL(this.url);
    const secure = url.protocol === 'https:';
    const data = body == null ? undefined : Buffer.from(String(body), 'utf8');
    const headers: Record<string, string | number> = { ...this.headers };
    if (data) headers['Content-Length'] = data.length;
    const req = (secure ? https : http).request(url, {
      method: this.method,
      headers,
      agent: secure ? keepAliveHttps : keepAliveHttp,
    }, (res) => {
      if (this.aborted) {
        res.resume();
        return;
      }
      this.status = res.statusCode ?? 0;
      this.statusText = res.statusMessage ?? '';
      this.responseHeaders = res.rawHeaders;
      this.setState(2);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (this.aborted) return;
        this.responseText = Buffer.concat(chunks).toString('utf8');
        this.setState(4);
      });
      res.on('error', () => this.fail());
      res.on('aborted', () => this.fail());
    });
    req.on('error', () => this.fail());
    if (this.timeout > 0) req.setTimeout(this.timeout, () => req.destroy(new Error('timeout')));
    this.req = req;
    req.end(data);
  }

  abort(): void {
    const inFlight = this.sent && this.readyState > 0 && this.readyState < 4;
    this.aborted = true;
    this.req?.destroy();
    this.req = undefined;
    if (inFlight) {
      this.status = 0;
      this.responseText = '';
      this.setState(4);
    }
    this.readyState = 0;
    this.sent = false;
  }

  private fail(): void {
    if (this.aborted || this.readyState === 4) return;
    this.status = 0;
    this.responseText = '';
    this.req = undefined;
    this.setState(4);
  }

  private setState(state: number): void {
    this.readyState = state;
    const cb = this.onreadystatechange;
    if (!cb) return;
    try {
      cb.call(this, { type: 'readystatechange' });
    } catch (err) {
      xhrCallbackErrors.push(err);
      if (process.env.STROPHE_LOG) console.error('error in XMLHttpRequest callback:', err);
    }
  }
}

/** Puts `NodeXMLHttpRequest` on globalThis unless an XMLHttpRequest is already there. */
export function installXmlHttpRequest(): void {
  const g = globalThis as unknown as { XMLHttpRequest?: unknown };
  if (g.XMLHttpRequest === undefined) g.XMLHttpRequest = NodeXMLHttpRequest;
}

let stropheLogSet = false;
function configureStropheLog(): void {
  if (stropheLogSet) return;
  stropheLogSet = true;
  const level = (process.env.STROPHE_LOG ?? '').toUpperCase();
  const levels = Strophe.LogLevel as unknown as Record<string, number>;
  Strophe.setLogLevel((levels[level] ?? levels.FATAL ?? 4) as Parameters<typeof Strophe.setLogLevel>[0]);
}

// ---------------------------------------------------------------------------------------------
// Strophe.js

type StropheConnection = InstanceType<typeof Strophe.Connection>;

export interface StropheClient extends TestClient {
  readonly library: 'strophe';
  readonly conn: StropheConnection;
  /** Sends an `<iq/>` and resolves with the result element (rejects on an error result or timeout). */
  iq(stanza: Element | ReturnType<typeof $iq>, timeoutMs?: number): Promise<Element>;
  /** The `<stream:features/>` the client received, serialized, in order. */
  features(): string[];
}

function mechanismClass(m: SaslMechanism): unknown {
  switch (m) {
    case 'PLAIN': return Strophe.SASLPlain;
    case 'SCRAM-SHA-1': return Strophe.SASLSHA1;
    case 'SCRAM-SHA-256': return Strophe.SASLSHA256;
  }
}

function statusName(status: number): string {
  for (const [k, v] of Object.entries(Strophe.Status)) if (v === status) return k;
  return String(status);
}

function normaliseElement(el: Element): ReceivedStanza {
  const kind = el.nodeName as ReceivedStanza['kind'];
  const attr = (n: string): string | undefined => el.getAttribute(n) ?? undefined;
  let type = attr('type');
  if (type === undefined && kind === 'presence') type = 'available';
  if (type === undefined && kind === 'message') type = 'normal';
  let body: string | undefined;
  if (kind === 'message') {
    const b = el.getElementsByTagName('body')[0];
    if (b) body = b.textContent ?? '';
  }
  return {
    kind, from: attr('from'), to: attr('to'), type, id: attr('id'), body,
    xml: Strophe.serialize(el), native: el, at: Date.now(),
  };
}

/** Stops a Strophe connection locally: aborts its requests, stops its idle loop, drops handlers. */
function hardStopStrophe(conn: StropheConnection): void {
  const c = conn as unknown as { _proto: { _abortAllRequests(): void }; _doDisconnect(): void };
  try { c._proto._abortAllRequests(); } catch { /* ignore */ }
  try { c._doDisconnect(); } catch { /* ignore */ }
  try { conn.reset(); } catch { /* ignore */ }
}

/** Logs in with Strophe.js over BOSH; resolves once a resource is bound. */
export async function connectStrophe(opts: ClientConnectOptions): Promise<StropheClient> {
  installXmlHttpRequest();
  configureStropheLog();
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const options: Record<string, unknown> = {};
  if (opts.mechanism) options.mechanisms = [mechanismClass(opts.mechanism)];
  const conn = new Strophe.Connection(opts.boshUrl, options as ConstructorParameters<typeof Strophe.Connection>[1]);
  const rawIn: string[] = [];
  const rawOut: string[] = [];
  conn.rawInput = (data: string) => { rawIn.push(data); };
  conn.rawOutput = (data: string) => { rawOut.push(data); };
  const received: ReceivedStanza[] = [];
  const waiters = new Waiters(received);
  let connected = false;
  let disconnectedResolve: (() => void) | undefined;
  const disconnected = new Promise<void>((r) => { disconnectedResolve = r; });
  const who = `strophe(${opts.jid})`;

  const onStanza = (el: Element): boolean => {
    const s = normaliseElement(el);
    // Be a polite client: answer pings and version queries, refuse other requests.
    if (s.kind === 'iq' && (s.type === 'get' || s.type === 'set')) {
      const reply = $iq({ type: 'result', id: s.id ?? '' });
      if (s.from) reply.attrs({ to: s.from });
      const child = el.firstElementChild ?? el.getElementsByTagName('*')[0];
      const ns = child?.getAttribute('xmlns') ?? child?.namespaceURI ?? '';
      if (s.type === 'get' && ns === NS_PING) {
        conn.send(reply.tree());
      } else if (s.type === 'get' && ns === NS_VERSION) {
        conn.send(reply.c('query', { xmlns: NS_VERSION }).c('name').t('strophe-test').up().c('version').t(Strophe.VERSION).tree());
      } else {
        const err = $iq({ type: 'error', id: s.id ?? '' });
        if (s.from) err.attrs({ to: s.from });
        conn.send(err.c('error', { type: 'cancel' }).c('service-unavailable', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }).tree());
      }
    }
    waiters.push(s);
    return true;
  };

  await withTimeout(new Promise<void>((resolve, reject) => {
    const onStatus = (status: number, condition?: string | null): void => {
      const S = Strophe.Status;
      if (status === S.CONNECTED || status === S.ATTACHED) {
        connected = true;
        resolve();
      } else if (status === S.AUTHFAIL || status === S.CONNFAIL || status === S.ERROR || status === S.CONNTIMEOUT
        || status === S.BINDREQUIRED) {
        if (!connected) reject(new Error(`${who}: ${statusName(status)}${condition ? ` (${condition})` : ''}`));
      } else if (status === S.DISCONNECTED) {
        const was = connected;
        connected = false;
        disconnectedResolve?.();
        if (!was) reject(new Error(`${who}: disconnected before login${condition ? ` (${condition})` : ''}`));
      }
    };
    if (opts.attach) conn.attach(opts.jid, opts.attach.sid, opts.attach.rid, onStatus, opts.wait ?? 10, 1);
    else conn.connect(opts.jid, opts.password, onStatus, opts.wait ?? 10, 1);
  }), timeoutMs, `${who} connect`).catch((err: unknown) => {
    hardStopStrophe(conn);
    throw err;
  });

  for (const name of ['message', 'presence', 'iq']) conn.addHandler(onStanza, null, name, null);

  const client: StropheClient = {
    library: 'strophe',
    conn,
    get jid() { return conn.jid; },
    get bareJid() { return bareOf(conn.jid); },
    get resource() { return resourceOf(conn.jid); },
    received,
    rawIn,
    rawOut,
    get connected() { return connected; },
    mark: () => received.length,
    sendMessage(to, body, type = 'chat') {
      conn.send($msg({ to, type, id: conn.getUniqueId('m') }).c('body').t(body).tree());
    },
    sendPresence(p = {}) {
      const attrs: Record<string, string> = {};
      if (p.to) attrs.to = p.to;
      if (p.type) attrs.type = p.type;
      const pres = $pres(attrs);
      if (p.status) pres.c('status').t(p.status);
      conn.send(pres.tree());
    },
    sendRaw(xml) {
      const doc = Strophe.xmlHtmlNode(xml);
      conn.send(doc.documentElement);
    },
    iq(stanza, timeout = 10_000) {
      return new Promise<Element>((resolve, reject) => {
        conn.sendIQ(stanza, resolve, (err: Element | null) => {
          reject(new Error(`${who}: iq failed: ${err ? Strophe.serialize(err) : 'timeout'}`));
        }, timeout);
      });
    },
    async ping(to, timeout = 10_000) {
      await client.iq($iq({ type: 'get', to: to ?? domainOf(conn.jid) }).c('ping', { xmlns: NS_PING }), timeout);
    },
    async version(to, timeout = 10_000) {
      const res = await client.iq($iq({ type: 'get', to }).c('query', { xmlns: NS_VERSION }), timeout);
      const text = (n: string): string | undefined => res.getElementsByTagName(n)[0]?.textContent ?? undefined;
      return { name: text('name'), version: text('version') };
    },
    features() {
      const out: string[] = [];
      for (const raw of rawIn) {
        const m = raw.match(/<stream:features[\s\S]*?(?:<\/stream:features>|\/>)/g);
        if (m) out.push(...m);
      }
      return out;
    },
    waitFor: (pred, o) => waiters.waitFor(pred, o, who),
    async disconnect(timeout = 10_000) {
      if (!connected) return;
      conn.disconnect('test done');
      const clean = await withTimeout(disconnected, timeout, `${who} disconnect`).then(() => true, () => false);
      connected = false;
      if (!clean) hardStopStrophe(conn);
    },
  };
  if (opts.presence) client.sendPresence();
  return client;
}

// ---------------------------------------------------------------------------------------------
// StanzaJS

export interface StanzaClient extends TestClient {
  readonly library: 'stanza';
  readonly client: StanzaAgent;
  /** Body attributes of the BOSH `type='terminate'` response, if the session ended that way. */
  readonly terminate: Record<string, unknown> | undefined;
}

function normaliseJson(kind: ReceivedStanza['kind'], json: Record<string, unknown>): ReceivedStanza {
  let type = json.type as string | undefined;
  if (type === undefined && kind === 'presence') type = 'available';
  if (type === undefined && kind === 'message') type = 'normal';
  return {
    kind,
    from: json.from as string | undefined,
    to: json.to as string | undefined,
    type,
    id: json.id as string | undefined,
    body: kind === 'message' ? (json.body as string | undefined) : undefined,
    native: json,
    at: Date.now(),
  };
}

/** Stops StanzaJS's BOSH transport locally: no new requests, no more retries of failed ones. */
function hardStopStanza(agent: StanzaAgent): void {
  const t = agent.transport as unknown as { isEnded?: boolean; channels?: { maxRetries: number }[] } | undefined;
  if (!t) return;
  t.isEnded = true;
  for (const ch of t.channels ?? []) ch.maxRetries = 0;
}

/**
 * StanzaJS has no public call to resume a saved BOSH session, but its BOSH transport takes `sid`
 * and `rid` in its connect options (prebind): started that way it announces the session as
 * started, and once marked authenticated it polls like a logged-in client.
 */
function attachStanza(agent: StanzaAgent, url: string, jid: string, saved: { sid: string; rid: number }, wait: number): void {
  const internals = agent as unknown as { transports: Record<string, new (client: unknown, sm: unknown, stanzas: unknown) => unknown>; sm: unknown; stanzas: unknown; transport: unknown };
  const transport = new internals.transports.bosh!(agent, internals.sm, internals.stanzas) as {
    authenticated: boolean;
    connect(opts: Record<string, unknown>): void;
    scheduleRequests(): void;
  };
  internals.transport = transport;
  transport.authenticated = true;
  transport.connect({ url, sid: saved.sid, rid: saved.rid, jid, server: domainOf(jid), lang: 'en', acceptLanguages: ['en'], wait });
  transport.scheduleRequests();
}

/** Logs in with StanzaJS over BOSH; resolves once a resource is bound. */
export async function connectStanza(opts: ClientConnectOptions): Promise<StanzaClient> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const resource = resourceOf(opts.jid) || undefined;
  const agent = createClient({
    jid: bareOf(opts.jid),
    password: opts.password,
    resource,
    transports: { websocket: false, bosh: opts.boshUrl },
    useStreamManagement: false,
    allowResumption: false,
    timeout: 10,
    softwareVersion: { name: 'stanza-test', version: '12' },
  });
  // StanzaJS's BOSH transport ends itself with `this.end(err)` after failed HTTP requests, which
  // can emit an unhandled 'error' (ERR_STREAM_WRITE_AFTER_END) and crash the test process.
  const transports = (agent as unknown as { transports: Record<string, new (...args: unknown[]) => NodeJS.EventEmitter> }).transports;
  const BaseBosh = transports.bosh!;
  transports.bosh = class extends BaseBosh {
    constructor(...args: unknown[]) {
      super(...args);
      this.on('error', () => { /* reported through 'disconnected' */ });
    }
  };
  if (opts.mechanism) {
    const sasl = agent.sasl as unknown as { mechanisms: { name: string }[] };
    sasl.mechanisms = sasl.mechanisms.filter((m) => m.name === opts.mechanism);
  }
  const rawIn: string[] = [];
  const rawOut: string[] = [];
  agent.on('raw:incoming', (d: string) => { rawIn.push(d); });
  agent.on('raw:outgoing', (d: string) => { rawOut.push(d); });
  const received: ReceivedStanza[] = [];
  const waiters = new Waiters(received);
  const who = `stanza(${opts.jid})`;
  let connected = false;
  let terminate: Record<string, unknown> | undefined;
  agent.on('bosh:terminate', (b: unknown) => { terminate = b as Record<string, unknown>; });
  agent.on('message', (m) => waiters.push(normaliseJson('message', m as unknown as Record<string, unknown>)));
  agent.on('presence', (p) => waiters.push(normaliseJson('presence', p as unknown as Record<string, unknown>)));
  agent.on('iq', (iq) => waiters.push(normaliseJson('iq', iq as unknown as Record<string, unknown>)));
  let disconnectedResolve: (() => void) | undefined;
  const disconnected = new Promise<void>((r) => { disconnectedResolve = r; });
  agent.on('disconnected', () => {
    connected = false;
    disconnectedResolve?.();
  });

  await withTimeout(new Promise<void>((resolve, reject) => {
    agent.once('session:started', () => {
      connected = true;
      resolve();
    });
    agent.once('auth:failed', () => reject(new Error(`${who}: auth failed`)));
    agent.once('stream:error', (e: unknown) => reject(new Error(`${who}: stream error ${JSON.stringify(e)}`)));
    agent.once('disconnected', () => {
      reject(new Error(`${who}: disconnected before login${terminate ? ` (${JSON.stringify(terminate)})` : ''}`));
    });
    if (opts.attach) attachStanza(agent, opts.boshUrl, opts.jid, opts.attach, opts.wait ?? 10);
    else void agent.connect();
  }), timeoutMs, `${who} connect`).catch(async (err: unknown) => {
    hardStopStanza(agent);
    try { await withTimeout(Promise.resolve(agent.disconnect() as unknown), 2000, 'cleanup'); } catch { /* ignore */ }
    throw err;
  });

  const client: StanzaClient = {
    library: 'stanza',
    client: agent,
    get jid() { return agent.jid; },
    get bareJid() { return bareOf(agent.jid); },
    get resource() { return resourceOf(agent.jid); },
    received,
    rawIn,
    rawOut,
    get connected() { return connected; },
    get terminate() { return terminate; },
    mark: () => received.length,
    sendMessage(to, body, type = 'chat') {
      agent.sendMessage({ to, body, type });
    },
    sendPresence(p = {}) {
      agent.sendPresence({ to: p.to, type: p.type as never, status: p.status });
    },
    sendRaw(xml) {
      // StanzaJS serialises JSON; raw XML goes straight onto the transport.
      const transport = agent.transport as unknown as { write(data: string): void } | undefined;
      if (!transport) throw new Error(`${who}: not connected`);
      transport.write(xml);
    },
    async ping(to, timeout = 10_000) {
      await withTimeout(agent.ping(to ?? domainOf(agent.jid)), timeout, `${who} ping`);
    },
    async version(to, timeout = 10_000) {
      const v = await withTimeout(agent.getSoftwareVersion(to), timeout, `${who} version`);
      return { name: v.name, version: v.version };
    },
    waitFor: (pred, o) => waiters.waitFor(pred, o, who),
    async disconnect(timeout = 10_000) {
      if (!connected) return;
      void agent.disconnect();
      const clean = await withTimeout(disconnected, timeout, `${who} disconnect`).then(() => true, () => false);
      connected = false;
      if (!clean) hardStopStanza(agent);
    },
  };
  if (opts.presence) client.sendPresence();
  return client;
}

/** Either library by name. */
export function connectClient(library: 'strophe' | 'stanza', opts: ClientConnectOptions): Promise<TestClient> {
  return library === 'strophe' ? connectStrophe(opts) : connectStanza(opts);
}

/** Disconnects every client given, ignoring failures (for `after`/`finally`). */
export async function disconnectAll(clients: (TestClient | undefined)[], timeoutMs = 5000): Promise<void> {
  await Promise.all(clients.map(async (c) => {
    if (!c) return;
    try { await c.disconnect(timeoutMs); } catch { /* ignore */ }
  }));
}

/** Raw BOSH POST (no client library); resolves with status and body text. */
export async function postBosh(url: string, body: string, timeoutMs = 10_000): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'text/xml; charset=utf-8' },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

// ---------------------------------------------------------------------------------------------
// Shared scenarios

function isPresenceFrom(jid: string, type = 'available') {
  return (s: ReceivedStanza): boolean => s.kind === 'presence' && s.from === jid && s.type === type;
}

/**
 * Presence and message exchange between two logged-in clients of the same server: both send initial
 * presence, then directed presence to each other's bare JID (no roster needed; it also makes the
 * server send `unavailable` to the other when one leaves), then a message each way (to the bare and
 * to the full JID). Throws on the first failure.
 */
export async function exchangePresenceAndMessages(a: TestClient, b: TestClient, timeoutMs = 10_000): Promise<void> {
  // Initial presence, and wait for the server's echo of it: only then is each resource
  // "available", so that presence or messages to the bare JID reach it.
  const ma0 = a.mark();
  const mb0 = b.mark();
  a.sendPresence();
  b.sendPresence();
  await a.waitFor(isPresenceFrom(a.jid), { since: ma0, timeoutMs, label: `own presence echo of ${a.jid}` });
  await b.waitFor(isPresenceFrom(b.jid), { since: mb0, timeoutMs, label: `own presence echo of ${b.jid}` });
  let mb = b.mark();
  a.sendPresence({ to: b.bareJid, status: `${a.library} here` });
  await b.waitFor(isPresenceFrom(a.jid), { since: mb, timeoutMs, label: `presence from ${a.jid}` });
  let ma = a.mark();
  b.sendPresence({ to: a.bareJid, status: `${b.library} here` });
  await a.waitFor(isPresenceFrom(b.jid), { since: ma, timeoutMs, label: `presence from ${b.jid}` });

  mb = b.mark();
  const text1 = `hello ${b.library} from ${a.library} ${Math.random().toString(36).slice(2)}`;
  a.sendMessage(b.bareJid, text1);
  await b.waitFor((s) => s.kind === 'message' && s.from === a.jid && s.body === text1, { since: mb, timeoutMs, label: `message "${text1}"` });
  ma = a.mark();
  const text2 = `hello ${a.library} from ${b.library} <&> ${Math.random().toString(36).slice(2)}`;
  b.sendMessage(a.jid, text2);
  await a.waitFor((s) => s.kind === 'message' && s.from === b.jid && s.body === text2, { since: ma, timeoutMs, label: `message "${text2}"` });
}

/** XEP-0199 pings (each to the server and to the other) and XEP-0092 version queries both ways. */
export async function exchangeIqs(a: TestClient, b: TestClient, timeoutMs = 10_000): Promise<{ server: { name?: string; version?: string } }> {
  await a.ping(undefined, timeoutMs);
  await b.ping(undefined, timeoutMs);
  await a.ping(b.jid, timeoutMs);
  await b.ping(a.jid, timeoutMs);
  const vb = await a.version(b.jid, timeoutMs);
  if (!vb.name) throw new Error(`no software name from ${b.jid}`);
  const va = await b.version(a.jid, timeoutMs);
  if (!va.name) throw new Error(`no software name from ${a.jid}`);
  const domain = a.bareJid.slice(a.bareJid.indexOf('@') + 1);
  const server = await a.version(domain, timeoutMs);
  return { server };
}

/** `a` disconnects cleanly; resolves once `b` saw `a`'s unavailable presence. */
export async function disconnectAndObserve(a: TestClient, b: TestClient, timeoutMs = 10_000): Promise<void> {
  const mb = b.mark();
  const aJid = a.jid;
  await a.disconnect(timeoutMs);
  await b.waitFor(isPresenceFrom(aJid, 'unavailable'), { since: mb, timeoutMs, label: `unavailable presence from ${aJid}` });
}

/**
 * Retries `check` (which throws or rejects while the condition does not hold) until it passes or
 * `timeoutMs` is over; then rethrows the last failure.
 */
export async function eventually<T>(check: () => T | Promise<T>, opts: { timeoutMs?: number; intervalMs?: number; label?: string } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() >= deadline) {
        if (opts.label && err instanceof Error) err.message = `${opts.label}: ${err.message}`;
        throw err;
      }
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}
