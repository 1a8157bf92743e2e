import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { Element } from '../xml/element.js';
import { Emitter } from './emitter.js';
import { BoshError, type SharedError, type TerminalCondition } from './errors.js';
import { NS } from './namespaces.js';
import { sharedAttr, xml } from './xml.js';
import type { XmlCodec } from './xml-codec.js';

/** The part of `fetch` the transport uses; inject a fake one in tests. */
export type FetchLike = (
  url: string,
  init: { method: 'POST'; headers: Record<string, string>; body: string; signal: AbortSignal; credentials?: 'include' | 'same-origin' | 'omit' },
) => Promise<{ status: number; text(): Promise<string> }>;

/** XEP-0124 §14.1 (C-08): the largest rid a session may ever use. */
export const MAX_RID = Number.MAX_SAFE_INTEGER; // 2^53 - 1

/**
 * C-08: a large random initial rid that leaves room for 2^32 requests below 2^53 - 1.
 * `random` fills a byte array (crypto.getRandomValues by default).
 */
export function initialRid(random: (bytes: Uint8Array) => Uint8Array = (b) => globalThis.crypto.getRandomValues(b)): number {
  const bytes = random(new Uint8Array(7));
  let n = 0;
  for (const b of bytes) n = n * 256 + b;
  // 56 random bits folded into [2^20, 2^53 - 2^32): large, and far from the limit.
  const span = MAX_RID - 2 ** 32 - 2 ** 20;
  return 2 ** 20 + (n % span);
}

export interface BoshTransportOptions {
  /** The CM's BOSH URL. */
  url: string;
  codec: XmlCodec;
  /** @default globalThis.fetch */
  fetch?: FetchLike;
  /** @default systemClock */
  clock?: Clock;
  /** Initial rid (tests); @default initialRid() */
  rid?: number;
  /** Extra HTTP headers for every request. */
  headers?: Record<string, string>;
  /** Sends cookies cross-origin (fetch `credentials: 'include'`). @default false */
  withCredentials?: boolean;
  /** Resends of one request (network error, non-200, timeout, `type='error'`) before giving up. @default 5 */
  maxRetries?: number;
  /** First retry delay; it doubles per attempt. @default 250 */
  retryBaseMs?: number;
  /** @default 8000 */
  retryMaxMs?: number;
  /** An HTTP attempt is abandoned (and resent) after `wait` plus this. @default 10000 */
  requestTimeoutMarginMs?: number;
  /** Use XEP-0124 §9 acknowledgements (`ack='1'` on creation, then `ack` where needed). @default false */
  ack?: boolean;
  /** Debug log; never given request bodies (they may hold SASL data or a shared key). */
  log?: (message: string) => void;
}

/** Attributes of a session creation request (§7.1); anything else (e.g. `shared:key`) is passed as is. */
export interface CreateAttributes {
  to: string;
  /** @default 60 */
  wait?: number;
  /** @default 1 */
  hold?: number;
  /** @default '1.11' */
  ver?: string;
  /** @default 'en' */
  'xml:lang'?: string;
  route?: string;
  from?: string;
  [attr: string]: string | number | undefined;
}

/** What a session needs to continue in another page: saved after every request and response (D23). */
export interface TransportState {
  sid: string;
  /** The next rid to use. */
  rid: number;
  wait: number;
  hold: number;
  requests: number;
  polling: number;
  inactivity: number;
  maxpause?: number;
  acks: boolean;
  /** Requests sent but not answered, as sent (C-09: a resend is a byte copy). */
  pending: { rid: number; body: string }[];
}

export type TransportStatus = 'idle' | 'creating' | 'open' | 'closing' | 'closed';

export interface TransportEvents {
  /** A response body, in rid order (§14.2), terminal ones included (they may carry stanzas). */
  body: Element;
  /** The session is over: `error` unset after a clean terminate. */
  closed: { error?: BoshError };
  /** Something a page would need to resume changed (a request went out, a response was processed). */
  state: TransportState;
  status: TransportStatus;
}

