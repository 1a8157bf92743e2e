import { isUtf8 } from 'node:buffer';
import type { BoshRequestHandler } from '../bosh/exchange.js';
import { BoshError } from '../bosh/conditions.js';
import { DEFAULT_CONTENT_TYPE, SESSIONLESS, terminalReply } from '../bosh/response.js';
import type { Clock } from '../clock.js';
import type { CmConfig } from '../config.js';
import type { Logger } from '../log.js';
import { readBody, discardRest, type BodyLimits, type BodyResult } from './body-reader.js';
import { requestCoding } from './compression.js';
import { corsForPreflight, corsForRequest } from './cors.js';
import type { Connections } from './connections.js';
import { header, isHttp2, pathOf, type HttpRequest, type HttpResponse } from './messages.js';
import type { HealthEndpoint } from './health.js';
import type { MetricsEndpoint } from './metrics-endpoint.js';
import { isSecure, remoteAddressOf } from './peer.js';
import { PostExchange } from './post-exchange.js';
import type { Refusals } from './refusals.js';
import type { ReplyWriter } from './reply-writer.js';
import { StreamTimeouts } from './timeouts.js';

/** What the dispatcher works with besides the configuration. */
export interface DispatcherParts {
  handler: BoshRequestHandler;
  replies: ReplyWriter;
  connections: Connections;
  refusals: Refusals;
  /** The metrics page on this listener, if it is served here. */
  metrics: MetricsEndpoint | undefined;
  /** `http.healthPath` and `http.readyPath`. */
  health: HealthEndpoint;
  log: Logger;
  clock: Clock;
  discardBytes: number;
}

