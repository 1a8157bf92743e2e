import { readFileSync } from 'node:fs';
import { createServer, type OutgoingHttpHeaders } from 'node:http';
import { createSecureServer, type ServerHttp2Session } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import type { BoshExchange, BoshReply, BoshRequestHandler, ExchangeWatcher } from '../bosh/exchange.js';
import { BoshError } from '../bosh/conditions.js';
import { DEFAULT_CONTENT_TYPE, SESSIONLESS, terminalReply } from '../bosh/response.js';
import type { CmConfig, HttpTlsConfig } from '../config.js';
import type { Logger } from '../log.js';
import { readBody, discardRest } from './body-reader.js';
import { compress, compressSync, negotiateEncoding, requestCoding, ASYNC_COMPRESS_BYTES, type ContentCoding } from './compression.js';
import { corsForPreflight, corsForRequest } from './cors.js';
import { abortRequest, isHttp2, responseGone, type HttpRequest, type HttpResponse } from './messages.js';

/** The CM's HTTP side: one BOSH endpoint on `http.path`. */
export interface BoshHttpServer {
  /**
   * Binds `http.host:http.port` (port 0: any free port); resolves with the bound address and the
   * BOSH URL (`https://` with `http.tls`).
   */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /**
   * Stops accepting connections, closes idle keep-alive sockets, sends GOAWAY on every HTTP/2
   * session, waits for replies still owed (held requests) up to `closeTimeoutMs`, then closes
   * every remaining connection.
   */
  close(): Promise<void>;
}

export interface HttpServerOptions {
  /** Serves `http.metricsPath` (GET) with this page (Prometheus text format). */
  metrics?: { contentType: string; render(): Promise<string> };
  /** How long close() waits for requests still in flight. @default 5000 */
  closeTimeoutMs?: number;
  /** Bytes read and dropped after an oversized or refused body before the socket is destroyed. @default 1048576 */
  discardBytes?: number;
}

const ALLOW = 'GET, HEAD, POST, OPTIONS';
/**
 * Streams one HTTP/2 connection may carry at once. A browser puts every tab of an origin on one
 * connection, and each tab holds one or two BOSH requests (`hold` + 1), so 256 leaves room for
 * ~100 tabs; node's default (unlimited, 2^32-1) is no bound at all.
 */
