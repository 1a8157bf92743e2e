import { channel } from 'node:diagnostics_channel';
import type { Logger } from '../log.js';
import { Deadline, type Clock, type DeadlineOwner } from '../clock.js';
import { BoshError, type TerminalCondition } from './conditions.js';
import type { BoshExchange, BoshReply, ExchangeWatcher } from './exchange.js';
import { KeySequence } from './key-sequence.js';
import type { InboundItem, LinkPort, MemberPort, UpstreamInfo } from './ports.js';
import { NS_SHARED } from '../protocol/namespaces.js';
import type { BoshRequest, Rid } from './request.js';
import { RECOVERABLE_ERROR_BODY, renderBody, terminalReply } from './response.js';
import { ResponseCache } from './response-cache.js';
import { RidWindow } from './rid-window.js';

/**
 * Measuring hooks for the benchmark's tails (bench/child-ipc.ts), each published with the session:
 * stanzas queued for the client, and a response that carries stanzas handed to its request.
 * Without a subscriber each costs one property read.
 */
const queuedProbe = channel('shared-bosh:stanzas-queued');
const writtenProbe = channel('shared-bosh:stanzas-written');

/** What was negotiated at session creation (XEP-0124 §7.2), in the units used inside. */
export interface SessionSettings {
  sid: string;
  creationRid: Rid;
  waitMs: number;
  hold: number;
  requests: number;
  /** Shortest interval between empty polls; 0 = no polling rule (B-74). */
  pollingMs: number;
  /** D24: polling-rule violations (B-73, B-77) tolerated within `pollingWindowMs`; one more ends the session. */
  pollingViolations: number;
  pollingWindowMs: number;
  inactivityMs: number;
  maxPauseMs: number;
  /** The client's `ver`; absent = legacy client, which gets HTTP error codes (B-116). */
  legacy: boolean;
  contentType: string;
  /** The client asked for acknowledgements (`ack='1'` on creation, §9). */
  acks: boolean;
  /** The creation request came over TLS: every later one must too (B-136). */
  secure: boolean;
  /**
   * Creation response attributes known at creation (wait, requests, ..., shared:*); the session
   * lets go of them once the creation response is sent.
   */
  creationAttrs: Record<string, string> | undefined;
  /** Most bytes queued for the client while it has no request to answer (docs/design.md D15). */
  maxQueueBytes: number;
  /** Most resends of one rid (B-90) before `policy-violation` (B-91). */
  maxResends: number;
}

export type SessionState = 'connecting' | 'open' | 'ended';

/** A request waiting for its answer, in rid order. */
interface PendingRequest {
  rid: Rid;
  exchange: BoshExchange;
  arrivedAt: number;
  /** No payloads and no restart: a poll (§11, §12). */
  empty: boolean;
}

/** A request that arrived before the rids below it (B-83), with what it will be processed as. */
interface EarlyRequest {
  request: BoshRequest;
  pending: PendingRequest;
}

/** Notifications from a session to whoever keeps its sid (the session manager). */
export interface SessionOwner {
  /** The session ended; `tombstone` answers its later requests, or undefined for item-not-found. */
  sessionEnded(session: BoshSession, tombstone: BoshReply | undefined, condition: TerminalCondition | undefined): void;
}

/** D24: whether the client of a buffered request still waits for it (for RidWindow.reach). */
const isWaiting = (early: EarlyRequest): boolean => !early.pending.exchange.gone;

/** §9.2: a response that is this much overdue in the client's acks gets reported (B-59, B-60). */
const REPORT_AFTER_MS = 2000;
/** B-125: what the other pending requests of a session that ends get. */
const OTHER_REQUEST = new BoshError('other-request', 'another request ended the session');
/** B-62: a request for a session that has ended. */
const SESSION_GONE = new BoshError('item-not-found', 'session ended');
/** B-79, B-81: the answer to the other requests open at a terminate. */
const EMPTY_BODY = renderBody({});

