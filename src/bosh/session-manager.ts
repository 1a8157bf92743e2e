import { randomFillSync } from 'node:crypto';
import { childLog, type Logger } from '../log.js';
import type { Clock, TimerHandle } from '../clock.js';
import { BoshError } from './conditions.js';
import type { BoshExchange, BoshReply, BoshRequestHandler } from './exchange.js';
import type { LinkProvider } from './ports.js';
import { NS_XBOSH } from '../protocol/namespaces.js';
import { compareVersions, formatVersion, parseRequest, type BoshRequest, type Version } from './request.js';
import { DEFAULT_CONTENT_TYPE, SESSIONLESS, terminalReply, type ReplyForm } from './response.js';
import { BoshSession, type SessionOwner } from './session.js';
import { RateLimiter } from './rate-limiter.js';
import { ownString } from '../xml/strings.js';

/**
 * The session rules an operator sets, in seconds as on the wire. Declared here, where they are
 * enforced; the configuration (`bosh.*` in src/config.ts, documented there) supplies them.
 */
export interface BoshLimits {
  /** Upper bound for the negotiated `wait` (B-26). */
  maxWaitS: number;
  /** Upper bound for the negotiated `hold` (B-34). */
  maxHold: number;
  /** Advertised `inactivity` (B-61). */
  inactivityS: number;
  /** Advertised `polling` (B-74). */
  pollingS: number;
  /** D24: polling-rule violations tolerated within `pollingWindowS` (0: the literal rule). */
  pollingViolations: number;
  pollingWindowS: number;
  /** Advertised `maxpause` (B-65). */
  maxPauseS: number;
  /** Most concurrent sessions. */
  maxSessions: number;
  /** Most bytes queued for a session with no request to answer (D15). */
  maxQueueBytes: number;
  /** D3: creations per client address per minute (0: unlimited), and the burst allowed. */
  creationsPerMinute: number;
  creationBurst: number;
  /** Deepest nesting accepted in a request body (issue 11). */
  maxDepth: number;
}

/** What the session manager counts; cm.ts hands it the Prometheus metrics (src/metrics.ts). */
export interface SessionMetrics {
  requests: { inc(): void };
  rateLimited: { inc(): void };
  sessions: { set(value: number): void };
  sessionsCreated: { inc(): void };
  sessionsEnded: { inc(labels: { condition: string }): void };
}

const NOT_COUNTED: SessionMetrics = {
  requests: { inc() {} },
  rateLimited: { inc() {} },
  sessions: { set() {} },
  sessionsCreated: { inc() {} },
  sessionsEnded: { inc() {} },
};

