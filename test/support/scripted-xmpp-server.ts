import * as net from 'node:net';
import * as tls from 'node:tls';
import { StringDecoder } from 'node:string_decoder';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsPolicy } from '../../src/xmpp/types.js';
import { Element, escapeAttr as attr, escapeText, startTag } from '../../src/xml/element.js';
import { XmppStreamParser, type StreamChunk } from '../../src/xml/stream-parser.js';
import { createTestCertificate, type TestCertificate } from './certs.js';
import { NS_BIND, NS_SASL, NS_SESSION, NS_STREAMS, NS_TLS } from '../../src/protocol/namespaces.js';

export { NS_BIND, NS_SASL, NS_SESSION, NS_TLS };
export const NS_PING = 'urn:xmpp:ping';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
export const NS_STREAM_ERRORS = 'urn:ietf:params:xml:ns:xmpp-streams';

export interface ScriptedServerOptions {
  /** The domain served: stream `from`, JID domain; other `to` values get host-unknown. @default 'localhost' */
  domain?: string;
  /** STARTTLS: not offered, offered, or offered as `<required/>`. @default 'none' */
  starttls?: 'none' | 'offered' | 'required';
  /** Certificate for STARTTLS. @default generated for 'localhost' (see `ca`) */
  certificate?: TestCertificate;
  /** Accepted SASL PLAIN credentials, user -> password. @default any credentials are accepted */
  users?: Record<string, string>;
  /** Wait this long before sending each `<stream:features/>`. @default 0 */
  featuresDelayMs?: number;
  /** Accept TCP but never answer (for connect timeouts). @default false */
  mute?: boolean;
  /** Answer a client's `</stream:stream>` with ours and close TCP. @default true */
  answerClose?: boolean;
  /** First look at every top-level element; return true when it is handled. */
  intercept?: Interceptor;
}

/** A test's own handling of one received element; return true to skip the default handling. */
export type Interceptor = (conn: ScriptedConnection, element: Element, raw: string) => boolean | void;

/** One top-level element the server received, parsed and as written. */
export interface Received {
  connection: ScriptedConnection;
  element: Element;
  raw: string;
}

/**
 * A small XMPP server on 127.0.0.1 for tests: stream (re)starts, optional STARTTLS, SASL PLAIN,
 * resource binding, routing between its own clients, pings; and hooks to observe every element,
 * inject raw XML, send stream errors and drop connections.
 *
 *   const server = await ScriptedXmppServer.start({ starttls: 'required' });
 *   t.after(() => server.close());
 *   // upstream options: { domain: server.domain, host: server.host, port: server.port, tls: 'required', ca: server.ca }
 *   const auth = await server.waitForElement((r) => r.element.name === 'auth');
 */
