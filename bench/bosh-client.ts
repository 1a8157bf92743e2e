/**
 * A lean BOSH (XEP-0124/XEP-0206) client for the load generator.
 *
 * It behaves like Strophe.js on the wire: session creation, SASL PLAIN, restart, bind, initial
 * presence; then it always keeps one request held by the CM (hold=1) and never has more than
 * `requests` (from the creation response, 2 here) in flight. Stanzas the application sends while
 * every slot is busy are queued and go out together in the next request, as Strophe batches
 * `_data` into one `<body/>`. Stanzas sent in the same event-loop turn share one request.
 *
 * Responses are not parsed as XML: the generator only needs `sid`, `type='terminate'`, the
 * payload between `<body ...>` and `</body>`, and a few ids, which it finds with regular
 * expressions. That keeps the generator's own CPU per request small, so that it does not limit
 * the rates it offers.
 */
import http from 'node:http';
import https from 'node:https';
import { postH2 } from './h2-client.js';
import { LoadSessionBase, type Waiter } from './load-session.js';
import { performance } from 'node:perf_hooks';
import { NS_HTTPBIND, NS_SHARED } from '../src/protocol/namespaces.js';

export { NS_HTTPBIND, NS_SHARED };

export interface Target {
  host: string;
  port: number;
  path: string;
  /** HTTPS with HTTP/2 (bench/h2-client.ts) instead of plain HTTP/1.1 keep-alive. */
  h2?: boolean;
  /** With h2: sessions with the same key share their own HTTP/2 connection (one browser). */
  h2Key?: string;
  /** HTTPS/1.1 (the agent is then an https.Agent); the test certificate is not verified. */
  tls?: boolean;
}

/** HTTP exchanges per target (`host:port`), for CPU per HTTP request. */
export interface HttpCounter {
  /** Exchanges completed (a response read to its end). */
  requests: number;
  failures: number;
  /** Requests sent again after ECONNRESET/EPIPE on a reused keep-alive socket. */
  retries: number;
  /** New TCP connections opened by the agent. */
  connects: number;
}

export const httpCounters = new Map<string, HttpCounter>();

function counterFor(t: Target): HttpCounter {
  const key = `${t.host}:${t.port}`;
  let c = httpCounters.get(key);
  if (!c) {
    c = { requests: 0, failures: 0, retries: 0, connects: 0 };
    httpCounters.set(key, c);
  }
  return c;
}

export interface HttpResult {
  status: number;
  text: string;
}

/**
 * One POST over the keep-alive agent. A request that fails with ECONNRESET/EPIPE on a reused
 * keep-alive socket (the server closed it while idle) is sent once more, which BOSH allows
 * (the same rid may be repeated).
 */
