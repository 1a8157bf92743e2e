import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { BoshError } from '../bosh/conditions.js';
import type { JoinRequest, JoinResult, LinkProvider, MemberPort } from '../bosh/ports.js';
import type { TlsPolicy, Upstream, UpstreamOptions, UpstreamSink } from '../xmpp/types.js';
import { Link } from './link.js';

/** A served domain and how its upstream is reached (DESIGN D22). */
export interface ServedDomain {
  host?: string;
  port?: number;
  tls: TlsPolicy;
  /** Extra CA certificates (PEM text). */
  ca?: string;
  insecure: boolean;
}

export interface LinkRegistryOptions {
  domains: Record<string, ServedDomain>;
  /** `host:port` targets a client may name in `route`; empty: `route` is ignored (B-20). */
  allowedRoutes: string[];
  connectTimeoutMs: number;
  maxStanzaBytes: number;
  openUpstream: (options: UpstreamOptions, sink: UpstreamSink) => Upstream;
  clock: Clock;
  log: Logger;
}

/**
 * Finds or opens the link for each new session: checks the domain (host-unknown, B-121) and
 * `route` (B-20, B-21), and opens an upstream stream for it.
 */
export class LinkRegistry implements LinkProvider {
  private readonly links = new Set<Link>();
  private readonly domains: Map<string, ServedDomain>;
  private linkCounter = 0;

  constructor(private readonly options: LinkRegistryOptions) {
    this.domains = new Map(Object.entries(options.domains).map(([name, d]) => [name.toLowerCase(), d]));
  }

  get size(): number {
    return this.links.size;
  }

  join(request: JoinRequest, member: MemberPort): JoinResult {
    const domain = request.to.toLowerCase();
    const served = this.domains.get(domain);
    if (!served) throw new BoshError('host-unknown', `domain not served: ${domain}`);
    const target = this.routeTarget(request.route) ?? { host: served.host, port: served.port };
    const log = this.options.log.child({ link: ++this.linkCounter, domain });
    const link = new Link(domain, log, (closed) => this.links.delete(closed));
    this.links.add(link);
    const port = link.addMember(member);
    // Connect once the caller has wired the member up, so every sink callback finds it ready.
    queueMicrotask(() => link.connect((sink) =>
      this.options.openUpstream(
        {
          domain,
          host: target.host,
          port: target.port,
          tls: served.tls,
          ca: served.ca,
          insecure: served.insecure,
          lang: request.lang,
          version: request.xmppVersion,
          from: request.from,
          connectTimeoutMs: this.options.connectTimeoutMs,
          maxStanzaBytes: this.options.maxStanzaBytes,
          logger: log,
          clock: this.options.clock,
        },
        sink,
      ),
    ));
    return { link: port, attrs: {} };
  }

  /** B-20, B-21: `route` is `proto:host:port`, honoured only for configured targets. */
  private routeTarget(route: string | undefined): { host: string; port: number } | undefined {
    if (route === undefined || this.options.allowedRoutes.length === 0) return undefined;
    const match = /^[^:]+:(.+):([0-9]{1,5})$/.exec(route);
    if (!match) throw new BoshError('bad-request', 'route is not proto:host:port');
    const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
    const port = Number(match[2]);
    if (!this.options.allowedRoutes.includes(`${host}:${port}`)) {
      throw new BoshError('host-unknown', `route not allowed: ${host}:${port}`);
    }
    return { host, port };
  }

  /** D20: end every member with system-shutdown and close every stream; resolves once closed. */
  async shutdown(timeoutMs = 3000): Promise<void> {
    for (const link of [...this.links]) link.shutdown();
    const deadline = Date.now() + timeoutMs;
    while (this.links.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}
