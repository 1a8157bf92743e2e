import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from '../log.js';
import { Deadline, type DeadlineOwner, type TimerHandle } from '../clock.js';
import { DEFAULT_MAX_DEPTH, Element, escapeAttr, startTag } from '../xml/element.js';
import { XmppStreamParser, type StreamChunk, type StreamHeader } from '../xml/stream-parser.js';
import { describeTlsError } from './diagnosis.js';
import { resolveTargets, type UpstreamTarget } from './srv.js';
import type { StreamInfo, Upstream, UpstreamEnd, UpstreamOptions, UpstreamSink } from './types.js';
import { Utf8Stream } from './utf8.js';
import { NS_BIND, NS_CLIENT, NS_PING, NS_SESSION, NS_STANZAS, NS_STREAM_ERRORS, NS_STREAMS, NS_TLS } from '../protocol/namespaces.js';


export const DEFAULT_PING_INTERVAL_MS = 60_000;
export const DEFAULT_PING_TIMEOUT_MS = 30_000;
/**
 * Ids of the CM's own pings: random per process, so no member's id can collide with one; the
 * answers are the CM's and never reach a member.
 */
const PING_ID_PREFIX = 'sbosh-ping-' + randomBytes(6).toString('hex') + '-';
let pingCounter = 0;
/** How long close() waits for the server's `</stream:stream>` before dropping TCP. */
export const CLOSE_WAIT_MS = 2000;
/**
 * D27: one read buffer for every plain-TCP upstream (net.Socket `onread`). Each read is decoded
 * to text before the next read can start, so no read needs bytes of its own; without it node
 * gives every read a new ArrayBuffer, which the young-generation GC then frees one by one. After
 * STARTTLS node reads into buffers of its own (a TLSSocket ignores `onread`).
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * - connecting: DNS and TCP; negotiating: stream header, STARTTLS, first usable features;
 * - open: the sink has the stream; closing: our `</stream:stream>` is sent; ended: onEnd was called.
 */
type State = 'connecting' | 'negotiating' | 'open' | 'closing' | 'ended';

/**
 * Opens one XMPP client stream (RFC 6120) to the server of `options.domain` and reports it to
 * `sink`. No sink callback runs before this function returns. Data given to send() before the
 * stream is open is queued and written, in order, right after the first usable features.
 */
export function openUpstream(options: UpstreamOptions, sink: UpstreamSink): Upstream {
  return new UpstreamStream(options, sink);
}

class UpstreamStream implements Upstream, DeadlineOwner {
  private state: State = 'connecting';
  private socket: net.Socket | undefined;
  private decoder = new Utf8Stream();
  private readonly parser: XmppStreamParser;
  private readonly log: Logger;
  private secured = false;
  private awaitingProceed = false;
  private info: StreamInfo | undefined;
  private streamPrefix = 'stream';
  /** `host:port` of the connected target, for error messages. */
  private server: string | undefined;
  /** send() calls made before the stream was open. */
  private queue: string[] = [];
  private connectTimer: TimerHandle | undefined;
  private closeTimer: TimerHandle | undefined;
  /**
   * Silence detection (one deadline per stream, armed once the stream is open): when it expires,
   * checkSilence() decides between nothing, a ping, and giving up. Reading data only writes
   * lastReceivedMs and clears replyDueSinceMs.
   */
  private silence: Deadline | undefined;
  private lastReceivedMs = 0;
  /** Since when the CM waits for any data: a login step written before binding, or a ping. */
  private replyDueSinceMs: number | undefined;
  private bound = false;
  /** A ping was sent on this connection: answers to PING_ID_PREFIX ids are filtered out. */
  private pinged = false;

  constructor(
    private readonly options: UpstreamOptions,
    private readonly sink: UpstreamSink,
  ) {
    this.log = options.logger.child(UPSTREAM_BINDINGS);
    this.parser = new XmppStreamParser({ maxElementChars: options.maxStanzaBytes, maxDepth: options.maxDepth });
    const timeoutMs = options.connectTimeoutMs ?? 15_000;
    this.connectTimer = options.clock.setTimeout(
      () => this.guarded('connect timeout', () => this.fail(new Error(`connecting to ${options.domain} timed out after ${timeoutMs} ms`))),
      timeoutMs,
    );
    this.connect().catch((err: unknown) => this.crashed('connect', err));
  }

  // ---- Upstream ------------------------------------------------------------------------