type RequestKind = 'create' | 'normal' | 'restart' | 'terminate';

interface Outstanding {
  rid: number;
  body: string;
  kind: RequestKind;
  /** Network/HTTP failures plus recoverable-error resends of this rid. */
  attempts: number;
  /** Bumped on each send; a result of an older attempt is ignored. */
  generation: number;
  controller?: AbortController;
  timer?: TimerHandle;
  retryTimer?: TimerHandle;
  resolve?: (body: Element) => void;
  reject?: (err: BoshError) => void;
}

const DEFAULTS = { wait: 60, hold: 1, ver: '1.11', lang: 'en' };

/**
 * A BOSH session seen from the client (XEP-0124, XEP-0206): rids, the request window,
 * in-order processing, retransmission and terminal conditions. It knows nothing of XMPP
 * above the `<body/>` wrapper: it queues elements, sends them, and reports response bodies.
 */
export class BoshTransport extends Emitter<TransportEvents> {
  private readonly opts: Required<Omit<BoshTransportOptions, 'rid' | 'headers' | 'log'>> & Pick<BoshTransportOptions, 'headers' | 'log'>;
  private readonly clock: Clock;
  private currentStatus: TransportStatus = 'idle';
  private nextRid: number;
  private sidValue: string | undefined;
  private wait = DEFAULTS.wait;
  private hold = DEFAULTS.hold;
  private requests = 2;
  private polling = 0;
  private inactivity = 0;
  private maxpause: number | undefined;
  private acks = false;
  private legacy = false;
  private started = false;
  private readonly queue: Element[] = [];
  private restartAttrs: Record<string, string> | undefined;
  private readonly inFlight = new Map<number, Outstanding>();
  /** Responses that arrived before a lower rid's response: processed later, in order. */
  private readonly early = new Map<number, Element>();
  /** The lowest rid whose response has not been processed. */
  private nextToProcess: number;
  private pumpScheduled = false;
  private pollTimer: TimerHandle | undefined;
  private lastPollAt = -Infinity;
  private terminateWaiter: { resolve: () => void } | undefined;

  constructor(options: BoshTransportOptions) {
    super();
    this.opts = {
      fetch: options.fetch ?? ((url, init) => globalThis.fetch(url, init)),
      clock: options.clock ?? systemClock,
      withCredentials: false,
      maxRetries: 5,
      retryBaseMs: 250,
      retryMaxMs: 8000,
      requestTimeoutMarginMs: 10_000,
      ack: false,
      ...stripUndefined(options),
    } as BoshTransport['opts'];
    this.clock = this.opts.clock;
    this.nextRid = options.rid ?? initialRid();
    this.nextToProcess = this.nextRid;
  }

  get status(): TransportStatus {
    return this.currentStatus;
  }

  get sid(): string | undefined {
    return this.sidValue;
  }

  /** The rid the next new request will carry. */
  get rid(): number {
    return this.nextRid;
  }

  /** Requests sent and not yet answered. */
  get outstanding(): number {
    return this.inFlight.size;
  }

  /** The negotiated `requests` (§7.2): most requests in flight at once. */
  get requestLimit(): number {
    return this.requests;
  }

  private setStatus(status: TransportStatus): void {
    if (status === this.currentStatus) return;
    this.opts.log?.(`bosh: ${this.currentStatus} -> ${status}`);
    this.currentStatus = status;
    this.emit('status', status);
  }

