import { childLog, type Logger } from '../log.js';
import type { Clock } from '../clock.js';
import { BoshError } from '../bosh/conditions.js';
import type { JoinRequest, JoinResult, LinkProvider, MemberPort } from '../bosh/ports.js';
import type { Metrics } from '../metrics.js';
import type { TlsPolicy, Upstream, UpstreamOptions, UpstreamSink } from '../xmpp/types.js';
import { NS_SHARED } from '../protocol/namespaces.js';
import { Link } from './link.js';
import { ReplayBuffer } from './replay-buffer.js';
import { SharingPolicy } from './sharing-policy.js';
import { digestSharedKey, type KeyDigest } from './shared-key.js';
import { ownString } from '../xml/strings.js';

/** A served domain and how its upstream is reached (docs/design.md D22). */
export interface ServedDomain {
  host?: string;
  port?: number;
  tls: TlsPolicy;
  /** Extra CA certificates (PEM text). */
  ca?: string;
  insecure: boolean;
}

/** Shared BOSH limits (docs/design.md D5, D8, D14b). */
export interface SharingLimits {
  /** D8: most members per link. */
  maxMembers: number;
  /** D5: Origins allowed to attach; undefined = any (whatever CORS lets through). */
  attachOrigins: string[] | undefined;
  /** D14b: replay buffer bounds. */
  replayEvents: number;
  replayMs: number;
}

export interface LinkRegistryOptions {
  domains: Record<string, ServedDomain>;
  /** `host:port` targets a client may name in `route`; empty: `route` is ignored (B-20). */
  allowedRoutes: string[];
  sharing: SharingLimits;
  /** The same safeguards for every upstream stream (src/xmpp/types.ts documents each). */
  stream: StreamLimits;
  openUpstream: (options: UpstreamOptions, sink: UpstreamSink) => Upstream;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
}

/** What every upstream stream gets from the configuration, whatever its domain or session. */
export type StreamLimits = Pick<UpstreamOptions, 'connectTimeoutMs' | 'maxStanzaBytes' | 'maxDepth' | 'pingIntervalMs' | 'pingTimeoutMs' | 'counters'>;

const SHARED_ATTRS = { 'xmlns:shared': NS_SHARED };

/**
 * Finds or opens the link for each new session: checks the domain (host-unknown, B-121) and
 * `route` (B-20, B-21); a `shared:key` creates a sharable link or attaches to the live link
 * holding that key (S-02, S-04, D2..D8). Keys are held only as digests (D3).
 */
export class LinkRegistry implements LinkProvider {
  private readonly links = new Set<Link>();
  /** Live shared links by key digest, each with its policy. */
  private readonly byKey = new Map<KeyDigest, { link: Link; policy: SharingPolicy }>();
  private readonly domains: Map<string, ServedDomain>;
  private linkCounter = 0;
  /** What every link tells the registry (one object for all links). */
  private readonly hooks = {
    closing: (link: Link): void => this.forgetKey(link),
    closed: (link: Link): void => {
      if (this.links.delete(link)) this.options.metrics.links.dec();
    },
  };

  constructor(private readonly options: LinkRegistryOptions) {
    this.domains = new Map(Object.entries(options.domains).map(([name, d]) => [name.toLowerCase(), d]));
  }

  get size(): number {
    return this.links.size;
  }

  join(request: JoinRequest, member: MemberPort): JoinResult {
    // Kept by the link for its life: not a slice of the request body.
    const domain = ownString(request.to.toLowerCase());
    const served = this.domains.get(domain);
    if (!served) throw new BoshError('host-unknown', `domain not served: ${domain}`);
    const target = this.routeTarget(request.route);
    const key = request.sharedKey;
    if (key === undefined) {
      return { link: this.open(domain, served, target, undefined, request, this.linkLog(domain, false)).addMember(member), attrs: {} };
    }
    const digest = this.refusing(() => digestSharedKey(key));
    const existing = this.byKey.get(digest);
    if (!existing) {
      const log = this.linkLog(domain, true);
      const replay = new ReplayBuffer(this.options.sharing.replayEvents, this.options.sharing.replayMs, this.options.clock);
      const policy = new SharingPolicy(digest, replay, this.options.metrics, log);
      const link = this.open(domain, served, target, policy, request, log);
      this.byKey.set(digest, { link, policy });
      this.options.metrics.sharedLinks.inc();
      return { link: link.addMember(member), attrs: { ...SHARED_ATTRS, 'shared:result': 'created' }, shared: { seq: 0 } };
    }
    return this.refusing(() => this.attach(existing.link, existing.policy, domain, target, request, member));
  }

