/**
 * The fuzzer's world: the CM as a child process (test/support/cm-child.ts) in front of a scripted
 * XMPP server (test/support/scripted-xmpp-server.ts), one healthy session opened before any case,
 * and for each case a fresh link (unshared, or shared by two members) that the case plays with.
 *
 * Every stanza the fuzzer makes carries an id tagged with its link (`L7-i3`: inbound on link 7,
 * `L7-o4`: sent by a member of link 7; `H-...` for the healthy session). After every case
 * `runCase` checks:
 *   1. the CM process is still alive;
 *   2. the healthy session still does a round trip (an IQ ping to the server and its result);
 *   3. no stanza crossed links: no session got a stanza tagged with another link, and the server
 *      got no stanza tagged with a link on another link's connection;
 *   4. every body the CM wrote (to members, raw posts and the healthy session) is well-formed and
 *      namespace-well-formed (test/fuzz/check.ts), and members' requests did not fail;
 *   5. on a shared link, no stanza the upstream sent reaches a member marked as Shared BOSH echo
 *      or replay (a forged mark), outside the attach response.
 * A failure throws CaseFailure. The next case restarts the CM (and the healthy session) if needed.
 */
import { deflateSync, gzipSync } from 'node:zlib';
import { startCmChild, type CmChild } from '../support/cm-child.js';
import { ScriptedXmppServer, type ScriptedConnection } from '../support/scripted-xmpp-server.js';
import { newKey, SharedMember } from '../support/shared-clients.js';
import { checkBody, classify, excerpt, inBody, inStream, MalformedBody } from './check.js';
import { describeCase, render, type Corpus, type FuzzCase, type RenderContext } from './cases.js';

export class CaseFailure extends Error {
  override name = 'CaseFailure';
}

const TAG = /^(L\d+|H)-/;
const WAIT_S = 5;
const CASE_TIMEOUT_MS = 20_000;

/** What the CM wrote in answer to one request of a case. */
interface Written {
  who: string;
  /** This link's tag: stanzas of other links must not appear. */
  tag: string;
  status: number;
  contentType: string;
  text: string;
  /** Shared link member, not the creation answer: forged marks count. */
  marksCount: boolean;
}

export interface WorldOptions {
  corpus: Corpus;
  /** Also send XML that is well-formed but not namespace-well-formed (see check.ts classify). @default false */
  nsIllFormed?: boolean;
  /** Called with one line per case. */
  log?: (line: string) => void;
}

export class FuzzWorld {
  cm!: CmChild;
  private healthy!: SharedMember;
  private pings = 0;
  private links = 0;
  /** Upstream connection -> tag of the link it carries. */
  private readonly owners = new Map<ScriptedConnection, string>();
  private serverLeaks: string[] = [];
  /** CM restarts after a failure (each one is a finding). */
  restarts = 0;

  private constructor(
    readonly server: ScriptedXmppServer,
    private readonly options: WorldOptions,
  ) {}

  static async start(options: WorldOptions): Promise<FuzzWorld> {
    // No routing between the server's clients except for the healthy session: what a fuzz link
    // sends must not come back to anyone by the server's doing (that would not be a CM leak).
    let world: FuzzWorld | undefined;
    const server = await ScriptedXmppServer.start({
      intercept: (conn, el) => {
        const owner = world?.owners.get(conn);
        if (owner === undefined || owner === 'H') return false;
        if (el.name === 'message' || el.name === 'presence') return true;
        return el.name === 'iq' && el.attrs.to !== undefined && el.attrs.to !== 'localhost';
      },
    });
    world = new FuzzWorld(server, options);
    server.onElement((r) => {
      const m = TAG.exec(r.element.attrs.id ?? '');
      const owner = world!.owners.get(r.connection);
      if (m && owner !== undefined && m[1] !== owner) world!.serverLeaks.push(`server got ${m[1]}'s stanza on ${owner}'s connection: ${excerpt(r.raw, 200)}`);
    });
    await world.startCm();
    return world;
  }

  private async startCm(): Promise<void> {
    this.cm = await startCmChild({
      domains: { localhost: await this.server.domainConfig('off') },
      bosh: { creationsPerMinute: 0, inactivityS: 10, maxWaitS: 10 },
      shared: { maxMembers: 4 },
    });
    this.healthy = await SharedMember.open(this.cm.url, { name: 'healthy', wait: WAIT_S });
    const jid = await this.healthy.login('healthy', 'pw', `h${this.restarts}`);
    this.owners.set(this.server.connectionOf(jid)!, 'H');
    this.healthy.startPolling();
  }

  /** Brings the CM and the healthy session back after a failed case. */
  async ensureUp(): Promise<void> {
    if (this.cm.alive && !this.healthy.ended && this.healthy.errors.length === 0) return;
    this.restarts += 1;
    this.healthy.stopPolling(true);
    await this.cm.stop(2000);
    await this.startCm();
  }