export class ScriptedXmppServer {
  readonly host = '127.0.0.1';
  readonly domain: string;
  /** PEM of the CA that signed the STARTTLS certificate (undefined without STARTTLS). */
  readonly ca: string | undefined;
  /** Every connection ever accepted, in order (see `open`). */
  readonly connections: ScriptedConnection[] = [];
  /** Every top-level element received on any connection, in order. */
  readonly received: Received[] = [];
  featuresDelayMs: number;
  intercept: Interceptor | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<(r: Received) => void>();
  private caDir: string | undefined;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly options: ScriptedServerOptions,
    readonly secureContext: tls.SecureContext | undefined,
    certificate: TestCertificate | undefined,
  ) {
    this.domain = options.domain ?? 'localhost';
    this.ca = certificate?.ca;
    this.featuresDelayMs = options.featuresDelayMs ?? 0;
    this.intercept = options.intercept;
  }

  static async start(options: ScriptedServerOptions = {}): Promise<ScriptedXmppServer> {
    const starttls = options.starttls ?? 'none';
    const certificate = starttls === 'none' ? undefined : (options.certificate ?? (await createTestCertificate(['localhost'])));
    const context = certificate ? tls.createSecureContext({ key: certificate.key, cert: certificate.cert }) : undefined;
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as net.AddressInfo).port;
    const scripted = new ScriptedXmppServer(server, port, options, context, certificate);
    server.on('connection', (socket) => scripted.accept(socket));
    return scripted;
  }

  /** Connections whose TCP connection is still up. */
  get openConnections(): ScriptedConnection[] {
    return this.connections.filter((c) => c.open);
  }

  /** The connection bound to this full JID. */
  connectionOf(jid: string): ScriptedConnection | undefined {
    return this.connections.find((c) => c.open && c.jid === jid);
  }

  /** Calls `listener` for every element received from now on; returns the unsubscribe. */
  onElement(listener: (r: Received) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the first value `check` returns that is not undefined/false, re-checked on every event. */
  waitUntil<T>(check: () => T | undefined | false, what = 'condition', timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value === undefined || value === false) return;
        finish();
        resolve(value);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`scripted server: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(attempt);
      };
      this.waiters.add(attempt);
      attempt();
    });
  }

  /** The n-th connection (1-based) once it is accepted. */
  waitForConnection(n = this.connections.length + 1, timeoutMs?: number): Promise<ScriptedConnection> {
    return this.waitUntil(() => this.connections[n - 1], `connection #${n}`, timeoutMs);
  }

  /** The first received element (already received or future) that matches. */
  waitForElement(match: (r: Received) => boolean, timeoutMs?: number): Promise<Received> {
    return this.waitUntil(() => this.received.find(match), 'a matching element', timeoutMs);
  }

  /** The CA written to a PEM file (removed by close()), for configs that take a path. */
  async caFile(): Promise<string | undefined> {
    if (this.ca === undefined) return undefined;
    this.caDir ??= await mkdtemp(join(tmpdir(), 'scripted-xmpp-ca-'));
    const file = join(this.caDir, 'ca.pem');
    await writeFile(file, this.ca);
    return file;
  }

  /** A CM domain entry (config `domains[server.domain]`) that reaches this server. */
  async domainConfig(tls: TlsPolicy = this.ca ? 'required' : 'off'): Promise<{ host: string; port: number; tls: TlsPolicy; caFile?: string; insecure: boolean }> {
    const caFile = await this.caFile();
    return { host: this.host, port: this.port, tls, ...(caFile ? { caFile } : {}), insecure: false };
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const conn of this.connections) conn.drop();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.caDir) await rm(this.caDir, { recursive: true, force: true });
  }

  // ---- used by connections -------------------------------------------------------------

  /** @internal */
  changed(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** @internal */
  record(r: Received): void {
    this.received.push(r);
    for (const listener of [...this.listeners]) listener(r);
    this.changed();
  }

  private accept(socket: net.Socket): void {
    this.connections.push(new ScriptedConnection(this, this.connections.length + 1, socket));
    this.changed();
  }
}

type Handler = (conn: ScriptedConnection, el: Element) => void;

/** The default behaviour, keyed by `name` or `name namespace`. */
const HANDLERS: Record<string, Handler> = {
  [`starttls ${NS_TLS}`]: (conn) => conn.startTls(),
  [`auth ${NS_SASL}`]: (conn, el) => conn.authenticate(el),
  iq: (conn, el) => conn.handleIq(el),
  message: (conn, el) => conn.route(el),
  presence: (conn, el) => conn.route(el),
};

/** One client connection to the scripted server. */
export class ScriptedConnection {
  open = true;
  secured = false;
  /** The SASL user, once authenticated. */
  user: string | undefined;
  /** The bound full JID. */
  jid: string | undefined;
  /** The client sent `</stream:stream>`. */
  clientClosedStream = false;
  /** Received data is ignored and nothing is answered (a server gone silent); see mute(). */
  muted = false;
  /** Attributes of every stream header received (initial, after TLS, after each restart). */
  readonly headers: Record<string, string>[] = [];
  /** Top-level elements received on this connection. */
  readonly received: Received[] = [];
  /** Resolves when TCP is closed. */
  readonly closed: Promise<void>;
  private socket: net.Socket;
  private decoder = new StringDecoder('utf8');
  /** Any depth: tests send deep stanzas through the server to the CM, whose limit they test. */
  private readonly parser = new XmppStreamParser({ keepRaw: true, maxDepth: Infinity });
  private readonly timers = new Set<NodeJS.Timeout>();
  private streamCounter = 0;

  constructor(
    readonly server: ScriptedXmppServer,
    readonly id: number,
    socket: net.Socket,
  ) {
    this.socket = socket;
    let onClosed!: () => void;
    this.closed = new Promise((resolve) => (onClosed = resolve));
    socket.on('close', () => {
      this.open = false;
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      onClosed();
      server.changed();
    });
    this.listen(socket);
  }