const MAX_CONCURRENT_STREAMS = 256;
const BAD_REQUEST_BODY = terminalReply(new BoshError('bad-request'), SESSIONLESS).body;
const INTERNAL_ERROR_BODY = terminalReply(new BoshError('internal-server-error'), SESSIONLESS).body;
const PAGE = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>shared-bosh</title></head>
<body><p>This is a BOSH endpoint (XEP-0124, XEP-0206) of shared-bosh, an XMPP connection manager.</p>
<p>Point your XMPP client's BOSH URL here; it answers HTTP POST requests.</p></body></html>
`;

/**
 * The only module that touches node:http/https/http2 (data flows http/ -> bosh/). Every POST to
 * `http.path` becomes one BoshExchange for `handler`; everything else is answered here.
 *
 * Without `http.tls`: plain HTTP/1.1. With it: HTTPS, and with `http.http2` (the default) HTTP/2
 * and HTTP/1.1 on the same port, chosen by ALPN. Both protocols go through the same code below.
 */
export function createHttpServer(
  config: CmConfig,
  handler: BoshRequestHandler,
  logger: Logger,
  options: HttpServerOptions = {},
): BoshHttpServer {
  const log = logger.child({ component: 'http' });
  const closeTimeoutMs = options.closeTimeoutMs ?? 5000;
  const discardBytes = options.discardBytes ?? 1_048_576;
  const paths = endpointPaths(config.http.path);
  /** POSTs not yet closed, with their exchange, so that its watcher hears of a client gone (D24). */
  const inFlight = new Map<HttpResponse, PostExchange>();
  /** A response's 'close' listener (one function for all: `this` is the response). */
  const untrack = function (this: HttpResponse): void {
    const exchange = inFlight.get(this);
    inFlight.delete(this);
    exchange?.connectionClosed();
  };
  const replies: ReplySender = { log, sendBosh };
  let closing = false;
  let closed: Promise<void> | undefined;

  const onRequest = (req: HttpRequest, res: HttpResponse): void => {
    try {
      route(req, res);
    } catch (err) {
      log.error({ err }, 'request handling failed; closing the connection');
      res.destroy();
    }
  };
  const { server, scheme, protocols } = createNodeServer(config, onRequest);
  const connections = trackConnections(server, scheme);
  server.on('tlsClientError', (err: Error) => log.debug({ err }, 'TLS handshake with a client failed'));
  server.on('sessionError', (err: Error) => log.debug({ err }, 'HTTP/2 session error'));

  function route(req: HttpRequest, res: HttpResponse): void {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const pathname = query < 0 ? url : url.slice(0, query);
    if (options.metrics && config.http.metricsPath && pathname === config.http.metricsPath && (req.method === 'GET' || req.method === 'HEAD')) {
      const page = options.metrics;
      page.render().then(
        (text) => send(res, 200, { 'Content-Type': page.contentType }, Buffer.from(text)),
        () => sendText(req, res, 500, 'metrics unavailable\n'),
      );
      return;
    }
    if (!paths.has(pathname)) return sendText(req, res, 404, 'Not Found\n');
    switch (req.method) {
      case 'POST':
        onPost(req, res).catch((err: unknown) => {
          log.error({ err }, 'POST handling failed; closing the connection');
          res.destroy();
        });
        return;
      case 'GET':
      case 'HEAD':
        return send(res, 200, { 'Content-Type': 'text/html; charset=utf-8' }, Buffer.from(PAGE));
      case 'OPTIONS':
        return onOptions(req, res);
      default:
        return sendText(req, res, 405, 'Method Not Allowed\n', { Allow: ALLOW });
    }
  }

  function onOptions(req: HttpRequest, res: HttpResponse): void {
    const origin = header(req, 'origin');
    const cors = corsForPreflight(
      {
        origin,
        requestHeaders: header(req, 'access-control-request-headers'),
        requestPrivateNetwork: header(req, 'access-control-request-private-network'),
      },
      config.cors,
    );
    if (!cors.allowed) {
      log.info({ origin, remoteAddress: remoteAddressOf(req) }, 'CORS preflight from a foreign Origin refused (403)');
      return sendText(req, res, 403, 'Origin not allowed\n');
    }
    send(res, 204, { Allow: ALLOW, ...cors.headers }, undefined);
  }

  async function onPost(req: HttpRequest, res: HttpResponse): Promise<void> {
    const origin = header(req, 'origin');
    const remoteAddress = remoteAddressOf(req);
    const cors = corsForRequest(origin, config.cors);
    if (!cors.allowed) {
      // A foreign page must not reach the BOSH layer: no session, no rate-limit tokens spent.
      log.info({ origin, remoteAddress }, 'POST from a foreign Origin refused (403); not passed to the BOSH layer');
      return sendText(req, res, 403, 'Origin not allowed\n');
    }
    const exchange = new PostExchange(replies, req, res, remoteAddress, origin, isSecure(req), header(req, 'accept-encoding'), cors.headers);
    inFlight.set(res, exchange);
    res.on('close', untrack);

    // B-07: the request's Content-Type is ignored; only Content-Encoding matters (B-38).
    const coding = requestCoding(header(req, 'content-encoding'));
    if (coding === 'unsupported') {
      log.info(exchange.logFields({ contentEncoding: header(req, 'content-encoding') }), 'request body in an unsupported Content-Encoding; answered bad-request');
      exchange.send({ status: 200, contentType: DEFAULT_CONTENT_TYPE, body: BAD_REQUEST_BODY }, true);
      discardRest(req, discardBytes);
      return;
    }

    const result = await readBody(req, coding, { maxBytes: config.http.maxBodyBytes, discardBytes });
    switch (result.kind) {
      case 'aborted':
        log.debug(exchange.logFields({}), 'client went away before its request body was complete');
        return;
      case 'corrupt':
        log.info(exchange.logFields({ coding, error: result.error.message }), 'request body could not be decoded; answered bad-request');
        exchange.send({ status: 200, contentType: DEFAULT_CONTENT_TYPE, body: BAD_REQUEST_BODY }, true);
        return;
      case 'oversized':
        log.warn(exchange.logFields({ maxBodyBytes: config.http.maxBodyBytes, coding }), 'request body over http.maxBodyBytes; passed on as oversized');
        exchange.body = result.head.toString('utf8');
        exchange.oversized = true;
        break;
      case 'complete':
        exchange.body = result.body.toString('utf8');
        break;
    }

    try {
      handler.handle(exchange);
    } catch (err) {
      log.error(exchange.logFields({ err }), 'BOSH handler threw; answered internal-server-error');
      if (!exchange.replied) exchange.send({ status: 200, contentType: DEFAULT_CONTENT_TYPE, body: INTERNAL_ERROR_BODY });
    }
  }

  /**
   * B-05: always Content-Length, never chunked. B-06: gzip/deflate when the client accepts it
   * and the body reaches `http.compressMinBytes`. B-10: no caching of BOSH responses.
   */
  function sendBosh(
    res: HttpResponse,
    answer: BoshReply,
    acceptEncoding: string | undefined,
    corsHeaders: Record<string, string>,
    connectionClose: boolean,
  ): void {
    if (responseGone(res)) {
      log.debug({ status: answer.status }, 'client went away before its reply; reply dropped');
      return;
    }
    const headers: OutgoingHttpHeaders = {
      ...corsHeaders,
      'Content-Type': answer.contentType,
      'Cache-Control': 'no-store',
      Vary: corsHeaders.Vary ? `Accept-Encoding, ${corsHeaders.Vary}` : 'Accept-Encoding',
    };
    // HTTP/2 has no Connection header (RFC 9113 §8.2.2); discardRest resets the stream instead.
    if (connectionClose && !isHttp2(res)) headers.Connection = 'close';
    const length = Buffer.byteLength(answer.body, 'utf8');
    const coding = length >= config.http.compressMinBytes ? negotiateEncoding(acceptEncoding) : undefined;
    // Uncompressed, the body goes out as a string: node:http then writes headers and body with
    // one write instead of a writev of two buffers.
    if (coding === undefined) return send(res, answer.status, headers, answer.body, length);
    const raw = Buffer.from(answer.body, 'utf8');
    if (raw.length < ASYNC_COMPRESS_BYTES) {
      return send(res, answer.status, { ...headers, 'Content-Encoding': coding }, compressSync(raw, coding));
    }
    compressLarge(res, answer.status, headers, raw, coding);
  }

  function compressLarge(res: HttpResponse, status: number, headers: OutgoingHttpHeaders, raw: Buffer, coding: ContentCoding): void {
    compress(raw, coding).then(
      (compressed) => send(res, status, { ...headers, 'Content-Encoding': coding }, compressed),
      (err: unknown) => {
        log.warn({ err, coding }, 'response compression failed; sent uncompressed');
        send(res, status, headers, raw);
      },
    );
  }

  function send(res: HttpResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer | string | undefined, length?: number): void {
    if (responseGone(res) || res.headersSent) return;
    // B-05: a length on every reply that may have a body (RFC 9110 §8.6: none on a 204); over
    // HTTP/2 too, where it is the DATA frames' total.
    const bytes = length ?? (body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length);
    const all: OutgoingHttpHeaders = status === 204 ? { ...headers } : { ...headers, 'Content-Length': bytes };
    // While closing, HTTP/1.1 connections end after their reply; HTTP/2 sessions got GOAWAY.
    if (closing && !isHttp2(res)) all.Connection = 'close';
    res.writeHead(status, all);
    if (body === undefined) res.end();
    else if (typeof body === 'string') res.end(body, 'utf8');
    else res.end(body);
  }

  /** A short text answer for anything that is not a BOSH request; an unread body is dropped. */
  function sendText(req: HttpRequest, res: HttpResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
    const unread = !req.complete;
    const close = unread && !isHttp2(res) ? { Connection: 'close' } : {};
    send(res, status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers, ...close }, Buffer.from(text));
    if (unread) discardRest(req, discardBytes);
  }

  function remoteAddressOf(req: HttpRequest): string {
    if (config.http.trustProxy) {
      // The last hop is the address our own reverse proxy saw; earlier ones are client-supplied.
      const forwarded = header(req, 'x-forwarded-for')?.split(',').pop()?.trim();
      if (forwarded) return unmapIPv4(forwarded);
    }
    return unmapIPv4(req.socket.remoteAddress ?? '');
  }

  function isSecure(req: HttpRequest): boolean {
    // HTTP/2: `req.socket` stands for the session's TLS socket.
    if ((req.socket as TLSSocket).encrypted === true) return true;
    if (!config.http.trustProxy) return false;
    return header(req, 'x-forwarded-proto')?.split(',').pop()?.trim().toLowerCase() === 'https';
  }

  return {
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(new Error(`cannot listen on ${config.http.host}:${config.http.port}: ${err.message}`, { cause: err }));
        server.once('error', onError);
        server.listen(config.http.port, config.http.host, () => {
          server.off('error', onError);
          server.on('error', (err) => log.error({ err }, 'HTTP server error'));
          const address = server.address() as AddressInfo;
          const host = config.http.host;
          const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${address.port}${config.http.path}`;
          log.info({ host, port: address.port, url, protocols }, 'listening for BOSH requests');
          resolve({ host, port: address.port, url });
        });
      });
    },
    close() {
      if (closed) return closed;
      closing = true;
      closed = new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        let hardStop: NodeJS.Timeout | undefined;
        server.close(() => {
          clearTimeout(hardStop);
          resolve();
        });
        connections.closeIdle();
        const deadline = Date.now() + closeTimeoutMs;
        const poll = (): void => {
          const now = Date.now();
          if (inFlight.size === 0 || now >= deadline) {
            if (inFlight.size > 0) log.warn({ requests: inFlight.size }, 'closing connections with requests still unanswered');
            connections.closeHttp1();
            // HTTP/2 sessions close by themselves once their last stream is done; bounded here.
            if (now >= deadline) connections.destroyAll();
            else hardStop = setTimeout(() => connections.destroyAll(), deadline - now).unref();
            return;
          }
          setTimeout(poll, 10).unref();
        };
        poll();
      });
      return closed;
    },
  };
}