  /** S-04, D4..D8, D14, D14b: attach a new member to a live shared link. */
  private attach(link: Link, policy: SharingPolicy, domain: string, target: RouteTarget | undefined, request: JoinRequest, member: MemberPort): JoinResult {
    const limits = this.options.sharing;
    if (link.domain !== domain || link.route !== target?.key) {
      throw new BoshError('policy-violation', 'key belongs to another domain or route', [], 'key-in-use'); // D5
    }
    if (limits.attachOrigins && request.origin !== undefined && !limits.attachOrigins.includes(request.origin)) {
      throw new BoshError('policy-violation', 'origin may not attach', [], 'origin-mismatch'); // D5
    }
    const jid = link.boundJid;
    const info = link.streamInfo;
    if (jid === undefined || info === undefined) {
      throw new BoshError('policy-violation', 'shared stream has not bound a resource yet', [], 'not-ready'); // D6
    }
    if (link.memberCount >= limits.maxMembers) {
      throw new BoshError('policy-violation', 'shared link is full', [], 'too-many-members'); // D8
    }
    const since = request.sharedSince === undefined ? undefined : parseSince(request.sharedSince);
    const seq = policy.lastSeq;
    const { items, gap } = policy.attachItems(since);
    const port = link.addMember(member);
    this.options.metrics.attaches.inc();
    this.options.metrics.membersPerLink.observe(link.memberCount);
    const attrs: Record<string, string> = { ...SHARED_ATTRS, 'shared:result': 'attached', 'shared:jid': jid }; // D7
    if (gap) attrs['shared:gap'] = 'true';
    return {
      link: port,
      attrs,
      info,
      shared: { seq },
      initial: items,
    };
  }

  private linkLog(domain: string, shared: boolean): Logger {
    return childLog(this.options.log, { link: ++this.linkCounter, domain, shared });
  }

  private open(domain: string, served: ServedDomain, target: RouteTarget | undefined, sharing: SharingPolicy | undefined, request: JoinRequest, log: Logger): Link {
    const link = new Link(domain, target?.key, sharing, log, this.hooks);
    const stream = this.options.stream;
    this.links.add(link);
    this.options.metrics.links.inc();
    // Connect once the caller has wired the member up, so every sink callback finds it ready.
    queueMicrotask(() =>
      link.connect((sink) =>
        this.options.openUpstream(
          {
            domain,
            host: target?.host ?? served.host,
            port: target?.port ?? served.port,
            tls: served.tls,
            ca: served.ca,
            insecure: served.insecure,
            lang: request.lang,
            version: request.xmppVersion,
            from: request.from,
            // Each field written out: a spread of `stream` into this literal would give every
            // stream's options a hidden class of its own once V8's clone cache is megamorphic.
            connectTimeoutMs: stream.connectTimeoutMs,
            maxStanzaBytes: stream.maxStanzaBytes,
            maxDepth: stream.maxDepth,
            pingIntervalMs: stream.pingIntervalMs,
            pingTimeoutMs: stream.pingTimeoutMs,
            counters: stream.counters,
            logger: log,
            clock: this.options.clock,
          },
          sink,
        ),
      ),
    );
    return link;
  }

  /** D4: a key is valid exactly as long as its link lives. */
  private forgetKey(link: Link): void {
    if (link.sharing && this.byKey.get(link.sharing.digest)?.link === link) {
      this.byKey.delete(link.sharing.digest);
      this.options.metrics.sharedLinks.dec();
    }
  }

  /** Counts shared refusals by reason (metrics never see the key). */
  private refusing<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof BoshError && err.sharedError) this.options.metrics.refusals.inc({ reason: err.sharedError });
      throw err;
    }
  }

  /** B-20, B-21: `route` is `proto:host:port`, honoured only for configured targets. */
  private routeTarget(route: string | undefined): RouteTarget | undefined {
    if (route === undefined || this.options.allowedRoutes.length === 0) return undefined;
    const match = /^[^:]+:(.+):([0-9]{1,5})$/.exec(route);
    if (!match) throw new BoshError('bad-request', 'route is not proto:host:port');
    const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
    const port = Number(match[2]);
    const key = `${host}:${port}`;
    if (!this.options.allowedRoutes.includes(key)) throw new BoshError('host-unknown', `route not allowed: ${key}`);
    return { host, port, key };
  }

  /** D20: end every member with system-shutdown and close every stream; resolves once closed. */
  async shutdown(timeoutMs = 3000): Promise<void> {
    for (const link of [...this.links]) link.shutdown();
    const deadline = Date.now() + timeoutMs;
    while (this.links.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}

interface RouteTarget {
  host: string;
  port: number;
  key: string;
}

function parseSince(text: string): number {
  if (!/^[0-9]{1,15}$/.test(text)) throw new BoshError('bad-request', 'shared:since is not a sequence number');
  return Number(text);
}