  /** Writes raw XML to the client. */
  send(raw: string): void {
    if (this.open) this.socket.write(raw);
  }

  /** RFC 6120 §4.9: a stream error, our close tag, then TCP end. */
  sendStreamError(condition = 'internal-server-error', text?: string): void {
    const textEl = text === undefined ? '' : `<text xmlns='${NS_STREAM_ERRORS}'>${escapeText(text)}</text>`;
    this.send(`<stream:error><${condition} xmlns='${NS_STREAM_ERRORS}'/>${textEl}</stream:error></stream:stream>`);
    this.socket.end();
  }

  /** Sends `</stream:stream>` and ends TCP (a clean close by the server). */
  closeStream(): void {
    this.send('</stream:stream>');
    this.socket.end();
  }

  /** Writes raw bytes (for encodings the test breaks on purpose). */
  sendBytes(data: Buffer): void {
    if (this.open) this.socket.write(data);
  }

  /** From now on the connection stays open but the server reads nothing and answers nothing. */
  mute(): void {
    this.muted = true;
  }

  /** Drops TCP abruptly, with no closing tag. */
  drop(): void {
    this.socket.destroy();
  }

  /** The first element received on this connection (already or later) that matches. */
  waitForElement(match: (el: Element) => boolean, timeoutMs?: number): Promise<Received> {
    return this.server.waitUntil(() => this.received.find((r) => match(r.element)), `an element on connection #${this.id}`, timeoutMs);
  }

  // ---- protocol ------------------------------------------------------------------------

  private listen(socket: net.Socket): void {
    socket.on('data', (data: Buffer) => this.onText(this.decoder.write(data)));
    socket.on('error', () => socket.destroy());
  }

  private onText(text: string): void {
    if (text === '' || this.server.options.mute || this.muted) return;
    this.handle(this.parser.write(text));
  }

  private handle(chunk: StreamChunk): void {
    if (chunk.header) this.onStreamHeader(chunk.header.attrs);
    for (const [i, element] of chunk.elements.entries()) {
      if (!this.open) return;
      const received: Received = { connection: this, element, raw: chunk.raw![i]! };
      this.received.push(received);
      this.server.record(received);
      if (this.server.intercept?.(this, element, received.raw)) continue;
      const handler = HANDLERS[`${element.name} ${element.attrs.xmlns}`] ?? HANDLERS[element.name];
      if (handler) handler(this, element);
    }
    if (chunk.error) this.sendStreamError(chunk.error.condition);
    else if (chunk.end) {
      this.clientClosedStream = true;
      this.server.changed();
      if (this.server.options.answerClose ?? true) this.closeStream();
    }
  }

  private onStreamHeader(attrs: Record<string, string>): void {
    this.headers.push({ ...attrs });
    const header: Record<string, string> = {
      xmlns: 'jabber:client',
      'xmlns:stream': NS_STREAMS,
      id: `s${this.id}-${++this.streamCounter}`,
      from: this.server.domain,
      version: '1.0',
      'xml:lang': 'en',
    };
    this.send("<?xml version='1.0'?>" + startTag('stream:stream', header));
    if (attrs.to !== this.server.domain) {
      this.sendStreamError('host-unknown');
      return;
    }
    const features = this.features();
    const delay = this.server.featuresDelayMs;
    if (delay <= 0) this.send(features);
    else this.later(delay, () => this.send(features));
  }

  private features(): string {
    const policy = this.server.options.starttls ?? 'none';
    if (policy !== 'none' && !this.secured) {
      const starttls = `<starttls xmlns='${NS_TLS}'>${policy === 'required' ? '<required/>' : ''}</starttls>`;
      return `<stream:features>${starttls}${policy === 'required' ? '' : MECHANISMS}</stream:features>`;
    }
    if (!this.user) return `<stream:features>${MECHANISMS}</stream:features>`;
    return `<stream:features><bind xmlns='${NS_BIND}'/><session xmlns='${NS_SESSION}'><optional/></session></stream:features>`;
  }