  send(xml: string): void {
    switch (this.state) {
      case 'connecting':
      case 'negotiating':
        this.queue.push(xml);
        break;
      case 'open':
        if (!this.bound && isLoginStep(xml)) this.awaitReply();
        this.socket!.write(xml);
        break;
      default:
        this.log.debug('send after close; dropped');
    }
  }

  markBound(): void {
    if (this.bound) return;
    this.bound = true;
    this.replyDueSinceMs = undefined;
    this.lastReceivedMs = this.options.clock.now();
    this.checkSilence();
  }

  // XEP-0206 §5: the old stream is gone; a new header on the same TCP connection.
  restart(): void {
    if (this.state !== 'open') {
      this.log.warn({ state: this.state }, 'restart requested while the stream is not open; ignored');
      return;
    }
    this.log.debug('stream restart: new stream header on the same connection');
    this.parser.reset();
    if (!this.bound) this.awaitReply();
    this.writeHeader();
  }

  close(): void {
    if (this.state === 'closing' || this.state === 'ended') return;
    if (this.state !== 'open') {
      this.log.info({ state: this.state }, 'closed before the stream was open; dropping the connection');
      this.end({ kind: 'closed' }, 'abort');
      return;
    }
    // RFC 6120 §4.4: send our close tag, then wait a little for the server's.
    this.setState('closing');
    this.socket!.write('</stream:stream>');
    this.closeTimer = this.options.clock.setTimeout(
      () =>
        this.guarded('close timeout', () => {
          this.log.info(`server did not close its stream within ${CLOSE_WAIT_MS} ms; dropping the connection`);
          this.end({ kind: 'closed' }, 'abort');
        }),
      CLOSE_WAIT_MS,
    );
  }

  // ---- connecting ----------------------------------------------------------------------