/**
 * One BOSH session (a "member" of a link): the rid check (with RidWindow), held requests with
 * hold/wait, the retransmission cache (ResponseCache), the send queue, inactivity and pause,
 * acknowledgements and key sequencing. It talks upstream only through its LinkPort.
 *
 * Ending, one verb per act: the client ends it (`terminate`), a request is refused (`refuse`),
 * the link ends it (`fail`), the session gives up by itself (`quit`: queue over its bound,
 * inactivity, an unexpected exception via `crashed`); all of them finish in `end`, and every
 * terminal body comes from `terminalReply`.
 */
export class BoshSession implements MemberPort, ExchangeWatcher, DeadlineOwner {
  private state: SessionState = 'connecting';
  private link: LinkPort | undefined;
  /** Processed requests not yet answered, in rid order. */
  private held: PendingRequest[] = [];
  private readonly rids: RidWindow<EarlyRequest>;
  /** B-86: answered responses, for retransmission. */
  private readonly responses = new ResponseCache();
  private queue: string[] = [];
  private queueBytes = 0;
  /** Shared links (D14b): the highest event number queued, and the highest covered by a response. */
  private queueSeq = 0;
  private coveredSeq: number | undefined;
  /** §15 key sequencing, from the first request that uses a key (most clients never do). */
  private keys: KeySequence | undefined;
  private info: UpstreamInfo | undefined;
  /**
   * The last new request processed, for the polling rules (B-73, B-77): its rid (0: none), arrival
   * and emptiness. Not the request itself, which would keep its HTTP exchange (node's request and
   * response objects) alive until the next request is processed.
   */
  private previousRid: Rid = 0;
  private previousAt = 0;
  private previousEmpty = false;
  private report: { rid: Rid; time: number } | undefined;
  /** D24: polling-rule violations counted since `since`; undefined until the first one. */
  private violations: { count: number; since: number } | undefined;
  private currentInactivityMs: number;
  /** B-49: `wait` after the oldest held request arrived. */
  private readonly waitDeadline: Deadline;
  /** B-61: `inactivity` (or a pause, B-65) after the last request was answered. */
  private readonly inactivityDeadline: Deadline;

  constructor(
    private readonly settings: SessionSettings,
    private readonly owner: SessionOwner,
    private readonly clock: Clock,
    readonly log: Logger,
  ) {
    this.rids = new RidWindow(settings.creationRid);
    this.currentInactivityMs = settings.inactivityMs;
    this.waitDeadline = new Deadline(clock, this);
    this.inactivityDeadline = new Deadline(clock, this);
  }

  get sid(): string {
    return this.settings.sid;
  }

  get secure(): boolean {
    return this.settings.secure;
  }

  get ended(): boolean {
    return this.state === 'ended';
  }

  private setState(next: SessionState): void {
    if (next === this.state) return;
    this.log.debug({ from: this.state, to: next }, 'session state');
    this.state = next;
  }

  /**
   * Connects the session to its link; the creation request is then handled like any other.
   * `sharedSeq`: the link is sharable, so responses carry `shared:seq` from this number on.
   */
  start(link: LinkPort, info: UpstreamInfo | undefined, sharedSeq: number | undefined, creation: BoshRequest, exchange: BoshExchange): void {
    this.link = link;
    this.coveredSeq = sharedSeq;
    if (info) this.streamOpened(info);
    this.handle(creation, exchange);
    // Joining a stream that is already open (attach, D7): no features will come, answer now.
    const held = this.held[0];
    if (info && held?.rid === creation.rid) {
      this.held.shift();
      this.answer(held, this.takeQueue());
      this.armTimers();
    }
  }

  // ---- requests (outbound) ------------------------------------------------------------

  /** Entry point for every request of this session, in arrival order. */
  handle(request: BoshRequest, exchange: BoshExchange): void {
    if (this.state === 'ended') {
      exchange.reply(terminalReply(SESSION_GONE, this.settings));
      return;
    }
    // B-61: inactivity runs only while nothing is pending; B-68: any request ends a pause.
    this.inactivityDeadline.clear();
    this.currentInactivityMs = this.settings.inactivityMs;
    this.checkRid(request, exchange);
    this.armTimers();
  }