/** What a PostExchange needs of its server. */
interface ReplySender {
  log: Logger;
  sendBosh(res: HttpResponse, answer: BoshReply, acceptEncoding: string | undefined, corsHeaders: Record<string, string>, connectionClose: boolean): void;
}

/**
 * One POST as the BOSH layer sees it. An object rather than closures over onPost: a held
 * request keeps it for up to `wait` seconds, and closures with their context cost ~0.3 KiB more.
 */
class PostExchange implements BoshExchange {
  body = '';
  oversized = false;
  replied = false;
  gone = false;
  watcher: ExchangeWatcher | undefined = undefined;

  constructor(
    private readonly server: ReplySender,
    private readonly req: HttpRequest,
    private readonly res: HttpResponse,
    readonly remoteAddress: string,
    readonly origin: string | undefined,
    readonly secure: boolean,
    private readonly acceptEncoding: string | undefined,
    private readonly corsHeaders: Record<string, string>,
  ) {}

  // An oversized request may still be uploading: close the connection after the reply.
  reply(answer: BoshReply): void {
    this.send(answer, this.oversized);
  }

  drop(): void {
    this.replied = true;
    abortRequest(this.req);
  }

  /**
   * The response closed: after its reply, or because the client went away before it (HTTP/1.1
   * connection closed, HTTP/2 stream reset). In the second case the watcher drops the request (D24).
   */
  connectionClosed(): void {
    if (this.replied) return;
    this.replied = true;
    this.gone = true;
    const watcher = this.watcher;
    this.watcher = undefined;
    watcher?.exchangeGone(this);
  }