  private async connect(): Promise<void> {
    let targets: UpstreamTarget[];
    try {
      const resolved = await resolveTargets(this.options);
      targets = resolved.targets;
      if (this.log.isLevelEnabled('debug')) this.log.debug({ source: resolved.source, srvError: resolved.srvError, targets: targets.map(hostPort) }, 'upstream targets resolved');
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    let lastError: Error | undefined;
    for (const target of targets) {
      if (this.state !== 'connecting') return; // closed or timed out meanwhile
      try {
        // The target's text is built once per attempt and only when a line or an error needs it.
        if (this.log.isLevelEnabled('debug')) this.log.debug({ target: hostPort(target) }, 'connecting');
        const socket = await this.tryConnect(target);
        if (this.state !== 'connecting') return;
        this.server = hostPort(target);
        this.log.debug({ target: this.server }, 'TCP connected; opening the stream');
        this.attach(socket);
        this.setState('negotiating');
        this.writeHeader();
        return;
      } catch (err) {
        lastError = err as Error;
        if (this.state === 'connecting') this.log.warn({ target: hostPort(target), err: lastError.message }, 'TCP connect failed; trying the next target');
      }
    }
    this.fail(new Error(`could not connect to ${this.options.domain}: ${lastError?.message ?? 'no targets'}`));
  }

  /** One TCP attempt; this.socket holds it meanwhile so that end() can abort it. */
  private tryConnect(target: UpstreamTarget): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: target.host, port: target.port, onread: { buffer: READ_BUFFER, callback: this.onRead } });
      this.socket = socket;
      const done = (err?: Error) => {
        socket.off('connect', onConnect).off('error', onError).off('close', onClose);
        if (err) {
          socket.destroy();
          if (this.socket === socket) this.socket = undefined;
          reject(err);
        } else {
          resolve(socket);
        }
      };
      const onConnect = () => done();
      const onError = (err: Error) => done(err);
      const onClose = () => done(new Error('connection closed while connecting'));
      socket.once('connect', onConnect).once('error', onError).once('close', onClose);
    });
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', this.onData); // a TLS socket's reads; a plain one's arrive through `onread`
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
  }

  private detach(socket: net.Socket): void {
    socket.off('data', this.onData).off('error', this.onSocketError).off('close', this.onSocketClose);
  }

  private writeHeader(): void {
    const o = this.options;
    const attrs: Record<string, string> = { xmlns: NS_CLIENT, 'xmlns:stream': NS_STREAMS, to: o.domain, version: o.version ?? '1.0' };
    if (o.lang !== undefined) attrs['xml:lang'] = o.lang;
    if (o.from !== undefined) attrs.from = o.from;
    this.socket!.write("<?xml version='1.0'?>" + startTag('stream:stream', attrs));
  }

  // ---- inbound -------------------------------------------------------------------------

  /**
   * D27: `n` bytes of a plain socket's read are in READ_BUFFER. One function per stream, not a
   * closure per connect: that one would keep tryConnect's whole scope (its promise included)
   * alive for the connection's life, about 0.7 KiB per session.
   */
  private readonly onRead = (n: number): boolean => {
    // Once TLS has the connection its reads arrive as 'data' of the TLS socket.
    if (!(this.socket instanceof tls.TLSSocket)) this.onData(READ_BUFFER.subarray(0, n));
    return true; // keep reading
  };

  private readonly onData = (data: Buffer): void => {
    if (this.state === 'ended') return;
    // guarded(), inlined: no closure per read on the hot path.
    try {
      this.read(data);
    } catch (err) {
      this.crashed('data', err);
    }
  };

  private read(data: Buffer): void {
    // Any data at all shows the server is alive (a ping's answer, a whitespace keepalive, ...).
    this.replyDueSinceMs = undefined;
    if (this.bound) this.lastReceivedMs = this.options.clock.now();
    const text = this.decoder.write(data);
    if (text === undefined) {
      // RFC 6120 §11.6, §4.9.3.22: the stream must be UTF-8; the error is the server's.
      this.refuse('unsupported-encoding', 'the server sent bytes that are not UTF-8');
      return;
    }
    if (text !== '') this.handle(this.parser.write(text));
  }

  private handle(chunk: StreamChunk): void {
    if (chunk.header) this.onHeader(chunk.header);
    if (chunk.dropped) for (const el of chunk.dropped) this.tooDeep(el);
    const batch: Element[] = [];
    for (const el of chunk.elements) {
      if (this.state === 'ended') return;
      if (this.isStreamElement(el, 'error')) {
        this.deliver(batch);
        this.onStreamError(el);
        return;
      }
      if (this.state === 'negotiating') this.negotiate(el, batch);
      else if (this.pinged && isPingAnswer(el)) this.log.debug({ type: el.attrs.type }, 'ping answered');
      else batch.push(this.isStreamElement(el, 'features') ? withoutStarttls(el) : el);
    }
    this.deliver(batch);
    if (this.state === 'ended') return;
    if (chunk.error) {
      this.refuse(chunk.error.condition, `bad XML from the server (${chunk.error.condition}): ${chunk.error.message}`);
    } else if (chunk.end) {
      if (this.state === 'open') this.socket!.write('</stream:stream>'); // RFC 6120 §4.4: close ours too
      this.lose(new Error('the server closed the stream'), 'graceful');
    }
  }

  /** RFC 6120 §4.9: the server broke the stream's rules; tell it why we leave, then leave. */
  private refuse(condition: string, message: string): void {
    this.options.counters?.streamErrorSent(condition);
    if (this.state === 'open') this.socket!.write(`<stream:error><${condition} xmlns='${NS_STREAM_ERRORS}'/></stream:error></stream:stream>`);
    this.lose(new Error(message), 'graceful');
  }

  /**
   * RFC 6120 §13.12 (resource exhaustion): an element nested deeper than maxDepth was not built.
   * It is logged and counted, and its sender learns it was not delivered (an IQ request must
   * get an answer; a message error is the usual bounce); the stream goes on. Ending the stream
   * instead would let anyone on the network disconnect a user with one message.
   */
  private tooDeep(el: Element): void {
    const { type, id, from } = el.attrs;
    const maxDepth = this.options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.options.counters?.dropped('too-deep');
    this.log.warn({ element: el.name, type, id, from, maxDepth }, 'stanza from the server nested too deep; dropped');
    if (this.state !== 'open' || type === 'error' || type === 'result') return;
    if (el.name !== 'message' && !(el.name === 'iq' && (type === 'get' || type === 'set'))) return;
    let reply = `<${el.name} type='error'`;
    if (id !== undefined) reply += ` id='${escapeAttr(id)}'`;
    if (from !== undefined) reply += ` to='${escapeAttr(from)}'`;
    reply += `><error type='modify'><policy-violation xmlns='${NS_STANZAS}'/>`;
    reply += `<text xmlns='${NS_STANZAS}'>nested deeper than ${maxDepth} levels; not delivered</text></error></${el.name}>`;
    this.socket!.write(reply);
  }

  private deliver(batch: Element[]): void {
    if (batch.length === 0 || this.state === 'ended') return;
    if (this.log.isLevelEnabled('trace')) this.log.trace({ elements: batch.map((el) => el.name) }, 'elements received');
    this.sink.onElements(batch);
  }

  private onHeader(header: StreamHeader): void {
    const colon = header.name.indexOf(':');
    this.streamPrefix = colon === -1 ? '' : usual(header.name.slice(0, colon), 'stream');
    // RFC 6120 §4.7.5: no version attribute means 0.9. The usual values are kept as the one
    // string every stream shares, not as a string of each header's own.
    const { id, from, version } = header.attrs;
    this.info = { id: id ?? '', from: from === undefined ? '' : usual(from, this.options.domain), version: version === undefined ? '0.9' : usual(version, '1.0') };
    this.log.debug({ id: this.info.id, version: this.info.version }, 'stream header received');
    // While negotiating, the owner hears of the stream only with its first usable features.
    if (this.state === 'open') this.sink.onStreamOpen(this.info);
  }

  /** RFC 6120 §5.4: STARTTLS (D22: the CM negotiates it whenever offered, unless tls is 'off'). */
  private negotiate(el: Element, batch: Element[]): void {
    if (this.awaitingProceed) {
      if (el.name === 'proceed' && el.attrs.xmlns === NS_TLS) this.upgrade();
      else if (el.name === 'failure' && el.attrs.xmlns === NS_TLS) this.fail(new Error(`${this.options.domain} refused STARTTLS`));
      else this.fail(new Error(`unexpected <${el.name}/> while waiting for STARTTLS <proceed/>`));
      return;
    }
    if (!this.isStreamElement(el, 'features')) {
      this.log.debug({ element: el.name }, 'element before stream features; ignored');
      return;
    }
    const starttls = el.getChild('starttls', NS_TLS);
    const policy = this.options.tls;
    if (!this.secured) {
      if (starttls && policy !== 'off') {
        this.log.debug('server offers STARTTLS; negotiating');
        this.awaitingProceed = true;
        this.socket!.write(`<starttls xmlns='${NS_TLS}'/>`);
        return;
      }
      if (starttls?.getChild('required')) {
        this.fail(new Error(`${this.options.domain} requires STARTTLS but TLS is configured off`));
        return;
      }
      if (policy === 'required') {
        this.fail(new Error(`${this.options.domain} does not offer STARTTLS and TLS is required`));
        return;
      }
      // tls: 'off' is the operator's choice, warned about once when the config is loaded; a
      // server that offers no STARTTLS under 'optional' is news, worth a warning per stream.
      if (policy === 'off') this.log.debug({ tls: policy }, 'stream is not encrypted');
      else this.log.warn({ tls: policy }, 'server offers no STARTTLS; stream is not encrypted');
    }
    this.opened(withoutStarttls(el), batch);
  }

  private opened(features: Element, batch: Element[]): void {
    this.connectTimer?.cancel();
    this.connectTimer = undefined;
    this.setState('open');
    this.log.debug({ id: this.info?.id, version: this.info?.version, secured: this.secured, queued: this.queue.length }, 'stream open');
    if (this.queue.length > 0) this.socket!.write(this.queue.join(''));
    this.queue = [];
    this.sink.onStreamOpen(this.info!);
    batch.push(features);
  }

  private upgrade(): void {
    this.awaitingProceed = false;
    const plain = this.socket!;
    this.detach(plain);
    plain.on('error', (err) => this.log.debug({ err: err.message }, 'TCP error under TLS'));
    const { domain, ca, insecure } = this.options;
    if (insecure) this.log.warn('upstream certificate verification is disabled (insecure)');
    const secure = tls.connect({
      socket: plain,
      host: domain, // the name the certificate must match (checkServerIdentity)
      servername: net.isIP(domain) ? undefined : domain, // SNI does not take IP addresses
      ca: ca === undefined ? undefined : [...tls.rootCertificates, ca.toString()],
      rejectUnauthorized: !insecure,
    });
    // A new stream over TLS: fresh decoder and parser, then a new header (RFC 6120 §5.4.3.3).
    this.decoder = new Utf8Stream();
    this.parser.reset();
    this.attach(secure);
    secure.once('secureConnect', () =>
      this.guarded('TLS established', () => {
        if (this.state !== 'negotiating') return;
        this.secured = true;
        this.log.info({ protocol: secure.getProtocol(), authorized: secure.authorized }, 'TLS established; restarting the stream');
        this.writeHeader();
      }),
    );
  }

  private onStreamError(el: Element): void {
    const condition = el.elements().find((c) => c.attrs.xmlns === NS_STREAM_ERRORS)?.name ?? 'unknown';
    if (this.state === 'closing') {
      this.log.info({ condition }, 'stream error while closing');
      this.end({ kind: 'closed' }, 'abort');
      return;
    }
    this.log.warn({ condition }, 'server sent a stream error; the stream is gone');
    this.socket!.write('</stream:stream>'); // RFC 6120 §4.9.1.1: both sides close the stream
    this.end({ kind: 'stream-error', error: el }, 'graceful');
  }

  private readonly onSocketError = (err: Error): void => {
    if (this.state === 'ended') return;
    const duringTls = this.awaitingProceed || (this.socket instanceof tls.TLSSocket && !this.secured);
    const error = duringTls ? new Error(describeTlsError(err, { domain: this.options.domain, server: this.server })) : new Error(err.message);
    this.guarded('socket error', () => this.lose(error));
  };

  private readonly onSocketClose = (): void => {
    if (this.state === 'ended') return;
    this.guarded('socket close', () => this.lose(new Error('connection closed by the server')));
  };

  // ---- silence (XEP-0199) --------------------------------------------------------------

  /** Before binding: the login step the CM just wrote must be answered within pingTimeoutMs. */
  private awaitReply(): void {
    if (this.replyDueSinceMs !== undefined) return;
    this.replyDueSinceMs = this.options.clock.now();
    this.checkSilence();
  }

  /**
   * The one place that decides about silence: an answer overdue ends the stream; on a bound
   * stream idle for pingIntervalMs, a ping (XEP-0199 §4.2, client-to-server) makes the server
   * answer; otherwise the deadline moves to when something could next be due.
   */
  private checkSilence(): void {
    if (this.state !== 'open') return;
    const clock = this.options.clock;
    const timeoutMs = this.options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
    const intervalMs = this.options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    const now = clock.now();
    const silence = (this.silence ??= new Deadline(clock, this));
    if (this.replyDueSinceMs !== undefined) {
      const dueAt = this.replyDueSinceMs + timeoutMs;
      if (now < dueAt) silence.setAt(dueAt);
      else this.silent(timeoutMs);
      return;
    }
    if (!this.bound || intervalMs === 0) return;
    const pingAt = this.lastReceivedMs + intervalMs;
    if (now < pingAt) {
      silence.setAt(pingAt);
      return;
    }
    const id = PING_ID_PREFIX + ++pingCounter;
    this.log.debug({ idleMs: now - this.lastReceivedMs }, 'nothing received for a while; pinging the server');
    this.pinged = true;
    this.socket!.write(`<iq type='get' to='${escapeAttr(this.options.domain)}' id='${id}'><ping xmlns='${NS_PING}'/></iq>`);
    this.replyDueSinceMs = now;
    silence.setAt(now + timeoutMs);
  }

  /** The silence deadline expired (DeadlineOwner: no closure kept per stream). */
  deadlineExpired(): void {
    this.guarded('silence check', () => this.checkSilence());
  }

  private silent(timeoutMs: number): void {
    const what = this.bound ? 'a ping' : 'a login step';
    this.log.warn({ timeoutMs }, `no answer from the server to ${what}; the connection counts as lost`);
    this.options.counters?.streamErrorSent('connection-timeout');
    // RFC 6120 §4.9.3.4: we believe the server can no longer communicate over this stream.
    this.socket!.write(`<stream:error><connection-timeout xmlns='${NS_STREAM_ERRORS}'/></stream:error></stream:stream>`);
    this.lose(new Error(`the server sent nothing for ${timeoutMs} ms after ${what}`), 'abort');
  }

  // ---- faults --------------------------------------------------------------------------

  /** Runs the handling of one event: an exception in it ends this stream, never the process. */
  private guarded(event: string, run: () => void): void {
    try {
      run();
    } catch (err) {
      this.crashed(event, err);
    }
  }

  /**
   * An unexpected exception (a bug here or in the sink): the stream's state is unknown, so it
   * ends with internal-server-error for the server and `failed` for the sink; other streams and
   * the process go on. Logged with its stack.
   */
  private crashed(event: string, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.log.error({ err: error, event, state: this.state }, 'unexpected exception handling the upstream stream; ending this stream');
    if (this.state === 'ended') return; // it came from onEnd: the sink has been told already
    try {
      this.options.counters?.streamErrorSent('internal-server-error');
      if (this.socket && this.state === 'open') {
        this.socket.write(`<stream:error><internal-server-error xmlns='${NS_STREAM_ERRORS}'/></stream:error></stream:stream>`);
      }
      this.end({ kind: 'failed', error }, 'graceful');
    } catch (again) {
      this.log.error({ err: again, event }, 'a second exception while ending the upstream stream; it is dropped');
      this.setState('ended');
      this.socket?.destroy();
    }
  }

  // ---- ending --------------------------------------------------------------------------

  /** The connection is gone or unusable: how that is reported depends on the state. */
  private lose(error: Error, release: 'graceful' | 'abort' = 'abort'): void {
    switch (this.state) {
      case 'connecting':
      case 'negotiating':
        this.fail(error);
        break;
      case 'open':
        this.log.warn({ err: error.message }, 'upstream connection lost');
        this.end({ kind: 'lost', error }, release);
        break;
      case 'closing':
        this.log.debug({ reason: error.message }, 'stream closed');
        this.end({ kind: 'closed' }, release);
        break;
      case 'ended':
        break;
    }
  }

  private fail(error: Error): void {
    if (this.state === 'ended') return;
    this.log.warn({ err: error.message }, 'could not open the upstream stream');
    this.end({ kind: 'connect-failed', error }, 'abort');
  }

  /** The one way out: stops timers, releases the socket, then tells the sink (exactly once). */
  private end(result: UpstreamEnd, release: 'graceful' | 'abort'): void {
    if (this.state === 'ended') return;
    this.setState('ended');
    this.connectTimer?.cancel();
    this.closeTimer?.cancel();
    this.silence?.cancel();
    this.connectTimer = this.closeTimer = this.silence = undefined;
    this.queue = [];
    const socket = this.socket;
    if (socket) {
      // Our listeners stay (they return early once ended) so that a late 'error' is not unhandled.
      if (release === 'graceful') socket.end(() => socket.destroy());
      else socket.destroy();
    }
    this.sink.onEnd(result);
  }

  private setState(state: State): void {
    this.log.debug({ from: this.state, to: state }, 'state');
    this.state = state;
  }

  private isStreamElement(el: Element, local: string): boolean {
    if (this.streamPrefix !== '' && el.name === this.streamPrefix + ':' + local) return true;
    return el.localName === local && el.attrs[el.prefix === '' ? 'xmlns' : 'xmlns:' + el.prefix] === NS_STREAMS;
  }
}