  /** The rid check (§11, §14), in one block: each request takes exactly one of these branches. */
  private checkRid(request: BoshRequest, exchange: BoshExchange): void {
    const rid = request.rid;
    const rids = this.rids;
    // B-70: one request beyond `requests` is allowed for pause or terminate.
    const special = request.terminate || request.pause !== undefined;
    const early = rids.buffered(rid);
    if (rid <= rids.last) {
      this.repeated(rid, exchange); // §14.3
      return;
    }
    if (early) {
      // B-89: the earlier copy gets a recoverable error, the newest copy the real answer.
      this.log.debug({ rid }, 'rid repeated before processing; answering the older copy with a recoverable error');
      early.pending.exchange.reply(this.reply(RECOVERABLE_ERROR_BODY));
      early.pending.exchange = exchange;
      return;
    }
    const limit = this.settings.requests + (special ? 1 : 0);
    // D24: the window starts after the rids the client lost (B-84); usually that is rids.last.
    const reach = rids.reach(rid, isWaiting, limit, this.settings.requests);
    if (rid > reach + limit) {
      this.refuse(exchange, new BoshError('item-not-found', `rid ${rid} above the window`)); // B-85, B-93: as for a stale rid
    } else if (!special && this.held.length + rids.bufferedCount >= this.settings.requests) {
      this.refuse(exchange, new BoshError('policy-violation', 'too many simultaneous requests')); // B-71
    } else if (reach < rid) {
      this.log.debug({ rid, expected: rids.last + 1 }, 'request arrived out of order; buffering');
      rids.buffer(rid, { request, pending: this.pending(request, exchange) }); // B-83
    } else {
      if (rid === rids.last + 1) this.process(request, this.pending(request, exchange));
      else rids.buffer(rid, { request, pending: this.pending(request, exchange) });
      this.processInOrder(reach);
    }
  }

  /**
   * B-46, B-83: processes the buffered requests that are next in rid order, up to `reach`, moving
   * past the rids the client lost before they arrived (D24, RidWindow.reach).
   */
  private processInOrder(reach: Rid): void {
    const rids = this.rids;
    while (this.state !== 'ended') {
      const next = rids.takeNext();
      if (next) {
        this.process(next.request, next.pending);
      } else if (rids.last < reach) {
        const lost = rids.skipLost(this.settings.requests);
        this.log.debug({ rid: lost }, 'rid lost by the client before it arrived (requests open above it); moving past it');
      } else {
        return;
      }
    }
  }

  private pending(request: BoshRequest, exchange: BoshExchange): PendingRequest {
    return { rid: request.rid, exchange, arrivedAt: this.clock.now(), empty: request.payload.length === 0 && !request.restart };
  }

  /** A rid at or below the last processed one (§14.3). */
  private repeated(rid: Rid, exchange: BoshExchange): void {
    const cached = this.responses.resend(rid);
    if (cached) {
      if (cached.resends > this.settings.maxResends) {
        this.refuse(exchange, new BoshError('policy-violation', `rid ${rid} resent too often`)); // B-90, B-91
        return;
      }
      this.log.debug({ rid }, 'rid repeated within window; replaying cached response');
      exchange.reply(this.reply(cached.body)); // B-88
      return;
    }
    const held = this.held.find((p) => p.rid === rid);
    if (held) {
      this.log.debug({ rid }, 'rid repeated while held; answering the older copy with a recoverable error');
      held.exchange.reply(this.reply(RECOVERABLE_ERROR_BODY)); // B-89
      held.exchange = exchange;
      exchange.watcher = this;
      return;
    }
    if (this.rids.takeDropped(rid)) {
      // D24: the client lost this request (a reload) and repeats it: its payloads were forwarded
      // when it first arrived; it is held again, in rid order.
      this.log.debug({ rid }, 'rid of a dropped request repeated; holding it again');
      this.hold({ rid, exchange, arrivedAt: this.clock.now(), empty: true });
      this.flush();
      return;
    }
    if (this.rids.takeLost(rid)) {
      // D24: a request counted as lost turns up after all. Its payloads would now reach the server
      // after those of later requests (B-46), so it is not processed: a recoverable error (B-132),
      // and the session goes on.
      this.log.debug({ rid }, 'rid counted as lost arrived late; not processed, answered with a recoverable error');
      exchange.reply(this.reply(RECOVERABLE_ERROR_BODY));
      return;
    }
    this.refuse(exchange, new BoshError('item-not-found', `response to rid ${rid} no longer stored`)); // B-92
  }

