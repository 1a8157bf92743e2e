import type { AddressInfo } from 'node:net';
import type { BoshRequestHandler } from '../bosh/exchange.js';
import type { CmConfig } from '../config.js';
import type { Logger } from '../log.js';
import { trackConnections } from './connections.js';
import { Dispatcher, type MetricsPage } from './dispatcher.js';
import { createNodeServer } from './node-server.js';
import { ReplyWriter } from './reply-writer.js';

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
  metrics?: MetricsPage;
  /** How long close() waits for requests still in flight. @default 5000 */
  closeTimeoutMs?: number;
  /** Bytes read and dropped after an oversized or refused body before the socket is destroyed. @default 1048576 */
  discardBytes?: number;
}

/**
 * The only place that touches node:http/https/http2 (data flows http/ -> bosh/): the node server
 * (node-server.ts), its connections (connections.ts), the routing of each request
 * (dispatcher.ts) and the writing of replies (reply-writer.ts), put together; listen and close.
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
  const replies = new ReplyWriter(log, config.http.compressMinBytes, discardBytes);
  const dispatcher = new Dispatcher(config, handler, replies, log, options.metrics, discardBytes);
  const { inFlight } = dispatcher;
  const { server, scheme, protocols } = createNodeServer(config, dispatcher.onRequest);
  const connections = trackConnections(server, scheme);
  server.on('tlsClientError', (err: Error) => log.debug({ err }, 'TLS handshake with a client failed'));
  server.on('sessionError', (err: Error) => log.debug({ err }, 'HTTP/2 session error'));
  let closed: Promise<void> | undefined;

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
      replies.closing = true;
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