  /**
   * Sends the session creation request (§7.1) and resolves with the creation response; rejects
   * with a BoshError for a terminal response (a refusal of `shared:key` carries `sharedError`).
   * Call start() once the response is handled to begin sending and polling.
   */
  async create(attrs: CreateAttributes): Promise<Element> {
    if (this.currentStatus !== 'idle') throw new Error(`create() in state ${this.currentStatus}`);
    this.setStatus('creating');
    const { to, wait, hold, ver, route, from, 'xml:lang': lang, ...extra } = attrs;
    this.wait = Number(wait ?? DEFAULTS.wait);
    this.hold = Number(hold ?? DEFAULTS.hold);
    const body = xml('body', {
      rid: this.nextRid,
      xmlns: NS.HTTPBIND,
      to,
      'xml:lang': lang ?? DEFAULTS.lang,
      ver: ver ?? DEFAULTS.ver,
      wait: this.wait,
      hold: this.hold,
      content: 'text/xml; charset=utf-8',
      route,
      from,
      ack: this.opts.ack ? '1' : undefined, // §9.2 (C-05)
      'xmpp:version': '1.0', // XEP-0206 §3
      'xmlns:xmpp': NS.XBOSH,
      ...extra,
    });
    const response = await new Promise<Element>((resolve, reject) => {
      this.dispatch('create', body, resolve, reject);
    });
    try {
      this.adoptCreationResponse(response);
    } catch (err) {
      this.close(err as BoshError);
      throw err;
    }
    this.setStatus('open');
    return response;
  }

  /** Continues a session of an earlier page (D23): start() then resends its unanswered requests. */
  resume(state: TransportState): void {
    if (this.currentStatus !== 'idle') throw new Error(`resume() in state ${this.currentStatus}`);
    this.sidValue = state.sid;
    this.nextRid = state.rid;
    this.wait = state.wait;
    this.hold = state.hold;
    this.requests = state.requests;
    this.polling = state.polling;
    this.inactivity = state.inactivity;
    this.maxpause = state.maxpause;
    this.acks = state.acks;
    const pending = [...state.pending].sort((a, b) => a.rid - b.rid);
    this.nextToProcess = pending[0]?.rid ?? state.rid;
    for (const p of pending) {
      this.inFlight.set(p.rid, { rid: p.rid, body: p.body, kind: 'normal', attempts: 0, generation: 0 });
    }
    this.setStatus('open');
  }

  /** Begins sending queued elements and keeping a request held at the CM. */
  start(): void {
    if (this.currentStatus !== 'open' || this.started) return;
    this.started = true;
    for (const o of [...this.inFlight.values()].sort((a, b) => a.rid - b.rid)) {
      if (o.generation === 0) this.transmit(o); // resumed requests: byte copies (C-09)
    }
    this.pump();
  }

  /** Queues a stanza (or any top-level element); queued elements go out together in one request. */
  send(...elements: Element[]): void {
    if (this.currentStatus === 'closed' || this.currentStatus === 'closing') {
      throw new BoshError('client-closed', 'the BOSH session is closed');
    }
    this.queue.push(...elements);
    this.schedulePump();
  }

  /** XEP-0206 §5 (C-11): a restart request, with `to` and `xml:lang` and no payload. */
  restart(to: string, lang: string = DEFAULTS.lang): void {
    this.restartAttrs = { to, 'xml:lang': lang, 'xmpp:restart': 'true', 'xmlns:xmpp': NS.XBOSH };
    this.schedulePump();
  }

  /**
   * §13: terminates the session, sending queued elements and `payload` in the terminate
   * request. Resolves once the CM answered it (or the session ended some other way).
   */
  terminate(payload: Element[] = [], attrs: Record<string, string> = {}): Promise<void> {
    if (this.currentStatus === 'closed') return Promise.resolve();
    if (this.currentStatus === 'closing') {
      return new Promise((resolve) => this.once('closed', () => resolve()));
    }
    if (this.currentStatus !== 'open') {
      this.close();
      return Promise.resolve();
    }
    this.setStatus('closing');
    this.disarmPoll();
    const body = this.buildBody({ type: 'terminate', ...attrs }, [...this.queue.splice(0), ...payload]);
    return new Promise<void>((resolve) => {
      this.terminateWaiter = { resolve };
      this.dispatch('terminate', body);
    });
  }