  /** The one reply to this request; `connectionClose` ends an HTTP/1.1 connection after it. */
  send(answer: BoshReply, connectionClose = false): void {
    if (this.gone) return;
    if (this.replied) {
      this.server.log.warn(this.logFields({ status: answer.status }), 'second reply to one request ignored');
      return;
    }
    this.replied = true;
    this.server.sendBosh(this.res, answer, this.acceptEncoding, this.corsHeaders, connectionClose);
  }

  logFields(extra: Record<string, unknown>): Record<string, unknown> {
    return { remoteAddress: this.remoteAddress, origin: this.origin, ...extra };
  }
}

/** The configured path, and the same with or without a trailing slash (clients differ). */
function endpointPaths(path: string): Set<string> {
  const bare = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return new Set([bare, bare === '/' ? '/' : `${bare}/`]);
}

type Scheme = 'http' | 'https';

/** node:http, node:https or node:http2 (with HTTP/1.1 fallback), as `http.tls` and `http.http2` say. */
function createNodeServer(
  config: CmConfig,
  onRequest: (req: HttpRequest, res: HttpResponse) => void,
): { server: Server; scheme: Scheme; protocols: string[] } {
  const tls = config.http.tls;
  if (tls === null) return { server: createServer(onRequest), scheme: 'http', protocols: ['http/1.1'] };
  const secure = readTlsFiles(tls);
  if (!config.http.http2) {
    return { server: createHttpsServer({ ...secure, ALPNProtocols: ['http/1.1'] }, onRequest), scheme: 'https', protocols: ['http/1.1'] };
  }
  // allowHTTP1: clients without ALPN h2 get HTTP/1.1 on the same port, through the same handler.
  const server = createSecureServer({ ...secure, allowHTTP1: true, settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS } }, onRequest);
  return { server, scheme: 'https', protocols: ['h2', 'http/1.1'] };
}