  /** RFC 6120 §5.4.3.3: `<proceed/>`, then TLS on the same TCP connection; a new stream follows. */
  startTls(): void {
    const context = this.server.secureContext;
    if (!context || this.secured) {
      this.send(`<failure xmlns='${NS_TLS}'/></stream:stream>`);
      this.socket.end();
      return;
    }
    const plain = this.socket;
    plain.removeAllListeners('data');
    this.send(`<proceed xmlns='${NS_TLS}'/>`);
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: context });
    this.socket = secure;
    this.secured = true;
    this.decoder = new StringDecoder('utf8');
    this.parser.reset();
    this.listen(secure);
    secure.on('close', () => plain.destroy());
  }

  /** RFC 6120 §6.4, RFC 4616: SASL PLAIN with the configured users (or anyone). */
  authenticate(el: Element): void {
    if (el.attrs.mechanism !== 'PLAIN') {
      this.send(`<failure xmlns='${NS_SASL}'><invalid-mechanism/></failure>`);
      return;
    }
    const [, user = '', password = ''] = Buffer.from(el.text(), 'base64').toString('utf8').split('\0');
    const users = this.server.options.users;
    const ok = user !== '' && (users === undefined || users[user] === password);
    if (!ok) {
      this.send(`<failure xmlns='${NS_SASL}'><not-authorized/></failure>`);
      return;
    }
    this.user = user;
    this.send(`<success xmlns='${NS_SASL}'/>`);
    this.parser.reset(); // RFC 6120 §6.4.6: the client restarts the stream
  }

  handleIq(iq: Element): void {
    const to = iq.attrs.to;
    if (to !== undefined && to !== this.server.domain && to !== bare(this.jid ?? '')) {
      this.route(iq);
      return;
    }
    const type = iq.attrs.type;
    if (type === 'result' || type === 'error') return;
    const id = iq.attrs.id ?? '';
    const bind = iq.getChild('bind', NS_BIND);
    if (type === 'set' && bind && this.user && !this.jid) {
      const resource = bind.getChild('resource')?.text() || `r${this.id}`;
      this.jid = `${this.user}@${this.server.domain}/${resource}`;
      this.send(`<iq type='result' id='${attr(id)}'><bind xmlns='${NS_BIND}'><jid>${escapeText(this.jid)}</jid></bind></iq>`);
      this.server.changed();
      return;
    }
    if ((type === 'get' && iq.getChild('ping', NS_PING)) || (type === 'set' && iq.getChild('session', NS_SESSION))) {
      this.send(`<iq type='result' id='${attr(id)}' from='${attr(to ?? this.server.domain)}'/>`);
      return;
    }
    this.send(stanzaError(iq, 'service-unavailable', to ?? this.server.domain));
  }

  /**
   * Delivers a stanza to the server's own clients, stamped with the sender's JID: a full JID to
   * that connection, a bare JID (or an unknown resource, for messages) to all of its resources,
   * undirected presence to everyone bound, the sender included.
   */
  route(stanza: Element): void {
    if (!this.jid) return;
    const to = stanza.attrs.to;
    const bound = this.server.connections.filter((c) => c.open && c.jid !== undefined);
    let targets: ScriptedConnection[];
    if (to === undefined) targets = stanza.name === 'presence' ? bound : [];
    else {
      targets = bound.filter((c) => c.jid === to || bare(c.jid!) === to);
      if (targets.length === 0 && stanza.name === 'message') targets = bound.filter((c) => bare(c.jid!) === bare(to));
    }
    if (targets.length === 0) {
      if (stanza.name !== 'presence' && stanza.attrs.type !== 'error' && stanza.attrs.type !== 'result') {
        this.send(stanzaError(stanza, 'service-unavailable', to ?? this.server.domain));
      }
      return;
    }
    const copy = stanza.clone();
    copy.attrs = { ...copy.attrs, from: this.jid };
    const xml = copy.toString();
    for (const target of targets) target.send(xml);
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.open) action();
    }, ms);
    this.timers.add(timer);
  }
}

const MECHANISMS = `<mechanisms xmlns='${NS_SASL}'><mechanism>PLAIN</mechanism></mechanisms>`;

function bare(jid: string): string {
  const slash = jid.indexOf('/');
  return slash === -1 ? jid : jid.slice(0, slash);
}

/** RFC 6120 §8.3: the stanza back to its sender with type='error'. */
function stanzaError(stanza: Element, condition: string, from: string): string {
  const id = stanza.attrs.id === undefined ? '' : ` id='${attr(stanza.attrs.id)}'`;
  return `<${stanza.name} type='error'${id} from='${attr(from)}'><error type='cancel'><${condition} xmlns='${NS_STANZAS}'/></error></${stanza.name}>`;
}