  /** Ends the session locally at once: aborts every request, sends nothing. */
  close(error?: BoshError): void {
    if (this.currentStatus === 'closed') return;
    for (const o of this.inFlight.values()) this.abandon(o);
    for (const o of this.inFlight.values()) o.reject?.(error ?? new BoshError('client-closed', 'closed by the client'));
    this.inFlight.clear();
    this.early.clear();
    this.disarmPoll();
    this.setStatus('closed');
    this.terminateWaiter?.resolve();
    this.terminateWaiter = undefined;
    this.emit('closed', error ? { error } : {});
  }

  /** The state a reloaded page needs to resume this session (D23), or undefined before creation. */
  snapshot(): TransportState | undefined {
    if (this.sidValue === undefined || this.currentStatus !== 'open') return undefined;
    return {
      sid: this.sidValue,
      rid: this.nextRid,
      wait: this.wait,
      hold: this.hold,
      requests: this.requests,
      polling: this.polling,
      inactivity: this.inactivity,
      ...(this.maxpause !== undefined ? { maxpause: this.maxpause } : {}),
      acks: this.acks,
      pending: [...this.inFlight.values()]
        .filter((o) => o.kind !== 'create' && o.kind !== 'terminate')
        .sort((a, b) => a.rid - b.rid)
        .map((o) => ({ rid: o.rid, body: o.body })),
    };
  }

  // --- creation response ---