function readTlsFiles(tls: HttpTlsConfig): SecureContextOptions {
  const read = (field: keyof HttpTlsConfig, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read http.tls.${field} ${JSON.stringify(file)}: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    cert: read('certFile', tls.certFile),
    key: read('keyFile', tls.keyFile),
    ...(tls.caFile !== undefined ? { ca: read('caFile', tls.caFile) } : {}),
  };
}

/** The open connections, by kind, for close(). */
interface Connections {
  /** At the start of close(): idle HTTP/1.1 connections close, HTTP/2 sessions get GOAWAY (open streams go on). */
  closeIdle(): void;
  /** No reply is owed any more (or the wait is over): every HTTP/1.1 connection closes. */
  closeHttp1(): void;
  /** The deadline: every socket still open is destroyed, HTTP/2 sessions and handshakes included. */
  destroyAll(): void;
}

function trackConnections(server: Server, scheme: Scheme): Connections {
  const sockets = new Set<Socket>();
  const http1 = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  const track = <T extends { once(event: 'close', listener: () => void): unknown }>(set: Set<T>, item: T): void => {
    set.add(item);
    item.once('close', () => set.delete(item));
  };
  server.on('connection', (socket: Socket) => {
    track(sockets, socket);
    if (scheme === 'http') track(http1, socket);
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol !== 'h2') track(http1, socket);
  });
  server.on('session', (session: ServerHttp2Session) => track(sessions, session));
  return {
    closeIdle() {
      // node:http and node:https know which of their connections are idle; http2's HTTP/1.1 fallback waits for closeHttp1().
      (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      for (const session of sessions) session.close();
    },
    closeHttp1() {
      for (const socket of http1) socket.destroy();
    },
    destroyAll() {
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    },
  };
}

function header(req: HttpRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** '::ffff:192.0.2.1' -> '192.0.2.1', so limits and logs see one form of an IPv4 address. */
function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