/** The bindings of every upstream stream's log child (one object for all). */
const UPSTREAM_BINDINGS = { component: 'upstream' };

/** `shared` when `value` equals it: a stream keeps the one copy every stream shares. */
function usual(value: string, shared: string): string {
  return value === shared ? shared : value;
}

/**
 * Whether a write before binding is a login step the server must answer: a SASL step (RFC 6120
 * §6.4, XEP-0388) or a bind or session request (RFC 6120 §7, §8.2.3). Only those arm the reply
 * deadline: a client that binds in a way the link does not recognize (XEP-0386 Bind2) and then
 * sends messages, which have no answer, is never taken for a silent server.
 */
function isLoginStep(xml: string): boolean {
  return /^<(?:auth|response|authenticate)[\s>/]/.test(xml) || (xml.startsWith('<iq') && (xml.includes(NS_BIND) || xml.includes(NS_SESSION)));
}

/** An answer to one of the CM's own pings (never for a member). */
function isPingAnswer(el: Element): boolean {
  const { type, id } = el.attrs;
  return el.name === 'iq' && (type === 'result' || type === 'error') && id !== undefined && id.startsWith(PING_ID_PREFIX);
}

/** D22, X-15: the client never sees `<starttls/>`; the CM negotiates TLS itself. */
function withoutStarttls(features: Element): Element {
  if (!features.getChild('starttls', NS_TLS)) return features;
  return new Element(
    features.name,
    features.attrs,
    features.children.filter((c) => typeof c === 'string' || c.name !== 'starttls' || c.attrs.xmlns !== NS_TLS),
  );
}

function hostPort(t: UpstreamTarget): string {
  return net.isIPv6(t.host) ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}