const ALLOW = 'GET, HEAD, POST, OPTIONS';
const BAD_REQUEST_BODY = terminalReply(new BoshError('bad-request'), SESSIONLESS).body;
const INTERNAL_ERROR_BODY = terminalReply(new BoshError('internal-server-error'), SESSIONLESS).body;
const PAGE = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>shared-bosh</title></head>
<body><p>This is a BOSH endpoint (XEP-0124, XEP-0206) of shared-bosh, an XMPP connection manager.</p>
<p>Point your XMPP client's BOSH URL here; it answers HTTP POST requests.</p></body></html>
`;

/**
 * Routes each request by path and method: every POST to `http.path` becomes one BoshExchange
 * for `handler` (after CORS and the body is read); everything else is answered here.
 */
export class Dispatcher {
  /** POSTs not yet closed, with their exchange: for close(), and so that its watcher hears of a client gone (D24). */
  readonly inFlight = new Map<HttpResponse, PostExchange>();
  private readonly paths: Set<string>;
  private readonly replies: ReplyWriter;
  private readonly log: Logger;
  /** A response's 'close' listener (one function for all: `this` is the response). */
  private readonly untrack: (this: HttpResponse) => void;
  private readonly bodyLimits: BodyLimits;
  /** `http.requestTimeoutS` for HTTP/2 streams (node times HTTP/1.x requests itself). */
  readonly streamTimeouts: StreamTimeouts | undefined;

  constructor(
    private readonly config: CmConfig,
    private readonly parts: DispatcherParts,
  ) {
    this.paths = endpointPaths(config.http.path);
    this.replies = parts.replies;
    this.log = parts.log;
    this.bodyLimits = { maxBytes: config.http.maxBodyBytes, discardBytes: parts.discardBytes };
    const timeoutMs = config.http.requestTimeoutS * 1000;
    const refusals = parts.refusals;
    this.streamTimeouts = timeoutMs > 0
      ? new StreamTimeouts(timeoutMs, parts.clock, parts.replies, (address) => refusals.refuse('timeout', address))
      : undefined;
    const inFlight = this.inFlight;
    this.untrack = function (this: HttpResponse): void {
      const exchange = inFlight.get(this);
      inFlight.delete(this);
      exchange?.connectionClosed();
    };
  }

  /** node's 'request' listener: never throws. */
  readonly onRequest = (req: HttpRequest, res: HttpResponse): void => {
    try {
      const address = remoteAddressOf(req, this.config.http.trustProxy);
      if (!this.parts.connections.admitRequest(req, res, address)) {
        return this.replies.sendText(req, res, 429, 'Too Many Requests\n', { 'Retry-After': '1' });
      }
      if (this.streamTimeouts && isHttp2(res)) this.streamTimeouts.arm(res.req, res, address);
      this.route(req, res, address);
    } catch (err) {
      this.log.error({ err }, 'request handling failed; closing the connection');
      res.destroy();
    }
  };

  private route(req: HttpRequest, res: HttpResponse, address: string): void {
    const pathname = pathOf(req);
    const metrics = this.parts.metrics;
    if (metrics && pathname === metrics.path) return metrics.handle(req, res);
    if (this.parts.health.handle(pathname, req, res)) return;
    if (!this.paths.has(pathname)) return this.replies.sendText(req, res, 404, 'Not Found\n');
    switch (req.method) {
      case 'POST':
        return this.onPost(req, res, address);
      case 'GET':
      case 'HEAD':
        return this.replies.send(res, 200, { 'Content-Type': 'text/html; charset=utf-8' }, Buffer.from(PAGE));
      case 'OPTIONS':
        return this.onOptions(req, res, address);
      default:
        return this.replies.sendText(req, res, 405, 'Method Not Allowed\n', { Allow: ALLOW });
    }
  }

  private onOptions(req: HttpRequest, res: HttpResponse, remoteAddress: string): void {
    const origin = header(req, 'origin');
    const cors = corsForPreflight(
      {
        origin,
        requestHeaders: header(req, 'access-control-request-headers'),
        requestPrivateNetwork: header(req, 'access-control-request-private-network'),
      },
      this.config.cors,
    );
    if (!cors.allowed) {
      this.log.info({ origin, remoteAddress }, 'CORS preflight from a foreign Origin refused (403)');
      return this.replies.sendText(req, res, 403, 'Origin not allowed\n');
    }
    this.replies.send(res, 204, { Allow: ALLOW, ...cors.headers }, undefined);
  }

  private onPost(req: HttpRequest, res: HttpResponse, remoteAddress: string): void {
    const { http } = this.config;
    const { discardBytes } = this.parts;
    const origin = header(req, 'origin');
    const cors = corsForRequest(origin, this.config.cors);
    if (!cors.allowed) {
      // A foreign page must not reach the BOSH layer: no session, no rate-limit tokens spent.
      this.log.info({ origin, remoteAddress }, 'POST from a foreign Origin refused (403); not passed to the BOSH layer');
      return this.replies.sendText(req, res, 403, 'Origin not allowed\n');
    }
    const secure = isSecure(req, http.trustProxy);
    const exchange = new PostExchange(this.replies, req, res, remoteAddress, origin, secure, header(req, 'accept-encoding'), cors.headers);
    this.inFlight.set(res, exchange);
    res.on('close', this.untrack);

    // B-07: the request's Content-Type is ignored; only Content-Encoding matters (B-38).
    const coding = requestCoding(header(req, 'content-encoding'));
    if (coding === 'unsupported') {
      this.log.info(exchange.logFields({ contentEncoding: header(req, 'content-encoding') }), 'request body in an unsupported Content-Encoding; answered bad-request');
      exchange.send({ status: 200, contentType: DEFAULT_CONTENT_TYPE, body: BAD_REQUEST_BODY }, true);
      discardRest(req, discardBytes);
      return;
    }

    readBody(req, coding, this.bodyLimits, this.bodyRead, exchange);
  }

  /** The body of `exchange`'s request is read (or not): the BOSH layer gets the exchange. */
  private readonly bodyRead = (exchange: PostExchange, result: BodyResult): void => {
    try {
      this.handleBody(exchange, result);
    } catch (err) {
      this.log.error({ err }, 'POST handling failed; closing the connection');
      exchange.res.destroy();
    }
  };

  private handleBody(exchange: PostExchange, result: BodyResult): void {
    const { http } = this.config;
    switch (result.kind) {
      case 'aborted':
        this.log.debug(exchange.logFields({}), 'client went away before its request body was complete');
        return;
      case 'corrupt':
        this.log.info(exchange.logFields({ coding: requestCoding(header(exchange.req, 'content-encoding')), error: result.error.message }), 'request body could not be decoded; answered bad-request');
        exchange.send({ status: 200, contentType: DEFAULT_CONTENT_TYPE, body: BAD_REQUEST_BODY }, true);
        return;
      case 'oversized':
        this.log.warn(exchange.logFields({ maxBodyBytes: http.maxBodyBytes, coding: requestCoding(header(exchange.req, 'content-encoding')) }), 'request body over http.maxBodyBytes; passed on as oversized');
        exchange.body = result.head.toString('utf8');
        exchange.oversized = true;
        break;
      case 'complete':
        exchange.body = result.body.toString('utf8');
        // B-119: text that is not UTF-8 is malformed, not to be forwarded with U+FFFD in it.
        if (!isUtf8(result.body)) {
          this.log.info(exchange.logFields({}), 'request body is not valid UTF-8; refused as bad-request');
          exchange.malformed = 'request body is not valid UTF-8';
        }
        break;
    }

    // Answered meanwhile (http.requestTimeoutS over HTTP/2): what arrived is not the whole body.
    if (exchange.res.headersSent) return;
    try {
      this.parts.handler.handle(exchange);
    } catch (err) {
      this.log.error(exchange.logFields({ err }), 'BOSH handler threw; answered internal-server-error');
      if (!exchange.replied) exchange.send({ status: 200, contentType: DEFAULT_CONTENT_TYPE, body: INTERNAL_ERROR_BODY });
    }
  }
}

/** The configured path, and the same with or without a trailing slash (clients differ). */
function endpointPaths(path: string): Set<string> {
  const bare = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return new Set([bare, bare === '/' ? '/' : `${bare}/`]);
}
