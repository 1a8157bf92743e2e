import type { AddressInfo, BlockList } from 'node:net';
import type { BoshRequestHandler } from '../bosh/exchange.js';
import { systemClock, type Clock } from '../clock.js';
import { addressList, type CmConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { Connections } from './connections.js';
import { openFilesLimit } from './descriptor-budget.js';
import { Dispatcher } from './dispatcher.js';
import { HealthEndpoint, type Readiness } from './health.js';
import { MetricsEndpoint, MetricsListener } from './metrics-endpoint.js';
import { createNodeServer } from './node-server.js';
import { Refusals } from './refusals.js';
import { ReplyWriter } from './reply-writer.js';
import { applyTimeouts } from './timeouts.js';

/** The CM's HTTP side: one BOSH endpoint on `http.path`, and the metrics page. */
export interface BoshHttpServer {
  /**
   * Binds `http.host:http.port` (port 0: any free port), and `metrics.host:metrics.port` when
   * set; resolves with the bound address and the BOSH URL (`https://` with `http.tls`).
   */
  listen(): Promise<{ host: string; port: number; url: string; metricsUrl?: string }>;
  /**
   * Stops accepting connections, closes idle keep-alive sockets, sends GOAWAY on every HTTP/2
   * session, waits for replies still owed (held requests) up to `closeTimeoutMs`, then closes
   * every remaining connection.
   */
  close(): Promise<void>;
}

export interface HttpServerOptions {
  /** Serves `http.metricsPath` with its registry, and counts refusals (`sbosh_http_refused_total`). */
  metrics?: Metrics;
  /** What `http.readyPath` reports besides shutting down (the upstream checks); absent: ready while listening. */
  readiness?: () => Readiness;
  /** Upstream links open now: each holds a descriptor the client connections cannot have. */
  upstreamLinks?: () => number;
  clock?: Clock;
  /** How long close() waits for requests still in flight. @default 5000 */
  closeTimeoutMs?: number;
  /** Bytes read and dropped after an oversized or refused body before the socket is destroyed. @default 1048576 */
  discardBytes?: number;
}

/**
 * The only place that touches node:http/https/http2 (data flows http/ -> bosh/): the node server
 * (node-server.ts) with its timeouts (timeouts.ts), its connections and their limits
 * (connections.ts), the routing of each request (dispatcher.ts) and the writing of replies
 * (reply-writer.ts), put together; listen and close.
 */
export function createHttpServer(
  config: CmConfig,
  handler: BoshRequestHandler,
  logger: Logger,
  options: HttpServerOptions = {},
): BoshHttpServer {
  const { http } = config;
  const log = logger.child({ component: 'http' });
  const clock = options.clock ?? systemClock;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5000;
  const discardBytes = options.discardBytes ?? 1_048_576;
  const replies = new ReplyWriter(log, http.compressMinBytes, discardBytes);
  const refusals = new Refusals(log, clock, options.metrics);
  // Who may read the metrics page and the probes' per-domain lines.
  const metricsAllow = addressList(config.metrics.allow);
  const metricsEndpoint = metricsEndpointOf(config, options.metrics, metricsAllow, replies, log);
  const metricsListener = metricsEndpoint && config.metrics.port !== null
    ? new MetricsListener(metricsEndpoint, config.metrics.host, config.metrics.port, replies, log)
    : undefined;

  const openFiles = openFilesLimit(http.maxOpenFiles);
  const budget = (): number => {
    const files = openFiles - http.reservedFiles - (options.upstreamLinks?.() ?? 0);
    return http.maxConnections > 0 ? Math.min(http.maxConnections, files) : files;
  };
  // The dispatcher needs the connections, which need the server, which needs the dispatcher.
  const { server, scheme, protocols } = createNodeServer(config, (req, res) => dispatcher.onRequest(req, res));
  applyTimeouts(server, http, refusals);
  const connections = new Connections(server, scheme, {
    budget,
    // Behind a reverse proxy every connection comes from the proxy.
    perAddress: http.trustProxy ? 0 : http.maxConnectionsPerAddress,
    requestsPerAddress: http.maxRequestsPerAddress,
  }, refusals);
  if (options.metrics) options.metrics.openConnections = () => connections.size;
  const dispatcher = new Dispatcher(config, {
    handler,
    replies,
    connections,
    refusals,
    metrics: metricsListener ? undefined : metricsEndpoint,
    health: new HealthEndpoint(http, options.readiness, metricsAllow, http.trustProxy, replies),
    log,
    clock,
    discardBytes,
  });
  const { inFlight } = dispatcher;
  server.on('tlsClientError', (err: Error) => log.debug({ err }, 'TLS handshake with a client failed'));
  server.on('sessionError', (err: Error) => log.debug({ err }, 'HTTP/2 session error'));
  let closed: Promise<void> | undefined;

  return {
    async listen() {
      if (budget() < 1) {
        throw new Error(`no descriptors left for client connections: http.reservedFiles (${http.reservedFiles}) and upstream links use all ${openFiles} (http.maxOpenFiles)`);
      }
      const metricsUrl = metricsListener ? await metricsListener.listen() : undefined;
      const bound = await new Promise<{ host: string; port: number; url: string }>((resolve, reject) => {
        const onError = (err: Error) => reject(new Error(`cannot listen on ${http.host}:${http.port}: ${err.message}`, { cause: err }));
        server.once('error', onError);
        server.listen(http.port, http.host, () => {
          server.off('error', onError);
          server.on('error', (err) => log.error({ err }, 'HTTP server error'));
          const address = server.address() as AddressInfo;
          const host = http.host;
          const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${address.port}${http.path}`;
          log.info({ host, port: address.port, url, protocols, maxConnections: budget(), openFiles }, 'listening for BOSH requests');
          resolve({ host, port: address.port, url });
        });
      });
      return metricsUrl === undefined ? bound : { ...bound, metricsUrl };
    },
    close() {
      if (closed) return closed;
      replies.closing = true;
      refusals.destroy();
      const stopped = new Promise<void>((resolve) => {
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
      // Every stream is closed by now: the HTTP/2 request timer must not keep the process alive.
      closed = Promise.all([stopped, metricsListener?.close()]).then(() => dispatcher.streamTimeouts?.stop());
      return closed;
    },
  };
}

function metricsEndpointOf(config: CmConfig, metrics: Metrics | undefined, allow: BlockList, replies: ReplyWriter, log: Logger): MetricsEndpoint | undefined {
  if (!metrics || !config.http.metricsPath) return undefined;
  const page = { contentType: metrics.registry.contentType, render: () => metrics.registry.metrics() };
  return new MetricsEndpoint(page, config.http.metricsPath, allow, config.http.trustProxy, replies, log);
}