export function post(agent: http.Agent, target: Target, body: string, timeoutMs: number): Promise<HttpResult> {
  const counter = counterFor(target);
  if (target.h2) {
    return postH2(target.host, target.port, target.path, body, timeoutMs, target.h2Key).then(
      (result) => {
        counter.requests++;
        return result;
      },
      (err: unknown) => {
        counter.failures++;
        throw err;
      },
    );
  }
  return new Promise((resolve, reject) => {
    let attempt = 0;
    const go = (): void => {
      const req = (target.tls ? https : http).request({
        agent,
        ...(target.tls ? { rejectUnauthorized: false } : {}),
        host: target.host,
        port: target.port,
        path: target.path,
        method: 'POST',
        headers: { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(body) },
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.once('socket', () => {
        if (!req.reusedSocket) counter.connects++;
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => {
          counter.requests++;
          resolve({ status: res.statusCode ?? 0, text });
        });
        res.on('error', (err) => {
          counter.failures++;
          reject(err);
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (req.reusedSocket && attempt === 0 && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          attempt++;
          counter.retries++;
          go();
          return;
        }
        counter.failures++;
        reject(err);
      });
      req.end(body);
    };
    go();
  });
}

/** Attribute value from the first `<body ...>` start tag of a response. */
function bodyAttr(startTag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}=(['"])(.*?)\\1`).exec(startTag);
  return m?.[2];
}

interface ParsedBody {
  startTag: string;
  payload: string;
  terminate: boolean;
  condition?: string;
}

export function parseBody(text: string): ParsedBody | undefined {
  const start = text.indexOf('<body');
  if (start < 0) return undefined;
  const end = text.indexOf('>', start);
  if (end < 0) return undefined;
  const startTag = text.slice(start, end + 1);
  let payload = '';
  if (!startTag.endsWith('/>')) {
    const close = text.lastIndexOf('</body>');
    payload = text.slice(end + 1, close < 0 ? text.length : close);
  }
  const type = bodyAttr(startTag, 'type');
  return { startTag, payload, terminate: type === 'terminate' || type === 'error', condition: bodyAttr(startTag, 'condition') };
}

export interface SessionOptions {
  agent: http.Agent;
  target: Target;
  domain: string;
  user: string;
  password: string;
  resource: string;
  /** @default 60 */
  wait?: number;
  /** Sends `shared:key` on creation (creates or attaches). */
  sharedKey?: string;
  /** Send initial presence after binding. @default true */
  presence?: boolean;
  /** Every non-empty payload once the session is online, with the time it arrived. */
  onPayload?: (s: BoshSession, payload: string, now: number) => void;
  /** The session ended without close(): HTTP error, timeout or a terminal body. */
  onLost?: (s: BoshSession, reason: string) => void;
}

export class BoshSession extends LoadSessionBase<BoshSession> {
  sid = '';
  jid = '';
  rid: number;
  /** `requests` from the creation response. */
  requestsMax = 2;
  inflight = 0;
  /** `shared:result` of the creation response (created / attached), if any. */
  sharedResult: string | undefined;
  /** Stanzas waiting for a free request slot. */
  private queue: string[] = [];
  private restartPending = false;
  private kickScheduled = false;
  private readonly wait: number;

  constructor(readonly opts: SessionOptions) {
    super(opts.onLost);
    this.rid = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
    this.wait = opts.wait ?? 60;
  }

  /** Create, authenticate, restart, bind (or attach to a shared link), then go online. */
  async login(): Promise<void> {
    const o = this.opts;
    const shared = o.sharedKey === undefined ? '' : ` xmlns:shared='${NS_SHARED}' shared:key='${o.sharedKey}'`;
    const create = `<body content='text/xml; charset=utf-8' hold='1' rid='${this.rid++}' to='${o.domain}' ver='1.6' `
      + `wait='${this.wait}' xml:lang='en' xmpp:version='1.0' xmlns='${NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'${shared}/>`;
    this.inflight++;
    let res: HttpResult;
    try {
      res = await post(o.agent, o.target, create, (this.wait + 15) * 1000);
    } finally {
      this.inflight--;
    }
    const body = parseBody(res.text);
    if (res.status !== 200 || !body || body.terminate) {
      throw new Error(`session creation refused: HTTP ${res.status} ${body?.condition ?? ''} ${res.text.slice(0, 300)}`);
    }
    this.sid = bodyAttr(body.startTag, 'sid') ?? '';
    if (this.sid === '') throw new Error(`no sid in ${res.text.slice(0, 300)}`);
    this.requestsMax = Number(bodyAttr(body.startTag, 'requests') ?? '2') || 2;
    this.sharedResult = bodyAttr(body.startTag, 'shared:result');
    if (this.sharedResult === 'attached') {
      this.jid = bodyAttr(body.startTag, 'shared:jid') ?? '';
      this.goOnline(false);
      return;
    }
    if (!/<mechanisms\b/.test(body.payload)) await this.waitFor(/<mechanisms\b/);
    const plain = Buffer.from(`\0${o.user}\0${o.password}`).toString('base64');
    const auth = await this.sendAndWait(
      `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`, /<(success|failure)\b/);
    if (!/<success\b/.test(auth)) throw new Error(`SASL failed for ${o.user}: ${auth.slice(0, 300)}`);
    const features = this.waitFor(/<bind\b/);
    this.restartPending = true;
    this.kick();
    await features;
    const bound = await this.sendAndWait(
      `<iq type='set' id='bind_1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>`
      + `<resource>${o.resource}</resource></bind></iq>`, /<jid>([^<]*)<\/jid>|type=['"]error['"]/);
    const jid = /<jid>([^<]*)<\/jid>/.exec(bound);
    if (!jid) throw new Error(`bind failed for ${o.user}: ${bound.slice(0, 300)}`);
    this.jid = jid[1]!;
    this.goOnline(o.presence ?? true);
  }

  private goOnline(presence: boolean): void {
    this.online = true;
    if (presence) this.queue.push(`<presence xmlns='jabber:client'/>`);
    this.kick();
  }

  /** Queue a stanza; it goes out now if a request slot is free, else with the next request. */
  send(stanza: string): void {
    if (this.lost !== undefined || this.closing) return;
    this.queue.push(stanza);
    if (!this.kickScheduled) {
      this.kickScheduled = true;
      queueMicrotask(() => {
        this.kickScheduled = false;
        this.kick();
      });
    }
  }

  /** Resolves with the first payload matching `re` (while waiting, one request stays open). */
  waitFor(re: RegExp): Promise<string> {
    if (this.lost !== undefined) return Promise.reject(new Error(`session lost: ${this.lost}`));
    const p = new Promise<string>((resolve, reject) => this.waiters.push({ re, resolve, reject }));
    queueMicrotask(() => this.kick());
    return p;
  }

  private sendAndWait(stanza: string, re: RegExp): Promise<string> {
    const p = this.waitFor(re);
    this.send(stanza);
    return p;
  }

  private kick(): void {
    if (this.lost !== undefined || this.closing) return;
    if (this.restartPending) {
      if (this.inflight === 0) {
        this.restartPending = false;
        this.fire(`<body rid='${this.rid++}' sid='${this.sid}' to='${this.opts.domain}' xml:lang='en' xmpp:restart='true' `
          + `xmlns='${NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'/>`);
      }
      return;
    }
    if (this.inflight >= this.requestsMax) return;
    if (this.queue.length > 0) {
      const payload = this.queue.length === 1 ? this.queue[0]! : this.queue.join('');
      this.queue = [];
      this.fire(`<body rid='${this.rid++}' sid='${this.sid}' xmlns='${NS_HTTPBIND}'>${payload}</body>`);
      return;
    }
    if (this.inflight === 0 && (this.online || this.waiters.length > 0)) {
      this.fire(`<body rid='${this.rid++}' sid='${this.sid}' xmlns='${NS_HTTPBIND}'/>`);
    }
  }

  private fire(xml: string): void {
    this.inflight++;
    post(this.opts.agent, this.opts.target, xml, (this.wait + 15) * 1000).then(
      (res) => this.onResponse(res),
      (err: Error) => {
        this.inflight--;
        this.markLost(`http: ${err.message}`);
      },
    );
  }

  private onResponse(res: HttpResult): void {
    this.inflight--;
    const now = performance.now();
    if (this.closing) return;
    if (res.status !== 200) {
      this.markLost(`HTTP ${res.status}`);
      return;
    }
    const body = parseBody(res.text);
    if (!body) {
      this.markLost(`unparsable response: ${res.text.slice(0, 200)}`);
      return;
    }
    if (body.payload.length > 0) {
      if (this.waiters.length > 0) {
        const still: Waiter[] = [];
        for (const w of this.waiters) {
          if (w.re.test(body.payload)) w.resolve(body.payload);
          else still.push(w);
        }
        this.waiters = still;
      }
      if (this.online) this.opts.onPayload?.(this, body.payload, now);
    }
    if (body.terminate) {
      this.markLost(`terminate ${body.condition ?? ''}`);
      return;
    }
    this.kick();
  }

  /** Terminates the session (type='terminate' with unavailable presence). */
  async close(): Promise<void> {
    if (this.closing || this.lost !== undefined || this.sid === '') {
      this.closing = true;
      return;
    }
    this.closing = true;
    this.online = false;
    const xml = `<body rid='${this.rid++}' sid='${this.sid}' type='terminate' xmlns='${NS_HTTPBIND}'>`
      + `<presence type='unavailable' xmlns='jabber:client'/></body>`;
    try {
      await post(this.opts.agent, this.opts.target, xml, 30_000);
    } catch {
      /* the session is gone either way */
    }
  }
}
