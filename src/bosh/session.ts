import type { Logger } from '../log.js';
import { Deadline, type Clock } from '../clock.js';
import { BoshError, LEGACY_HTTP_STATUS, type TerminalCondition } from './conditions.js';
import type { BoshExchange, BoshReply, ExchangeWatcher } from './exchange.js';
import { KeySequence } from './key-sequence.js';
import type { InboundItem, LinkPort, MemberPort, UpstreamInfo } from './ports.js';
import { NS_SHARED } from '../protocol/namespaces.js';
import type { BoshRequest, Rid } from './request.js';
import { RECOVERABLE_ERROR_BODY, renderBody, renderTerminate } from './response.js';

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

interface CachedResponse {
  rid: Rid;
  body: string;
  sentAt: number;
  hadPayload: boolean;
  resends: number;
}

/** Notifications from a session to whoever keeps its sid (the session manager). */
export interface SessionOwner {
  /** The session ended; `tombstone` answers its later requests, or undefined for item-not-found. */
  sessionEnded(session: BoshSession, tombstone: BoshReply | undefined, condition: TerminalCondition | undefined): void;
}

/** §9.2: a response that is this much overdue in the client's acks gets reported (B-59, B-60). */
const REPORT_AFTER_MS = 2000;

/**
 * One BOSH session (a "member" of a link): rid sequencing and the retransmission cache, held
 * requests with hold/wait, the send queue, inactivity and pause, acknowledgements and key
 * sequencing. It talks upstream only through its LinkPort.
 */