/** D21: the highest BOSH version this CM speaks. */
export const CM_VERSION: Version = { major: 1, minor: 11 };
/** B-90: resends of one rid allowed before policy-violation. */
const MAX_RESENDS = 5;
/** When a request's body can't be parsed, this finds its session so the error reaches it. */
const SID_PATTERN = /\bsid\s*=\s*(['"])([^'"]{1,128})\1/;

/**
 * Routes each request to its session by `sid`, creates sessions (XEP-0124 §7) and keeps the
 * sids of ended ones for a while so a late request learns why its session ended.
 */
export class SessionManager implements BoshRequestHandler, SessionOwner {
  private readonly sessions = new Map<string, BoshSession>();
  private readonly tombstones = new Map<string, { reply: BoshReply; timer: TimerHandle }>();
  private closing = false;
  private readonly creations: RateLimiter;

  constructor(
    private readonly limits: BoshLimits,
    private readonly links: LinkProvider,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: SessionMetrics = NOT_COUNTED,
  ) {
    this.creations = new RateLimiter(limits.creationsPerMinute, limits.creationBurst, clock);
  }

  get size(): number {
    return this.sessions.size;
  }

  handle(exchange: BoshExchange): void {
    this.metrics.requests.inc();
    if (exchange.oversized) {
      this.refuseUnreadable(exchange, new BoshError('policy-violation', 'request body too large'));
      return;
    }
    if (exchange.malformed !== undefined) {
      this.refuseUnreadable(exchange, new BoshError('bad-request', exchange.malformed));
      return;
    }
    let request: BoshRequest;
    try {
      request = parseRequest(exchange.body, this.limits.maxDepth);
    } catch (err) {
      this.refuseUnreadable(exchange, err instanceof BoshError ? err : new BoshError('internal-server-error', String(err)));
      return;
    }
    // Parsed: a held request need not keep its text for `wait` seconds.
    exchange.body = '';
    if (request.sid === undefined) {
      this.create(request, exchange);
      return;
    }
    const session = this.sessions.get(request.sid);
    if (session) {
      if (session.secure && !exchange.secure) {
        // B-136, B-138, B-139: just close that connection; the session goes on.
        this.log.warn({ sid: session.sid }, 'unencrypted request for a session created over TLS; connection closed');
        exchange.drop();
        return;
      }
      try {
        session.handle(request, exchange);
      } catch (err) {
        session.crashed(err, exchange); // issue 11.4: this session ends, nothing else
      }
      return;
    }
    const tombstone = this.tombstones.get(request.sid);
    if (tombstone) exchange.reply(tombstone.reply);
    else refuse(exchange, new BoshError('item-not-found', 'unknown sid'), SESSIONLESS); // B-16, B-62, B-124
  }

  /** A request that could not be read ends its session, if it names one (B-119, B-126). */
  private refuseUnreadable(exchange: BoshExchange, error: BoshError): void {
    const sid = SID_PATTERN.exec(exchange.body)?.[2];
    const session = sid === undefined ? undefined : this.sessions.get(sid);
    if (!session) return refuse(exchange, error, SESSIONLESS);
    try {
      session.refuse(exchange, error);
    } catch (err) {
      session.crashed(err, exchange);
    }
  }

  /** XEP-0124 §7.1, §7.2: session creation request and response. */
  private create(request: BoshRequest, exchange: BoshExchange): void {
    const form = request.ver === undefined ? LEGACY : SESSIONLESS;
    if (this.closing) return refuse(exchange, new BoshError('system-shutdown'), form); // B-130
    if (!request.to) return refuse(exchange, new BoshError('improper-addressing', 'no to'), form); // B-122
    if (this.sessions.size >= this.limits.maxSessions) {
      return refuse(exchange, new BoshError('policy-violation', 'too many sessions'), form);
    }
    if (!this.creations.take(exchange.remoteAddress)) {
      this.metrics.rateLimited.inc();
      return refuse(exchange, new BoshError('policy-violation', 'session creation rate exceeded'), form); // D3
    }
    const sid = newSid(); // B-23, B-24, B-141
    const log = childLog(this.log, { sid });
    const limits = this.limits;
    const hold = Math.min(request.hold ?? 1, limits.maxHold); // B-34
    const waitS = Math.min(request.wait ?? limits.maxWaitS, limits.maxWaitS); // B-26
    const requests = hold + 1; // B-28, B-29
    // B-76: a polling session gets more inactivity than the polling interval.
    const inactivityS = hold === 0 ? limits.inactivityS + 2 * limits.pollingS : limits.inactivityS;
    const acks = request.ack === 1;
    const creationAttrs: Record<string, string> = {
      sid,
      wait: String(waitS),
      requests: String(requests),
      hold: String(hold),
      polling: String(limits.pollingS),
      inactivity: String(inactivityS),
      maxpause: String(limits.maxPauseS),
      accept: 'gzip,deflate', // B-37
      from: request.to,
      'xmlns:xmpp': NS_XBOSH,
      'xmpp:restartlogic': 'true',
    };
    if (request.ver) {
      // B-19, B-30, D21: the lower of the two versions.
      creationAttrs.ver = formatVersion(compareVersions(request.ver, CM_VERSION) < 0 ? request.ver : CM_VERSION);
    }
    if (acks) creationAttrs.ack = String(request.rid); // B-39, B-56
    if (request.content !== undefined) creationAttrs.content = request.content;

    const session = new BoshSession(
      {
        sid,
        creationRid: request.rid,
        waitMs: waitS * 1000,
        hold,
        requests,
        pollingMs: limits.pollingS * 1000,
        pollingViolations: limits.pollingViolations,
        pollingWindowMs: limits.pollingWindowS * 1000,
        inactivityMs: inactivityS * 1000,
        maxPauseMs: limits.maxPauseS * 1000,
        legacy: form.legacy,
        secure: exchange.secure,
        // B-17, B-18; an own copy, not a slice pinning the creation body for the session's life.
        contentType: request.content === undefined || request.content === DEFAULT_CONTENT_TYPE ? DEFAULT_CONTENT_TYPE : ownString(request.content),
        acks,
        creationAttrs,
        maxQueueBytes: limits.maxQueueBytes,
        maxResends: MAX_RESENDS,
      },
      this,
      this.clock,
      log,
    );
    let joined;
    try {
      joined = this.links.join(
        {
          to: request.to,
          route: request.route,
          from: request.from,
          lang: request.lang,
          xmppVersion: request.xmppVersion,
          sharedKey: request.sharedKey,
          sharedSince: request.sharedSince,
          origin: exchange.origin,
          remoteAddress: exchange.remoteAddress,
        },
        session,
      );
    } catch (err) {
      const error = err instanceof BoshError ? err : new BoshError('internal-server-error', String(err));
      log.info({ condition: error.condition, reason: error.message }, 'session creation refused');
      return refuse(exchange, error, form);
    }
    Object.assign(creationAttrs, joined.attrs);
    this.sessions.set(sid, session);
    this.metrics.sessions.set(this.sessions.size);
    this.metrics.sessionsCreated.inc();
    log.info({ to: request.to, hold, wait: waitS, ver: creationAttrs.ver ?? 'legacy' }, 'session created');
    if (joined.initial) session.deliver(joined.initial);
    try {
      session.start(joined.link, joined.info, joined.shared?.seq, request, exchange);
    } catch (err) {
      session.crashed(err, exchange); // issue 11.4
    }
  }

  sessionEnded(session: BoshSession, tombstone: BoshReply | undefined, condition: string | undefined): void {
    this.sessions.delete(session.sid);
    this.metrics.sessions.set(this.sessions.size);
    this.metrics.sessionsEnded.inc({ condition: condition ?? 'none' });
    if (!tombstone) return;
    // Keep the sid's last word for a while, then forget it (item-not-found).
    const timer = this.clock.setTimeout(() => this.tombstones.delete(session.sid), this.limits.inactivityS * 1000);
    this.tombstones.set(session.sid, { reply: tombstone, timer });
  }

  /** Refuse new sessions from now on (B-130); the links end the existing ones. */
  beginShutdown(): void {
    this.closing = true;
  }

  /** Forget every tombstone and its timer. */
  destroy(): void {
    for (const { timer } of this.tombstones.values()) timer.cancel();
    this.tombstones.clear();
  }
}

/** Random bytes for sids, filled from the CSPRNG 256 sids at a time; each byte is used once. */
const SID_BYTES = 16;
const sidPool = Buffer.alloc(SID_BYTES * 256);
let sidPoolAt = sidPool.length;

/**
 * A new sid: 128 random bits in hex (B-23, B-24, B-141). One randomBytes() call per sid cost
 * about 6 µs (a CSPRNG call and a Buffer each); a slice of a pool filled by one call costs 0.3.
 */
function newSid(): string {
  if (sidPoolAt + SID_BYTES > sidPool.length) {
    randomFillSync(sidPool);
    sidPoolAt = 0;
  }
  const sid = sidPool.toString('hex', sidPoolAt, sidPoolAt + SID_BYTES);
  sidPoolAt += SID_BYTES;
  return sid;
}

/** The form of a sessionless refusal to a creation request without `ver` (B-116). */
const LEGACY: ReplyForm = { legacy: true, contentType: DEFAULT_CONTENT_TYPE };

/** A terminal error for a request that has no session (§17.2; B-116 for legacy clients). */
function refuse(exchange: BoshExchange, error: BoshError, form: ReplyForm): void {
  exchange.reply(terminalReply(error, form));
}