  /** Handles one request in rid order (B-46). */
  private process(request: BoshRequest, pending: PendingRequest): void {
    this.rids.advance(request.rid);
    if (!this.keysAccepted(request)) {
      this.refuse(pending.exchange, new BoshError('item-not-found', 'key sequence mismatch')); // B-97
      return;
    }
    if (this.settings.acks) this.responses.acknowledge(request.ack ?? this.responses.highest); // B-58: trims the cache
    if (this.violatesPolling(request, pending) && this.flooding()) {
      this.refuse(pending.exchange, new BoshError('policy-violation', 'polling too frequently'));
      return;
    }
    if (request.terminate || request.pause !== undefined) this.previousRid = 0;
    else {
      this.previousRid = pending.rid;
      this.previousAt = pending.arrivedAt;
      this.previousEmpty = pending.empty;
    }
    if (request.terminate) {
      this.terminate(request, pending);
      return;
    }
    const link = this.link!;
    try {
      if (request.restart) {
        link.restart(); // payloads of a restart request are ignored
      } else if (request.payload.length > 0) {
        const ownSeq = link.send(request.payload); // B-45
        if (ownSeq !== undefined && this.coveredSeq !== undefined) this.coveredSeq = Math.max(this.coveredSeq, ownSeq);
      }
    } catch (err) {
      if (!(err instanceof BoshError)) throw err;
      this.refuse(pending.exchange, err); // D13: refused for this member alone
      return;
    }
    if (pending.exchange.gone) {
      // D24: the client went away while this request waited for an earlier rid (B-83).
      this.forget(pending);
      return;
    }
    this.hold(pending);
    if (request.pause !== undefined) {
      this.pause(request.pause, pending);
      return;
    }
    this.checkReport(request);
    this.flush();
  }

  /** §15 (B-94..B-98): the key sequence, from the first request that carries a key. */
  private keysAccepted(request: BoshRequest): boolean {
    if (!this.keys) {
      if (request.key === undefined && request.newkey === undefined) return true;
      this.keys = new KeySequence();
    }
    return this.keys.accept(request.key, request.newkey);
  }

  /** Holds a processed request until there is something to answer (B-48), in rid order. */
  private hold(pending: PendingRequest): void {
    pending.exchange.watcher = this;
    const held = this.held;
    if (held.length === 0) {
      // A one-element literal: push() onto an empty array would reserve 17 slots (152 bytes)
      // for the one request an idle session holds.
      this.held = [pending];
      return;
    }
    let at = held.length;
    while (at > 0 && held[at - 1]!.rid > pending.rid) at--;
    held.splice(at, 0, pending);
  }

  /**
   * D24: a held request's client went away (HTTP/1.1 connection closed, HTTP/2 stream reset).
   * It is no longer held and counts for nothing; what would have gone to it waits in the queue
   * for the next request, and a repeat of its rid is held again.
   */
  exchangeGone(exchange: BoshExchange): void {
    try {
      const at = this.held.findIndex((p) => p.exchange === exchange);
      if (at < 0 || this.state === 'ended') return;
      const pending = this.held[at]!;
      this.held.splice(at, 1);
      this.forget(pending);
      this.log.debug({ rid: pending.rid }, 'client went away from a held request; dropped');
      this.armTimers();
    } catch (err) {
      this.crashed(err);
    }
  }

  /** D24: a processed request whose client went away counts for nothing from now on. */
  private forget(pending: PendingRequest): void {
    if (this.previousRid === pending.rid) this.previousRid = 0;
    this.rids.drop(pending.rid, this.settings.requests);
  }