export class BoshSession implements MemberPort, ExchangeWatcher {
  private state: SessionState = 'connecting';
  private link: LinkPort | undefined;
  /** Processed requests not yet answered, oldest first. */
  private held: PendingRequest[] = [];
  /** Requests that arrived above the next expected rid (B-83), by rid. */
  private early: Map<Rid, { request: BoshRequest; pending: PendingRequest }> | undefined;
  /** The highest rid processed: every rid up to it has arrived. */
  private lastRid: Rid;
  private highestAnswered: Rid = 0;
  /** D24: rids whose held request's client went away unanswered, newest last (at most `requests`). */
  private dropped: Rid[] | undefined;
  /** D24: polling-rule violations counted since `violationsSince`. */
  private violations = 0;
  private violationsSince = 0;
  /** B-86: answered responses by rid, for retransmission. */
  private cache: CachedResponse[] = [];
  private queue: string[] = [];
  private queueBytes = 0;
  /** Shared links (D14b): the highest event number queued, and the highest covered by a response. */
  private queueSeq = 0;
  private coveredSeq: number | undefined;
  private readonly keys = new KeySequence();
  private info: UpstreamInfo | undefined;
  private creationAnswered = false;
  private previous: PendingRequest | undefined;
  private report: { rid: Rid; time: number } | undefined;
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
    this.lastRid = settings.creationRid - 1;
    this.currentInactivityMs = settings.inactivityMs;
    this.waitDeadline = new Deadline(clock, () => this.onWait());
    this.inactivityDeadline = new Deadline(clock, () => this.onInactivity());
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
      this.replyTerminal(exchange, new BoshError('item-not-found', 'session ended'));
      return;
    }
    // B-61: inactivity runs only while nothing is pending; B-68: any request ends a pause.
    this.disarmInactivity();
    this.currentInactivityMs = this.settings.inactivityMs;
    const rid = request.rid;
    if (rid <= this.lastRid) {
      this.retransmission(rid, exchange);
    } else {
      const early = this.early?.get(rid);
      if (early) {
        // B-89: the earlier copy gets a recoverable error, the newest copy the real answer.
        this.log.debug({ rid }, 'rid repeated before processing; answering the older copy with a recoverable error');
        early.pending.exchange.reply(this.reply(200, RECOVERABLE_ERROR_BODY));
        early.pending.exchange = exchange;
      } else {
        this.arrive(request, exchange);
      }
    }
    this.armTimers();
  }

  private arrive(request: BoshRequest, exchange: BoshExchange): void {
    const rid = request.rid;
    const special = request.terminate || request.pause !== undefined;
    // B-70: one request beyond `requests` is allowed for pause or terminate.
    const window = this.settings.requests + (special ? 1 : 0);
    if (rid > this.lastRid + window) {
      // B-85, B-93: above the window; same condition as a stale rid.
      this.failWith(exchange, new BoshError('item-not-found', `rid ${rid} above the window`));
      return;
    }
    if (!special && this.held.length + (this.early?.size ?? 0) >= this.settings.requests) {
      // B-71: more simultaneous requests than `requests`, none answered.
      this.failWith(exchange, new BoshError('policy-violation', 'too many simultaneous requests'));
      return;
    }
    const pending: PendingRequest = {
      rid,
      exchange,
      arrivedAt: this.clock.now(),
      empty: request.payload.length === 0 && !request.restart,
    };
    if (rid !== this.lastRid + 1) {
      // B-83: buffer until the gap is filled.
      this.log.debug({ rid, expected: this.lastRid + 1 }, 'request arrived out of order; buffering');
      (this.early ??= new Map()).set(rid, { request, pending });
      return;
    }
    this.process(request, pending);
    for (let next = this.early?.get(this.lastRid + 1); next && this.state !== 'ended'; next = this.early?.get(this.lastRid + 1)) {
      this.early!.delete(next.request.rid);
      if (this.early!.size === 0) this.early = undefined;
      this.process(next.request, next.pending);
    }
  }

  /** A rid at or below the last processed one (§14.3). */
  private retransmission(rid: Rid, exchange: BoshExchange): void {
    const cached = this.cached(rid);
    if (cached) {
      cached.resends += 1;
      if (cached.resends > this.settings.maxResends) {
        this.failWith(exchange, new BoshError('policy-violation', `rid ${rid} resent too often`)); // B-90, B-91
        return;
      }
      this.log.debug({ rid }, 'rid repeated within window; replaying cached response');
      exchange.reply(this.reply(200, cached.body)); // B-88
      return;
    }
    const held = this.held.find((p) => p.rid === rid);
    if (held) {
      this.log.debug({ rid }, 'rid repeated while held; answering the older copy with a recoverable error');
      held.exchange.reply(this.reply(200, RECOVERABLE_ERROR_BODY)); // B-89
      held.exchange = exchange;
      return;
    }
    if (this.dropped?.includes(rid)) {
      this.rehold(rid, exchange);
      return;
    }
    this.failWith(exchange, new BoshError('item-not-found', `response to rid ${rid} no longer stored`)); // B-92
  }

  /**
   * D24: the client repeats a rid whose held request it lost (page reload, saved sid and rid).
   * Its payloads were forwarded when it first arrived; it is held again, in rid order.
   */
  private rehold(rid: Rid, exchange: BoshExchange): void {
    const rest = this.dropped!.filter((r) => r !== rid);
    this.dropped = rest.length === 0 ? undefined : rest;
    this.log.debug({ rid }, 'rid of a dropped request repeated; holding it again');
    const pending: PendingRequest = { rid, exchange, arrivedAt: this.clock.now(), empty: true };
    exchange.watcher = this;
    let at = this.held.length;
    while (at > 0 && this.held[at - 1]!.rid > rid) at--;
    this.held.splice(at, 0, pending);
    this.flush();
  }

  /**
   * D24: a held request's client went away (HTTP/1.1 connection closed, HTTP/2 stream reset).
   * It is no longer held and counts for nothing; what would have gone to it waits in the queue
   * for the next request, and a repeat of its rid is held again.
   */
  exchangeGone(exchange: BoshExchange): void {
    const at = this.held.findIndex((p) => p.exchange === exchange);
    if (at < 0 || this.state === 'ended') return;
    const pending = this.held[at]!;
    this.held.splice(at, 1);
    if (this.previous === pending) this.previous = undefined;
    this.recordDropped(pending.rid);
    this.log.debug({ rid: pending.rid }, 'client went away from a held request; dropped');
    this.armTimers();
  }

  private recordDropped(rid: Rid): void {
    const kept = (this.dropped ?? []).filter((r) => r !== rid);
    kept.push(rid);
    this.dropped = kept.length > this.settings.requests ? kept.slice(kept.length - this.settings.requests) : kept;
  }

  /** Handles one request in rid order (B-46). */
  private process(request: BoshRequest, pending: PendingRequest): void {
    this.lastRid = request.rid;
    if (!this.keys.accept(request.key, request.newkey)) {
      this.failWith(pending.exchange, new BoshError('item-not-found', 'key sequence mismatch')); // B-97
      return;
    }
    if (this.settings.acks) this.acknowledge(request.ack ?? this.highestAnswered); // B-58
    if (this.violatesPolling(request, pending) && this.flooding()) {
      this.failWith(pending.exchange, new BoshError('policy-violation', 'polling too frequently'));
      return;
    }
    this.previous = request.terminate || request.pause !== undefined ? undefined : pending;
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
      this.failWith(pending.exchange, err); // D13: refused for this member alone
      return;
    }
    if (pending.exchange.gone) {
      // D24: the client went away while this request waited for an earlier rid (B-83).
      this.recordDropped(pending.rid);
      if (this.previous === pending) this.previous = undefined;
      return;
    }
    pending.exchange.watcher = this;
    // A one-element literal: push() onto an empty array would reserve 17 slots (152 bytes) for
    // the one request an idle session holds.
    if (this.held.length === 0) this.held = [pending];
    else this.held.push(pending);
    if (request.pause !== undefined) {
      this.pause(request.pause, pending);
      return;
    }
    this.checkReport(request);
    this.flush();
  }

  /** B-73 (requests outstanding) and B-77 (polling sessions): empty requests too close together. */
  private violatesPolling(request: BoshRequest, pending: PendingRequest): boolean {
    const previous = this.previous;
    if (!pending.empty || request.pause !== undefined || request.terminate || !previous?.empty) return false;
    if (this.settings.pollingMs === 0 || pending.arrivedAt - previous.arrivedAt >= this.settings.pollingMs) return false;
    if (this.held.includes(previous)) {
      return this.held.length + (this.early?.size ?? 0) + 1 >= this.settings.requests; // B-73
    }
    const answered = this.cached(previous.rid);
    return this.settings.hold === 0 && answered !== undefined && !answered.hadPayload; // B-77
  }

  /**
   * D24: a violation of the polling rules counts; only more than `pollingViolations` of them
   * within `pollingWindowMs` end the session (flood protection). Below that the request is
   * handled like any other: held, and the oldest held request answered (B-50).
   */
  private flooding(): boolean {
    const now = this.clock.now();
    if (this.violations === 0 || now - this.violationsSince > this.settings.pollingWindowMs) {
      this.violations = 0;
      this.violationsSince = now;
    }
    this.violations += 1;
    this.log.debug({ violations: this.violations }, 'empty request breaks the polling rules');
    return this.violations > this.settings.pollingViolations;
  }

  /** §9.2 (B-59, B-60): the client's ack shows a response it has not received for a while. */
  private checkReport(request: BoshRequest): void {
    if (!this.settings.acks || request.ack === undefined || request.ack >= this.highestAnswered) return;
    const missing = this.cached(request.ack + 1);
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
    this.answer(pending, [], false);
    this.currentInactivityMs = pauseMs;
  }

  /** §13 (B-78..B-81): forward the payloads, confirm on the oldest open request. */
  private terminate(request: BoshRequest, pending: PendingRequest): void {
    this.log.info({ rid: request.rid }, 'client terminated the session');
    this.link!.leave(request.payload, request.sharedClose === 'all'); // D18
    const open = this.held.splice(0);
    const payloads = this.takeQueue();
    const terminateBody = renderTerminate(undefined, payloads);
    if (open.length === 0) {
      pending.exchange.reply(this.reply(200, terminateBody));
    } else {
      open[0]!.exchange.reply(this.reply(200, terminateBody));
      for (const other of open.slice(1)) other.exchange.reply(this.reply(200, renderBody({})));
      pending.exchange.reply(this.reply(200, renderBody({})));
    }
    this.end(undefined, new BoshError('other-request', 'session terminated'));
  }

  // ---- responses (inbound) ------------------------------------------------------------

  streamOpened(info: UpstreamInfo): void {
    this.info = info;
    if (this.state === 'connecting') this.setState('open');
  }

  deliver(items: InboundItem[]): void {
    if (this.state === 'ended') return;
    for (const item of items) {
      this.queue.push(item.xml);
      this.queueBytes += item.xml.length;
      if (item.seq !== undefined && item.seq > this.queueSeq) this.queueSeq = item.seq;
    }
    if (this.state !== 'connecting' && this.held.length === 0 && this.queueBytes > this.settings.maxQueueBytes) {
      // D15: a member that stopped polling is ended alone.
      this.log.warn({ queueBytes: this.queueBytes }, 'send queue over its bound; ending the session');
      this.link?.leave(null);
      this.fail(new BoshError('policy-violation', 'send queue over its bound'));
      return;
    }
    this.flush();
    this.armTimers();
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
   * Sends one response and keeps it for retransmission (B-86, B-87). `covers`: the response
   * took the whole queue, so on a shared link it carries `shared:seq` (D14b).
   */
  private answer(pending: PendingRequest, payloads: string[], covers = true): void {
    const attrs: Record<string, string> = {};
    if (!this.creationAnswered) {
      this.creationAnswered = true;
      Object.assign(attrs, this.settings.creationAttrs);
      this.settings.creationAttrs = undefined;
      if (this.info) {
        // B-35, X-09, X-12: the upstream stream's identity, when known.
        attrs.from = this.info.from || attrs.from || '';
        attrs.authid = this.info.id;
        attrs['xmpp:version'] = this.info.version;
      }
    } else if (this.settings.acks && this.lastRid !== pending.rid) {
      attrs.ack = String(this.lastRid); // B-55, B-57
    }
    if (covers && this.coveredSeq !== undefined) {
      attrs['xmlns:shared'] = NS_SHARED;
      attrs['shared:seq'] = String(this.coveredSeq);
    }
    if (this.report) {
      attrs.report = String(this.report.rid); // B-60
      attrs.time = String(this.report.time);
      this.report = undefined;
    }
    const body = renderBody(attrs, payloads);
    const now = this.clock.now();
    const keep = this.settings.acks ? Math.max(this.settings.requests, 16) : this.settings.requests;
    this.keepResponses(this.cache.filter((c) => c.rid !== pending.rid), { rid: pending.rid, body, sentAt: now, hadPayload: payloads.length > 0, resends: 0 }, keep);
    if (pending.rid > this.highestAnswered) this.highestAnswered = pending.rid;
    pending.exchange.reply(this.reply(200, body));
  }

  /** B-58: responses up to `ack` have arrived and need not be kept. */
  private acknowledge(ack: Rid): void {
    if (this.cache.some((c) => c.rid <= ack)) this.keepResponses(this.cache.filter((c) => c.rid > ack), undefined, Infinity);
  }

  private cached(rid: Rid): CachedResponse | undefined {
    return this.cache.find((c) => c.rid === rid);
  }

  /**
   * B-87: keep `requests` responses, or every unacknowledged one (within a bound): the newest
   * `keep` of `kept` and `added`, oldest first, in an array of exactly that size (a Map or a
   * grown array costs ~150 bytes for the one or two responses an idle session keeps).
   */
  private keepResponses(kept: CachedResponse[], added: CachedResponse | undefined, keep: number): void {
    const all = added ? kept.length + 1 : kept.length;
    const from = Math.max(0, all - keep);
    const next = new Array<CachedResponse>(all - from);
    for (let i = from; i < kept.length; i++) next[i - from] = kept[i]!;
    if (added) next[next.length - 1] = added;
    this.cache = next;
  }

  // ---- timers -------------------------------------------------------------------------

  /** After every event: a wait timer for the oldest held request, or the inactivity timer. */
  private armTimers(): void {
    if (this.state === 'ended') return;
    const oldest = this.held[0];
    if (oldest) {
      this.disarmInactivity();
      this.waitDeadline.setAt(oldest.arrivedAt + this.settings.waitMs);
    } else {
      this.disarmWait();
      if (!this.inactivityDeadline.set && this.settings.inactivityMs > 0) {
        this.inactivityDeadline.setAt(this.clock.now() + this.currentInactivityMs);
      }
    }
  }

  /** B-49, B-52: nothing to send within `wait`: an empty response. */
  private onWait(): void {
    const oldest = this.held[0];
    if (oldest) {
      this.held.shift();
      this.answer(oldest, this.takeQueue());
    }
    this.armTimers();
  }

  /** B-61: the client is gone; end without telling it (B-62: later requests: item-not-found). */
  private onInactivity(): void {
    this.log.info({ inactivityMs: this.currentInactivityMs }, 'client inactive; ending session');
    this.link?.leave(null);
    this.end(undefined, new BoshError('other-request'), false);
  }

  private disarmWait(): void {
    this.waitDeadline.clear();
  }

  private disarmInactivity(): void {
    this.inactivityDeadline.clear();
  }

  // ---- ending -------------------------------------------------------------------------

  /** The link ended this member (D19, D20), or the session ended itself (D15). */
  fail(error: BoshError): void {
    if (this.state === 'ended') return;
    this.log.info({ condition: error.condition, reason: error.message }, 'session ended by the connection manager');
    // stanzas still held for the client, then the error's own payloads.
    const payloads = [...this.takeQueue(), ...error.children.map((c) => c.toString())];
    const body = renderTerminate(error.condition, payloads, sharedErrorAttrs(error));
    const oldest = this.held.shift();
    if (oldest) {
      oldest.exchange.reply(this.terminalReply(error.condition, body));
      this.end(this.terminalReply(error.condition, renderTerminate(error.condition, [], sharedErrorAttrs(error))), new BoshError('other-request'), true, error.condition);
    } else {
      // No request to tell it on: the next one will.
      this.end(this.terminalReply(error.condition, body), new BoshError('other-request'), true, error.condition);
    }
  }

  /** A request that could not be read, but names this session, ends it (B-119). */
  reject(exchange: BoshExchange, error: BoshError): void {
    if (this.state === 'ended') this.replyTerminal(exchange, error);
    else this.failWith(exchange, error);
  }

  /** A request broke the rules: it gets the condition, the others `other-request` (B-125). */
  private failWith(exchange: BoshExchange, error: BoshError): void {
    this.log.info({ condition: error.condition, reason: error.message }, 'request refused; ending session');
    const body = renderTerminate(error.condition, this.takeQueue(), sharedErrorAttrs(error));
    exchange.reply(this.terminalReply(error.condition, body));
    this.link?.leave(null);
    this.end(this.terminalReply(error.condition, renderTerminate(error.condition)), new BoshError('other-request'), true, error.condition);
  }

  /**
   * Final state: every pending request gets `others`, timers are cleared, and the owner learns
   * what later requests should get (`tombstone`; undefined: item-not-found).
   */
  private end(tombstone: BoshReply | undefined, others: BoshError, answerOthers = true, condition?: TerminalCondition): void {
    this.setState('ended');
    this.waitDeadline.cancel();
    this.inactivityDeadline.cancel();
    const rest = [...this.held.splice(0), ...[...(this.early?.values() ?? [])].map((e) => e.pending)];
    this.early = undefined;
    if (answerOthers) {
      for (const pending of rest) pending.exchange.reply(this.terminalReply(others.condition, renderTerminate(others.condition)));
    }
    this.queue = [];
    this.cache = [];
    this.owner.sessionEnded(this, tombstone, condition);
  }

  private replyTerminal(exchange: BoshExchange, error: BoshError): void {
    exchange.reply(this.terminalReply(error.condition, renderTerminate(error.condition)));
  }

  /** B-116: legacy clients get HTTP codes for the three starred conditions. */
  private terminalReply(condition: TerminalCondition, body: string): BoshReply {
    const status = this.settings.legacy ? LEGACY_HTTP_STATUS[condition] ?? 200 : 200;
    return this.reply(status, body);
  }

  private reply(status: number, body: string): BoshReply {
    return { status, contentType: this.settings.contentType, body };
  }
}

/** D2..D8: a refusal of the shared extension names its reason in `shared:error`. */
export function sharedErrorAttrs(error: BoshError): Record<string, string> {
  return error.sharedError
    ? { 'xmlns:shared': NS_SHARED, 'shared:error': error.sharedError }
    : {};
}