  async close(): Promise<void> {
    this.healthy?.stopPolling(true);
    await this.cm?.stop();
    await this.server.close();
  }

  /** Runs one case and checks the invariants; throws CaseFailure. */
  async runCase(c: FuzzCase): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CaseFailure(`case did not finish within ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
    });
    const started = Date.now();
    try {
      await Promise.race([this.play(c), timeout]);
      this.options.log?.(`ok ${Date.now() - started} ms ${describeCase(c).slice(0, 300)}`);
    } catch (err) {
      this.options.log?.(`FAILED ${Date.now() - started} ms ${describeCase(c).slice(0, 300)}`);
      if (err instanceof CaseFailure) err.message += `\n  case: ${describeCase(c)}`;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private async play(c: FuzzCase): Promise<void> {
    const tag = `L${++this.links}`;
    const key = newKey();
    const written: Written[] = [];
    this.serverLeaks = [];
    const healthyMark = this.healthy.answers.length;

    const creator = await SharedMember.open(this.cm.url, { name: `${tag}a`, wait: WAIT_S, ...(c.shared ? { key } : {}) });
    const jid = await creator.login(`f${this.links}`, 'pw', 'r');
    const conn = this.server.connectionOf(jid);
    if (!conn) throw new CaseFailure(`${tag}: no upstream connection for ${jid}`);
    this.owners.set(conn, tag);
    const members = [creator];
    if (c.shared) members.push(await SharedMember.open(this.cm.url, { name: `${tag}b`, wait: WAIT_S, key }));
    for (const m of members) if (!m.ended) m.startPolling();

    let counter = 0;
    const ctx = (rid: number, sid: string): RenderContext => ({
      tag, jid, key, sid, rid, counter: () => ++counter, corpus: this.options.corpus,
    });
    const raw: Promise<void>[] = [];
    /** Ids a member sent: their echoes are real ones, whatever the id looks like. */
    const sentIds = new Set<string>();
    const sent = (xml: string): string => {
      for (const m of xml.matchAll(/id=['"]([^'"]*)['"]/g)) sentIds.add(m[1]!);
      return xml;
    };
    for (const action of c.actions) {
      switch (action.do) {
        case 'inbound': {
          const xml = render(action.xml, ctx(0, ''), 'i');
          if (this.allowed(inStream(xml))) conn.send(xml);
          break;
        }
        case 'send': {
          const m = members[action.member % members.length]!;
          const xml = render(action.payload, ctx(m.rid, m.sid), 'o');
          if (this.allowed(inBody(xml))) m.send(sent(xml));
          break;
        }
        case 'post': {
          const m = members[action.member % members.length]!;
          const c = ctx(m.rid + 1, m.sid);
          const body = sent(render(action.body, c, 'o'));
          if (!this.allowed(body)) break;
          if (c.ridUsed && body.includes(m.sid)) m.rid += 1; // the member's own requests go on after it
          raw.push(this.post(body, action.coding, `${m.name} raw`, tag, written));
          break;
        }
        case 'create': {
          const body = sent(render(action.body, ctx(1 + Math.floor(Math.random() * 1e9), members[0]!.sid), 'o'));
          if (this.allowed(body)) raw.push(this.post(body, 'identity', `${tag} create`, tag, written));
          break;
        }
      }
      // Let each action reach the CM before the next one (order matters for what a case means).
      await new Promise((r) => setTimeout(r, 5));
    }

    // Barrier: a ping through each live member; the server answers it after everything written before.
    await Promise.all(members.map((m) => this.sync(m, tag)));
    this.assertAlive(c);
    await this.roundTrip();
    // (An internal-server-error answer comes at once: it is in `written` by now.)
    await this.probeEnded(members, written);
    for (const m of members) {
      // A rid game may leave a gap the CM waits for: the member's last requests are then dropped.
      await Promise.race([m.terminate(), new Promise((r) => setTimeout(r, 3000))]);
      m.stopPolling(true);
    }
    await Promise.all(raw);

    for (const m of members) {
      for (const [i, a] of m.answers.entries()) {
        written.push({ who: m.name, tag, status: a.status, contentType: 'text/xml', text: a.text, marksCount: c.shared && !(i === 0 && m === members[1]) });
      }
      // The test client's own body parser (the CM's, src/xml/body-parser.ts) is recursive: a
      // body nested too deep for it is the client's limit, not a failure of the CM.
      const failed = m.errors.filter((e) => !(e instanceof RangeError));
      if (failed.length > 0) throw new CaseFailure(`${m.name}: a request failed: ${String(failed[0])}`);
    }
    for (const a of this.healthy.answers.slice(healthyMark)) {
      written.push({ who: 'healthy', tag: 'H', status: a.status, contentType: 'text/xml', text: a.text, marksCount: false });
    }
    this.checkWritten(written, sentIds);
    if (this.serverLeaks.length > 0) throw new CaseFailure(this.serverLeaks.join('\n'));
    this.owners.delete(conn);
  }

  /**
   * A session the CM answered with internal-server-error must be gone (XEP-0124: a terminal
   * condition ends the session): one more request on it must get a terminal answer too.
   */
  private async probeEnded(members: SharedMember[], written: Written[]): Promise<void> {
    for (const m of members) {
      const failed = written.find((w) => w.who === `${m.name} raw` && /type=['"]terminate['"]/.test(w.text) && /condition=['"]internal-server-error['"]/.test(w.text));
      if (!failed || m.ended) continue;
      m.stopPolling(true);
      const rid = ++m.rid;
      let answer: string;
      try {
        const res = await fetch(this.cm.url, {
          method: 'POST',
          body: `<body rid='${rid}' sid='${m.sid}' xmlns='http://jabber.org/protocol/httpbind'/>`,
          signal: AbortSignal.timeout(2000),
        });
        answer = await res.text();
      } catch {
        answer = '(held: the session is still there)';
      }
      if (!/type=['"]terminate['"]/.test(answer)) {
        throw new CaseFailure(`${m.name}: internal-server-error was sent but the session goes on: the next request got ${excerpt(answer, 200)}`);
      }
    }
  }

  /** Input the case may send: anything but well-formed XML that is not namespace-well-formed, unless asked. */
  private allowed(doc: string): boolean {
    return this.options.nsIllFormed === true || classify(doc) !== 'ns-ill-formed';
  }

  private assertAlive(c: FuzzCase): void {
    if (!this.cm.alive) {
      const tail = this.cm.stderr().split('\n').filter(Boolean).slice(-8).join('\n    ');
      throw new CaseFailure(`the CM process died (case: ${describeCase(c).slice(0, 200)})\n    ${tail}`);
    }
  }

  /** The healthy session's round trip. */
  private async roundTrip(): Promise<void> {
    const id = `H-ping${++this.pings}`;
    this.healthy.send(`<iq type='get' id='${id}' to='localhost' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`);
    try {
      await this.healthy.waitFor((g) => g.el.attrs.id === id && g.el.attrs.type === 'result', { timeoutMs: 5000, label: id });
    } catch (err) {
      throw new CaseFailure(`the healthy session lost its round trip: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  private async sync(m: SharedMember, tag: string): Promise<void> {
    if (m.ended) return;
    const id = `${tag}-sync-${m.name}`;
    m.send(`<iq type='get' id='${id}' to='localhost' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`);
    // A member the CM ended (hostile input may end a session) has nothing more to receive.
    await Promise.race([m.waitFor((g) => g.el.attrs.id === id, { timeoutMs: 5000 }).catch(() => undefined), m.waitEnded(5000).catch(() => undefined)]);
    await new Promise((r) => setTimeout(r, 20));
  }

  private async post(body: string, coding: 'identity' | 'gzip' | 'deflate', who: string, tag: string, written: Written[]): Promise<void> {
    const bytes = coding === 'gzip' ? gzipSync(body) : coding === 'deflate' ? deflateSync(body) : Buffer.from(body);
    const headers: Record<string, string> = { 'content-type': 'text/xml; charset=utf-8' };
    if (coding !== 'identity') headers['content-encoding'] = coding;
    try {
      const res = await fetch(this.cm.url, { method: 'POST', body: bytes, headers, signal: AbortSignal.timeout(2 * WAIT_S * 1000) });
      const text = await res.text();
      written.push({ who, tag, status: res.status, contentType: res.headers.get('content-type') ?? '', text, marksCount: false });
    } catch {
      // A refused request may be answered by closing the connection (an oversized body, say).
    }
  }

  private checkWritten(written: Written[], sentIds: Set<string>): void {
    for (const w of written) {
      if (w.text === '' || !w.contentType.startsWith('text/xml')) continue;
      let body;
      try {
        body = checkBody(w.text);
      } catch (err) {
        if (err instanceof MalformedBody) throw new CaseFailure(`${w.who}: the CM wrote a body that is not namespace-well-formed: ${err.message}`);
        throw err;
      }
      for (const child of body.children) {
        const m = TAG.exec(child.id ?? '');
        if (m && m[1] !== w.tag) throw new CaseFailure(`${w.who} (${w.tag}) got a stanza of ${m[1]}: ${excerpt(w.text, 200)}`);
        const forged = child.sharedMarks.filter((mark) => mark === 'echo' || mark === 'replay');
        if (w.marksCount && forged.length > 0 && /-i\d+$/.test(child.id ?? '') && !sentIds.has(child.id!)) {
          throw new CaseFailure(`${w.who}: a stanza from the upstream reached a member marked shared:${forged.join('+')}: ${excerpt(w.text, 300)}`);
        }
      }
    }
  }
}