  /** B-73 (requests outstanding) and B-77 (polling sessions): empty requests too close together. */
  private violatesPolling(request: BoshRequest, pending: PendingRequest): boolean {
    const previousRid = this.previousRid;
    if (!pending.empty || request.pause !== undefined || request.terminate || previousRid === 0 || !this.previousEmpty) return false;
    if (this.settings.pollingMs === 0 || pending.arrivedAt - this.previousAt >= this.settings.pollingMs) return false;
    if (this.held.some((p) => p.rid === previousRid)) {
      return this.held.length + this.rids.bufferedCount + 1 >= this.settings.requests; // B-73
    }
    const answered = this.responses.find(previousRid);
    return this.settings.hold === 0 && answered !== undefined && !answered.hadPayload; // B-77
  }

  /**
   * D24: a violation of the polling rules counts; only more than `pollingViolations` of them
   * within `pollingWindowMs` end the session (flood protection). Below that the request is
   * handled like any other: held, and the oldest held request answered (B-50).
   */
  private flooding(): boolean {
    const now = this.clock.now();
    let violations = this.violations;
    if (!violations || now - violations.since > this.settings.pollingWindowMs) violations = this.violations = { count: 0, since: now };
    violations.count += 1;
    this.log.debug({ violations: violations.count }, 'empty request breaks the polling rules');
    return violations.count > this.settings.pollingViolations;
  }

  /** §9.2 (B-59, B-60): the client's ack shows a response it has not received for a while. */
  private checkReport(request: BoshRequest): void {
    if (!this.settings.acks || request.ack === undefined || request.ack >= this.responses.highest) return;
    const missing = this.responses.find(request.ack + 1);
    if (!missing) return;
    const time = this.clock.now() - missing.sentAt;
    if (time >= REPORT_AFTER_MS) this.report = { rid: request.ack + 1, time: Math.round(time) };
  }

  /** §10 (B-65, B-66): answer everything now, and allow `pause` seconds of inactivity. */
  private pause(seconds: number, pending: PendingRequest): void {
    const pauseMs = Math.min(seconds * 1000, this.settings.maxPauseMs);
    this.log.info({ pauseMs }, 'session paused');
    while (this.held.length > 1) this.answer(this.held.shift()!, this.takeQueue());
    this.held.shift();
    this.answer(pending, undefined); // B-66: no payloads in the pause response itself
    this.currentInactivityMs = pauseMs;
  }

  /** §13 (B-78..B-81): forward the payloads, confirm on the oldest open request. */
  private terminate(request: BoshRequest, pending: PendingRequest): void {
    this.log.info({ rid: request.rid }, 'client terminated the session');
    this.leave(request); // B-78, D18
    const open = this.held.splice(0);
    const confirmation = terminalReply(undefined, this.settings, this.takeQueue()); // B-80
    const oldest = open.shift();
    if (oldest) {
      oldest.exchange.reply(confirmation);
      for (const other of open) other.exchange.reply(this.reply(EMPTY_BODY)); // B-81
      pending.exchange.reply(this.reply(EMPTY_BODY)); // B-79
    } else {
      pending.exchange.reply(confirmation);
    }
    this.end(undefined);
  }

  // ---- responses (inbound) ------------------------------------------------------------

  streamOpened(info: UpstreamInfo): void {
    this.info = info;
    if (this.state === 'connecting') this.setState('open');
  }

  deliver(items: readonly InboundItem[]): void {
    if (this.state === 'ended') return;
    if (queuedProbe.hasSubscribers) queuedProbe.publish(this);
    try {
      for (const item of items) {
        this.queue.push(item.xml);
        this.queueBytes += item.xml.length;
        if (item.seq !== undefined && item.seq > this.queueSeq) this.queueSeq = item.seq;
      }
      if (this.state !== 'connecting' && this.held.length === 0 && this.queueBytes > this.settings.maxQueueBytes) {
        // D15: a member that stopped polling is ended alone.
        this.log.warn({ queueBytes: this.queueBytes }, 'send queue over its bound; ending the session');
        this.quit(new BoshError('policy-violation', 'send queue over its bound'));
        return;
      }
      this.flush();
      this.armTimers();
    } catch (err) {
      this.crashed(err);
    }
  }

