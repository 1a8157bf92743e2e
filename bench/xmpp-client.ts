/**
 * A lean XMPP client over plain TCP (RFC 6120) for the load generator: the same sessions as
 * bench/bosh-client.ts, but straight to Prosody's c2s port, without BOSH and without a CM.
 * It measures what Prosody's c2s path costs and how fast it answers on its own, which is the
 * floor for any connection manager in front of it.
 *
 * Login: stream header, SASL PLAIN, stream restart, resource binding, initial presence (as the
 * BOSH client does; Prosody makes session establishment optional). Incoming data is not parsed as
 * XML: a small scanner counts element depth so that only complete top-level elements are handed
 * to `onPayload`, which finds ids with regular expressions, as it does for BOSH payloads.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { LoadSessionBase } from './load-session.js';

export interface XmppSessionOptions {
  host: string;
  port: number;
  domain: string;
  user: string;
  password: string;
  resource: string;
  /** Send initial presence after binding. @default true */
  presence?: boolean;
  /** Complete top-level elements once the session is online, with the time they arrived. */
  onPayload?: (s: XmppSession, payload: string, now: number) => void;
  /** The connection ended without close(). */
  onLost?: (s: XmppSession, reason: string) => void;
  /** For a login step that gets no answer. @default 30000 */
  timeoutMs?: number;
}

export class XmppSession extends LoadSessionBase<XmppSession> {
  jid = '';
  /** Shared BOSH does not apply to a direct connection. */
  readonly sharedResult: string | undefined = undefined;
  private socket: Socket | undefined;
  /** Text received but not yet handed on: an incomplete top-level element. */
  private pending = '';
  /** Element depth at the end of `pending`'s scanned part (1: inside <stream:stream>). */
  private depth = 1;
  private scanned = 0;
  /** During login: text received so far, which waiters match against. */
  private loginText = '';

  constructor(readonly opts: XmppSessionOptions) {
    super(opts.onLost);
  }

  async login(): Promise<void> {
    const o = this.opts;
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: o.host, port: o.port, noDelay: true }, resolve);
      socket.setEncoding('utf8');
      socket.once('error', reject);
      socket.on('data', (d: string) => this.onData(d));
      socket.on('close', () => this.markLost('connection closed'));
      this.socket = socket;
    });
    this.socket!.removeAllListeners('error');
    this.socket!.on('error', (err) => this.markLost(`tcp: ${err.message}`));
    await this.exchange(this.header(), /<\/stream:features>/);
    const plain = Buffer.from(`\0${o.user}\0${o.password}`).toString('base64');
    const auth = await this.exchange(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`, /<(success|failure)\b/);
    if (!/<success\b/.test(auth)) throw new Error(`SASL failed for ${o.user}: ${auth.slice(0, 300)}`);
    // RFC 6120 §6.4.6: after <success/> the stream restarts; the server's new header follows.
    await this.exchange(this.header(), /<\/stream:features>/);
    const bound = await this.exchange(
      `<iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${o.resource}</resource></bind></iq>`,
      /<jid>([^<]*)<\/jid>|type=['"]error['"]/);
    const jid = /<jid>([^<]*)<\/jid>/.exec(bound);
    if (!jid) throw new Error(`bind failed for ${o.user}: ${bound.slice(0, 300)}`);
    this.jid = jid[1]!;
    this.loginText = '';
    // From here on the scanner runs, inside the server's <stream:stream>.
    this.depth = 1;
    this.online = true;
    if (o.presence ?? true) this.send(`<presence/>`);
  }

  private header(): string {
    return `<?xml version='1.0'?><stream:stream to='${this.opts.domain}' xmlns='jabber:client' `
      + `xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>`;
  }

  /** Sends `xml` and resolves with the login text once it matches `re`. */
  private exchange(xml: string, re: RegExp): Promise<string> {
    const timeoutMs = this.opts.timeoutMs ?? 30_000;
    const p = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to a login step within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        re,
        resolve: (text) => { clearTimeout(timer); resolve(text); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      });
    });
    this.loginText = '';
    this.socket!.write(xml);
    return p;
  }

  send(stanza: string): void {
    if (this.lost !== undefined || this.closing || !this.socket) return;
    this.socket.write(stanza);
  }

  private onData(text: string): void {
    if (!this.online) {
      this.loginText += text;
      const w = this.waiters[0];
      if (w && w.re.test(this.loginText)) {
        this.waiters.shift();
        w.resolve(this.loginText);
      }
      return;
    }
    const now = performance.now();
    this.pending += text;
    const end = this.completeUpTo();
    if (end > 0) {
      const payload = this.pending.slice(0, end);
      this.pending = this.pending.slice(end);
      this.scanned -= end;
      this.opts.onPayload?.(this, payload, now);
    }
    if (this.pending.includes('</stream:stream>')) this.markLost('stream closed by the server');
  }

  /**
   * Scans `pending` from where the last scan stopped and returns the offset just past the last
   * top-level element it completed (0 if none). Tags are told apart by their first characters:
   * `</` closes, `<?` and `<!` open nothing, `/>` closes what its tag opened. Prosody escapes `>`
   * in attribute values, so a `>` always ends a tag.
   */
  private completeUpTo(): number {
    const s = this.pending;
    let end = 0;
    let i = this.scanned;
    for (;;) {
      const lt = s.indexOf('<', i);
      if (lt < 0) break;
      const gt = s.indexOf('>', lt);
      if (gt < 0) {
        this.scanned = lt;
        return end;
      }
      const c = s.charCodeAt(lt + 1);
      if (c === 0x2f /* / */) this.depth--;
      else if (c !== 0x3f /* ? */ && c !== 0x21 /* ! */ && s.charCodeAt(gt - 1) !== 0x2f) this.depth++;
      if (this.depth === 1 && c !== 0x3f && c !== 0x21) end = gt + 1;
      i = gt + 1;
    }
    this.scanned = s.length;
    return end;
  }

  /** Unavailable presence, end of stream, then the socket is closed. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.online = false;
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, 5000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end(`<presence type='unavailable'/></stream:stream>`);
    });
  }
}