  /** §7.2: settings of the creation response. */
  private adoptCreationResponse(body: Element): void {
    const a = body.attrs;
    if (!a.sid) throw new BoshError('undefined-condition', 'creation response without sid', undefined, body);
    this.sidValue = a.sid;
    const num = (v: string | undefined, fallback: number) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : fallback);
    this.wait = num(a.wait, this.wait);
    this.hold = num(a.hold, this.hold);
    // §11: without 'requests' the CM allows any number; we still keep to hold + 1.
    this.requests = Math.max(1, num(a.requests, this.hold + 1));
    this.polling = num(a.polling, 0);
    this.inactivity = num(a.inactivity, 0);
    this.maxpause = a.maxpause !== undefined ? num(a.maxpause, 0) : undefined;
    // §9.1: the CM acks only if its creation response carries 'ack'; we ack if we asked to.
    this.acks = this.opts.ack;
    this.legacy = a.ver === undefined;
  }

  // --- sending ---

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** True when the CM will not hold requests: poll every `polling` seconds instead (§12). */
  private get pollingSession(): boolean {
    return this.hold === 0 || this.requests <= 1;
  }

  /** Sends what can be sent now (§11, C-07: at most `requests` in flight) and keeps one request held. */
  private pump(): void {
    if (this.currentStatus !== 'open' || !this.started) return;
    if (this.restartAttrs && this.inFlight.size < this.requests) {
      const attrs = this.restartAttrs;
      this.restartAttrs = undefined;
      this.dispatch('restart', this.buildBody(attrs, []));
    }
    if (this.queue.length > 0 && this.inFlight.size < this.requests) {
      this.dispatch('normal', this.buildBody({}, this.queue.splice(0)));
    }
    if (this.inFlight.size > 0 || this.restartAttrs) return;
    if (!this.pollingSession) {
      // §10: nothing held, so make a new request at once (C-06).
      this.dispatch('normal', this.buildBody({}, []));
      return;
    }
    // §12: a polling session sends an empty request at most every `polling` seconds.
    const due = this.lastPollAt + this.polling * 1000;
    if (this.clock.now() >= due) {
      this.lastPollAt = this.clock.now();
      this.dispatch('normal', this.buildBody({}, []));
    } else if (!this.pollTimer) {
      this.pollTimer = this.clock.setTimeout(() => {
        this.pollTimer = undefined;
        this.pump();
      }, due - this.clock.now());
    }
  }

  private disarmPoll(): void {
    this.pollTimer?.cancel();
    this.pollTimer = undefined;
  }

  private buildBody(attrs: Record<string, string>, payload: Element[]): Element {
    const rid = this.nextRid;
    const all: Record<string, string | number | undefined> = { rid, sid: this.sidValue, xmlns: NS.HTTPBIND };
    // §9.2 (C-05): ack only when some earlier response is still missing.
    const acked = this.nextToProcess - 1;
    if (this.acks && acked < rid - 1) all.ack = acked;
    return xml('body', { ...all, ...attrs }, ...payload);
  }

  /** Assigns the body's rid, serializes it once (C-09: resends are byte copies) and sends it. */
  private dispatch(kind: RequestKind, body: Element, resolve?: (b: Element) => void, reject?: (e: BoshError) => void): void {
    const rid = Number(body.attrs.rid);
    if (rid > MAX_RID) {
      this.close(new BoshError('undefined-condition', 'rid would pass 2^53 - 1'));
      return;
    }
    this.nextRid = rid + 1;
    const o: Outstanding = { rid, body: this.opts.codec.serialize(body), kind, attempts: 0, generation: 0 };
    if (resolve) o.resolve = resolve;
    if (reject) o.reject = reject;
    this.inFlight.set(rid, o);
    this.transmit(o);
    if (kind !== 'create') this.emitState();
  }

  private transmit(o: Outstanding): void {
    this.abandon(o);
    const generation = ++o.generation;
    const controller = new AbortController();
    o.controller = controller;
    const timeoutMs = this.wait * 1000 + this.opts.requestTimeoutMarginMs;
    o.timer = this.clock.setTimeout(() => {
      if (o.generation !== generation) return;
      this.opts.log?.(`bosh: rid ${o.rid} got no answer in ${timeoutMs} ms; resending`);
      this.abandon(o);
      this.onFailure(o, 'timeout');
    }, timeoutMs);
    const headers = { 'Content-Type': 'text/xml; charset=utf-8', ...this.opts.headers };
    this.opts
      .fetch(this.opts.url, {
        method: 'POST',
        headers,
        body: o.body,
        signal: controller.signal,
        ...(this.opts.withCredentials ? { credentials: 'include' as const } : {}),
      })
      .then(async (res) => ({ status: res.status, text: await res.text() }))
      .then(
        ({ status, text }) => {
          if (o.generation !== generation || this.inFlight.get(o.rid) !== o) return;
          o.timer?.cancel();
          this.onHttpResponse(o, status, text);
        },
        (err: unknown) => {
          if (o.generation !== generation || this.inFlight.get(o.rid) !== o) return;
          o.timer?.cancel();
          this.onFailure(o, (err as Error)?.message ?? String(err));
        },
      );
  }

  /** Forgets the current HTTP attempt of `o` (its result, when it comes, is ignored). */
  private abandon(o: Outstanding): void {
    o.generation++;
    o.timer?.cancel();
    o.retryTimer?.cancel();
    o.retryTimer = undefined;
    o.controller?.abort();
    o.controller = undefined;
  }

  /** §14.3 (C-09): a broken connection; resend the same bytes after a backoff, or give up. */
  private onFailure(o: Outstanding, reason: string): void {
    o.attempts++;
    if (o.attempts > this.opts.maxRetries) {
      this.fail(new BoshError('connection-failed', `rid ${o.rid}: ${reason}; gave up after ${o.attempts} attempts`));
      return;
    }
    const delay = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** (o.attempts - 1));
    this.opts.log?.(`bosh: rid ${o.rid} failed (${reason}); resending in ${delay} ms`);
    o.retryTimer = this.clock.setTimeout(() => {
      o.retryTimer = undefined;
      if (this.inFlight.get(o.rid) === o) this.transmit(o);
    }, delay);
  }

  private onHttpResponse(o: Outstanding, status: number, text: string): void {
    if (status !== 200) {
      // §17.1: a legacy CM reports these conditions with HTTP codes; the session is void.
      const legacy: Record<number, TerminalCondition> = { 400: 'bad-request', 403: 'policy-violation', 404: 'item-not-found' };
      if (this.legacy && legacy[status]) {
        this.fail(new BoshError(legacy[status]!, `HTTP ${status} from a legacy CM`));
        return;
      }
      this.onFailure(o, `HTTP ${status}`);
      return;
    }
    let body: Element;
    try {
      body = this.opts.codec.parseBody(text);
    } catch (err) {
      this.onFailure(o, `unparsable response: ${(err as Error).message}`);
      return;
    }
    if (body.attrs.type === 'error') {
      this.onRecoverableError(o);
      return;
    }
    this.inFlight.delete(o.rid);
    o.controller = undefined;
    if (o.kind === 'create') {
      this.nextToProcess = o.rid + 1;
      if (body.attrs.type === 'terminate') {
        const error = terminalError(body);
        o.reject?.(error);
        this.close(error);
        return;
      }
      o.resolve?.(body);
      return;
    }
    this.checkReport(body);
    this.early.set(o.rid, body);
    this.processInOrder();
  }

  /** §17.3 (C-09): resend this request and every earlier unanswered one, byte for byte. */
  private onRecoverableError(o: Outstanding): void {
    o.attempts++;
    if (o.attempts > this.opts.maxRetries) {
      this.fail(new BoshError('connection-failed', `rid ${o.rid}: recoverable errors did not stop`));
      return;
    }
    this.opts.log?.(`bosh: recoverable error on rid ${o.rid}; resending unanswered requests`);
    for (const other of [...this.inFlight.values()].sort((a, b) => a.rid - b.rid)) {
      if (other.rid <= o.rid) this.transmit(other);
    }
  }

  /** §9.2: the CM reports a response we have not had for `time` ms; resend that request. */
  private checkReport(body: Element): void {
    const report = body.attrs.report;
    if (report === undefined || !this.acks) return;
    const missing = this.inFlight.get(Number(report));
    if (missing && missing.kind !== 'create') {
      this.opts.log?.(`bosh: CM reports response to rid ${report} unacknowledged; resending it`);
      this.transmit(missing);
    }
  }

  /** §14.2: responses are processed in rid order, whatever order they arrive in. */
  private processInOrder(): void {
    while (this.early.has(this.nextToProcess)) {
      const body = this.early.get(this.nextToProcess)!;
      this.early.delete(this.nextToProcess);
      this.nextToProcess++;
      this.emit('body', body);
      if (this.currentStatus === 'closed') return;
      if (body.attrs.type === 'terminate') {
        // §13: after our terminate, a terminate without condition is the clean end.
        const clean = this.currentStatus === 'closing' && body.attrs.condition === undefined;
        this.close(clean ? undefined : terminalError(body));
        return;
      }
    }
    if (this.currentStatus === 'closing' && this.inFlight.size === 0 && this.early.size === 0) {
      this.close(); // the terminate was answered with an empty body
      return;
    }
    this.emitState();
    this.pump();
  }

  private emitState(): void {
    const state = this.snapshot();
    if (state) this.emit('state', state);
  }

  private fail(error: BoshError): void {
    this.close(error);
  }
}

/** A BoshError for a `type='terminate'` body (§17.2) with its `shared:error` (docs/shared-bosh.md §4). */
export function terminalError(body: Element): BoshError {
  const condition = (body.attrs.condition ?? 'undefined-condition') as TerminalCondition;
  const sharedError = sharedAttr(body, 'error') as SharedError | undefined;
  const message = sharedError ? `${condition} (shared:error='${sharedError}')` : condition;
  return new BoshError(condition, message, sharedError, body);
}

function stripUndefined<T extends object>(obj: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key in obj) if (obj[key] !== undefined) out[key] = obj[key];
  return out;
}
