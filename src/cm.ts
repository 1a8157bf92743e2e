import { readFileSync } from 'node:fs';
import { systemClock, type Clock } from './clock.js';
import type { CmConfig } from './config.js';
import { createHttpServer } from './http/server.js';
import { createLogger, type Logger } from './log.js';
import { SessionManager } from './bosh/session-manager.js';
import { LinkRegistry, type ServedDomain } from './shared/link-registry.js';
import { openUpstream } from './xmpp/upstream.js';
import type { UpstreamCounters } from './xmpp/types.js';
import { Metrics } from './metrics.js';
import { UpstreamMonitor, type DomainCheck } from './check.js';

export interface ConnectionManager {
  /** Listens on `http.host:http.port` (and `metrics.port`); resolves with the bound address and the URLs. */
  start(): Promise<{ url: string; host: string; port: number; metricsUrl?: string }>;
  /** D20: ends every session with `system-shutdown`, closes every upstream stream, stops HTTP. */
  stop(): Promise<void>;
  /** Live sessions and upstream links, for tests and monitoring. */
  stats(): { sessions: number; links: number };
  /** Counters and gauges (Prometheus registry in `metrics.registry`). */
  readonly metrics: Metrics;
  /**
   * Checks every served domain's XMPP server now (src/check.ts) and then every
   * `upstream.checkIntervalS`; the readiness probe reports the last results. Resolves with the
   * first. The `shared-bosh` command calls it after start(); without it, readiness is listening only.
   */
  monitorUpstreams(): Promise<readonly DomainCheck[]>;
  /** What `http.readyPath` reports (besides shutting down). */
  readiness(): { ready: boolean; lines: string[] };
}

export interface ConnectionManagerDeps {
  logger?: Logger;
  clock?: Clock;
}

/**
 * The composition root: HTTP -> sessions -> links -> upstream streams.
 */
export function createConnectionManager(config: CmConfig, deps: ConnectionManagerDeps = {}): ConnectionManager {
  const logger = deps.logger ?? createLogger(config.logLevel);
  const clock = deps.clock ?? systemClock;
  const domains: Record<string, ServedDomain> = {};
  for (const [name, d] of Object.entries(config.domains)) {
    domains[name] = {
      host: d.host,
      port: d.port,
      tls: d.tls,
      insecure: d.insecure,
      ca: d.caFile === undefined ? undefined : readFileSync(d.caFile, 'utf8'),
    };
  }
  const metrics = new Metrics();
  const upstreamCounters: UpstreamCounters = {
    dropped: (reason) => metrics.upstreamDropped.inc({ reason }),
    streamErrorSent: (condition) => metrics.upstreamStreamErrors.inc({ condition }),
  };
  const links = new LinkRegistry({
    domains,
    allowedRoutes: config.allowedRoutes,
    sharing: {
      maxMembers: config.shared.maxMembers,
      attachOrigins: attachOrigins(config),
      replayEvents: config.shared.replayEvents,
      replayMs: config.shared.replayS * 1000,
    },
    metrics,
    stream: {
      connectTimeoutMs: config.upstream.connectTimeoutMs,
      maxStanzaBytes: config.upstream.maxStanzaBytes,
      maxDepth: config.upstream.maxDepth,
      pingIntervalMs: config.upstream.pingIntervalS * 1000,
      pingTimeoutMs: config.upstream.pingTimeoutS * 1000,
      counters: upstreamCounters,
    },
    openUpstream,
    clock,
    log: logger,
  });
  const sessions = new SessionManager(config.bosh, links, clock, logger, metrics);
  let monitor: UpstreamMonitor | undefined;
  let stopping = false;
  const readiness = () =>
    stopping ? { ready: false, lines: ['shutting down'] } : monitor?.readiness() ?? { ready: true, lines: ['upstream servers not monitored'] };
  const http = createHttpServer(config, sessions, logger, { metrics, readiness, upstreamLinks: () => links.size, clock });

  return {
    start: () => http.listen(),
    async stop() {
      stopping = true;
      monitor?.stop();
      sessions.beginShutdown();
      await links.shutdown();
      await http.close();
      sessions.destroy();
    },
    stats: () => ({ sessions: sessions.size, links: links.size }),
    metrics,
    monitorUpstreams() {
      monitor?.stop();
      monitor = new UpstreamMonitor(config, { logger: logger.child({ probe: 'upstream-check' }), clock });
      return monitor.start();
    },
    readiness,
  };
}

/** D5: the attach allowlist defaults to the CORS origins ('*' = any). */
function attachOrigins(config: CmConfig): string[] | undefined {
  const origins = config.shared.attachOrigins ?? config.cors.origins;
  return origins.includes('*') ? undefined : origins;
}
