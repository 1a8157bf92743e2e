import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The CM's counters, in Prometheus form (prom-client), one registry per CM instance.
 * Labels never carry a key, a JID or a payload: only fixed reasons and kinds.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly sessions = new Gauge({ name: 'sbosh_sessions', help: 'Live BOSH sessions', registers: [this.registry] });
  readonly sessionsCreated = new Counter({ name: 'sbosh_sessions_created_total', help: 'BOSH sessions created', registers: [this.registry] });
  readonly sessionsEnded = new Counter({
    name: 'sbosh_sessions_ended_total',
    help: 'BOSH sessions ended, by terminal condition (none = client terminate or inactivity)',
    labelNames: ['condition'] as const,
    registers: [this.registry],
  });
  readonly requests = new Counter({ name: 'sbosh_http_requests_total', help: 'BOSH requests handled', registers: [this.registry] });
  readonly links = new Gauge({ name: 'sbosh_links', help: 'Live upstream links', registers: [this.registry] });
  readonly sharedLinks = new Gauge({ name: 'sbosh_shared_links', help: 'Live links created with a shared key', registers: [this.registry] });
  readonly membersPerLink = new Histogram({
    name: 'sbosh_link_members',
    help: 'Members of a shared link, observed at each attach',
    buckets: [1, 2, 3, 4, 6, 8, 12, 16, 32],
    registers: [this.registry],
  });
  readonly attaches = new Counter({ name: 'sbosh_shared_attaches_total', help: 'Sessions attached to an existing link', registers: [this.registry] });
  readonly refusals = new Counter({
    name: 'sbosh_shared_refusals_total',
    help: 'Shared-session requests refused, by shared:error',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly echoes = new Counter({ name: 'sbosh_shared_echoes_total', help: 'Outbound stanzas copied to other members (one per stanza)', registers: [this.registry] });
  readonly suppressed = new Counter({
    name: 'sbosh_shared_suppressed_total',
    help: 'Outbound stanzas not forwarded: duplicate replies to a server IQ, undirected unavailable presence while other members remain',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly strippedMarks = new Counter({
    name: 'sbosh_shared_stripped_total',
    help: 'Stanzas that arrived with attributes or elements in the shared namespace, stripped (only the CM marks stanzas), by source',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly upstreamDropped = new Counter({
    name: 'sbosh_upstream_dropped_total',
    help: 'Stanzas from an XMPP server not delivered, by reason (too-deep: nested deeper than upstream.maxDepth)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly upstreamStreamErrors = new Counter({
    name: 'sbosh_upstream_stream_errors_sent_total',
    help: 'Upstream streams the CM ended with a stream error of its own, by condition',
    labelNames: ['condition'] as const,
    registers: [this.registry],
  });
  /** Set by the HTTP server: its open client connections, read when the metrics are collected. */
  openConnections: () => number = () => 0;
  readonly httpConnections: Gauge = new Gauge({
    name: 'sbosh_http_connections',
    help: 'Open client connections (an HTTP/2 connection counts once), to compare with the connection limits',
    registers: [this.registry],
    collect: (): void => this.httpConnections.set(this.openConnections()),
  });
  readonly httpRefused = new Counter({
    name: 'sbosh_http_refused_total',
    help: 'Client connections and requests refused by the HTTP limits, by reason (connections, connections-per-address, requests-per-address, timeout)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({ name: 'sbosh_creations_rate_limited_total', help: 'Session creations refused by the per-address rate limit', registers: [this.registry] });
}