  /** Answers held requests as hold and the queue demand (B-50, B-53). */
  private flush(): void {
    if (this.state === 'ended') return;
    // While the stream is not open, the creation request waits for it even if hold is 0.
    const hold = this.state === 'connecting' ? Math.max(1, this.settings.hold) : this.settings.hold;
    while (this.held.length > hold) this.answer(this.held.shift()!, this.takeQueue());
    if (this.held.length > 0 && (this.queue.length > 0 || this.report)) {
      this.answer(this.held.shift()!, this.takeQueue());
    }
  }

  /** Everything queued goes into the response being built, which then covers `queueSeq`. */
  private takeQueue(): string[] {
    const items = this.queue;
    this.queue = [];
    this.queueBytes = 0;
    if (this.coveredSeq !== undefined && this.queueSeq > this.coveredSeq) this.coveredSeq = this.queueSeq;
    return items;
  }

  /**
   * Sends one response and keeps it for retransmission (B-86, B-87). `queued`: what it took from
   * the queue (all of it), so on a shared link it carries `shared:seq` (D14b); undefined: it took
   * nothing (a pause's own response).
   */
  private answer(pending: PendingRequest, queued: string[] | undefined): void {
    const payloads = queued ?? [];
    const attrs: Record<string, string> = {};
    const creationAttrs = this.settings.creationAttrs;
    if (creationAttrs) {
      // The creation response (B-25..B-35); the session lets go of its attributes once sent.
      Object.assign(attrs, creationAttrs);
      this.settings.creationAttrs = undefined;
      if (this.info) {
        // B-35, X-09, X-12: the upstream stream's identity, when known.
        attrs.from = this.info.from || attrs.from || '';
        attrs.authid = this.info.id;
        attrs['xmpp:version'] = this.info.version;
      }
    } else if (this.settings.acks && this.rids.last !== pending.rid) {
      attrs.ack = String(this.rids.last); // B-55, B-57
    }
    if (queued && this.coveredSeq !== undefined) {
      attrs['xmlns:shared'] = NS_SHARED;
      attrs['shared:seq'] = String(this.coveredSeq);
    }
    if (this.report) {
      attrs.report = String(this.report.rid); // B-60
      attrs.time = String(this.report.time);
      this.report = undefined;
    }
    const body = renderBody(attrs, payloads);
    const keep = this.settings.acks ? Math.max(this.settings.requests, 16) : this.settings.requests;
    this.responses.store(pending.rid, body, this.clock.now(), payloads.length > 0, keep);
    pending.exchange.reply(this.reply(body));
    if (payloads.length > 0 && writtenProbe.hasSubscribers) writtenProbe.publish(this);
  }

  private reply(body: string): BoshReply {
    return { status: 200, contentType: this.settings.contentType, body };
  }

  // ---- timers -------------------------------------------------------------------------

  /** After every event: a wait timer for the oldest held request, or the inactivity timer. */
  private armTimers(): void {
    if (this.state === 'ended') return;
    const oldest = this.held[0];
    if (oldest) {
      this.inactivityDeadline.clear();
      this.waitDeadline.setAt(oldest.arrivedAt + this.settings.waitMs);
    } else {
      this.waitDeadline.clear();
      if (!this.inactivityDeadline.set && this.settings.inactivityMs > 0) {
        this.inactivityDeadline.setAt(this.clock.now() + this.currentInactivityMs);
      }
    }
  }

  /** The wait or the inactivity deadline expired (DeadlineOwner: no closure per deadline). */
  deadlineExpired(deadline: Deadline): void {
    if (deadline === this.waitDeadline) this.onWait();
    else this.onInactivity();
  }

  /** B-49, B-52: nothing to send within `wait`: an empty response. */
  private onWait(): void {
    try {
      const oldest = this.held.shift();
      if (oldest) this.answer(oldest, this.takeQueue());
      this.armTimers();
    } catch (err) {
      this.crashed(err);
    }
  }

  /** B-61: the client is gone; end without telling it (B-62: later requests: item-not-found). */
  private onInactivity(): void {
    try {
      this.log.info({ inactivityMs: this.currentInactivityMs }, 'client inactive; ending session');
      this.quit(undefined);
    } catch (err) {
      this.crashed(err);
    }
  }

  // ---- ending -------------------------------------------------------------------------

  /**
   * A request is refused with `error` (B-119, B-125, B-126...): it gets the condition, with the
   * stanzas still queued, the member leaves its link and the session ends. After the end
   * a refusal only answers the request.
   */
  refuse(exchange: BoshExchange, error: BoshError): void {
    if (this.state === 'ended') {
      exchange.reply(terminalReply(error, this.settings));
      return;
    }
    this.log.info({ condition: error.condition, reason: error.message }, 'request refused; ending session');
    exchange.reply(terminalReply(error, this.settings, this.takeQueue()));
    this.leave(undefined);
    this.end(error);
  }

  /** The link ended this member (D19, D20): the oldest held request, or else the next request, learns `error`. */
  fail(error: BoshError): void {
    try {
      this.tell(error);
    } catch (err) {
      this.crashed(err);
    }
  }

  /** The session gives up by itself: the member leaves its link; the client learns `error` (undefined: nothing, B-62). */
  private quit(error: BoshError | undefined): void {
    this.leave(undefined);
    if (error) this.tell(error);
    else this.end(undefined);
  }

  /** Ends the session with `error`, told on the oldest held request or else the next request. */
  private tell(error: BoshError): void {
    if (this.state === 'ended') return;
    this.log.info({ condition: error.condition, reason: error.message }, 'session ended by the connection manager');
    const queued = this.takeQueue(); // stanzas still held for the client come first
    const oldest = this.held.shift();
    if (oldest) {
      oldest.exchange.reply(terminalReply(error, this.settings, queued));
      this.end(error);
    } else {
      this.end(error, queued); // no request to tell it on: the next one will
    }
  }

  /**
   * Issue 11.4: an unexpected exception in this session's handling (a bug). It is logged with
   * its stack and ends this session alone with internal-server-error, the member leaving its
   * link; `exchange`, the request being handled, learns it. Nothing escapes to the caller.
   */
  crashed(err: unknown, exchange?: BoshExchange): void {
    this.log.error({ err }, 'unexpected exception in the session; ending it with internal-server-error');
    const error = new BoshError('internal-server-error', 'unexpected exception');
    try {
      if (exchange) {
        this.held = this.held.filter((p) => p.exchange !== exchange);
        this.refuse(exchange, error);
      } else {
        this.quit(error);
      }
    } catch (again) {
      this.log.error({ err: again }, 'ending the session after an exception failed too; forgetting it');
      if (this.state !== 'ended') {
        this.setState('ended');
        this.waitDeadline.cancel();
        this.inactivityDeadline.cancel();
        this.owner.sessionEnded(this, undefined, error.condition);
      }
    }
  }

  /**
   * The member leaves its link: with the client's terminate request its payloads are forwarded
   * (B-78) and `shared:close='all'` ends the link for every member (D18); without, nothing is.
   * A link that throws does not keep the session from ending.
   */
  private leave(terminate: BoshRequest | undefined): void {
    try {
      if (terminate) this.link?.leave(terminate.payload, terminate.sharedClose === 'all');
      else this.link?.leave(null);
    } catch (err) {
      this.log.error({ err }, 'the link failed while this member left it');
    }
  }

  /**
   * Final state: timers stop, every request still pending gets other-request (B-125), and the
   * owner keeps what later requests get: `error`, after `queued` stanzas nobody received yet
   * (no error: item-not-found, B-62).
   */
  private end(error: BoshError | undefined, queued: readonly string[] = []): void {
    this.setState('ended');
    this.waitDeadline.cancel();
    this.inactivityDeadline.cancel();
    const rest = [...this.held.splice(0), ...this.rids.takeAll().map((e) => e.pending)];
    for (const pending of rest) pending.exchange.reply(terminalReply(OTHER_REQUEST, this.settings));
    this.queue = [];
    this.responses.clear();
    this.owner.sessionEnded(this, error && terminalReply(error, this.settings, queued), error?.condition);
  }
}
