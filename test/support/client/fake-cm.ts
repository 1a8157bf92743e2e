import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type { Element } from '../../../src/xml/element.js';
import type { FetchLike } from '../../../src/client/bosh-transport.js';
import { NS } from '../../../src/client/namespaces.js';
import { SaxesXmlCodec } from '../../../src/client/saxes-codec.js';
import { child, sharedAttr, textOf, xml } from '../../../src/client/xml.js';

/**
 * An in-memory connection manager plus XMPP server, just big enough to test the client
 * library without HTTP: creation and attach with `shared:key` (D4, D6, D7), SASL (PLAIN and
 * a real SCRAM server on node:crypto), restart, bind, echo (D11), `shared:seq` and replay
 * (D14b), `shared:close='all'` (D18), rid caching (§14.3) and one held request (hold=1).
 */
export interface FakeCmOptions {
  domain?: string;
  /** local part -> password */
  users?: Record<string, string>;
  /** Mechanisms offered, in the order listed. @default SCRAM-SHA-256, SCRAM-SHA-1, PLAIN */
  mechanisms?: string[];
  /** false: behave like a CM without the extension (ignore shared:key). @default true */
  shared?: boolean;
  /** The server requires RFC 3921 session establishment. */
  requireSession?: boolean;
  /** Sends a wrong SCRAM server signature (a server that does not know the password). */
  badServerSignature?: boolean;
  /** Answers IQ get/set sent by members after binding; undefined = empty result. */
  iqHandler?: (iq: Element, member: FakeMember) => Element | undefined;
}

export interface FakeMember {
  sid: string;
  link: FakeLink;
  nextRid: number;
  held: { rid: number; resolve: (text: string) => void }[];
  queue: Element[];
  cache: Map<number, string>;
  ended?: string;
  /** Elements this member sent, in order. */
  received: Element[];
}

export interface FakeLink {
  key: string | undefined;
  jid: string;
  bound: boolean;
  seq: number;
  members: Set<FakeMember>;
  events: { seq: number; el: Element; from?: FakeMember }[];
  scram?: { hash: 'sha1' | 'sha256'; clientFirstBare: string; serverFirst: string; salt: Buffer; user: string };
}

const HB = NS.HTTPBIND;

export class FakeCm {
  readonly links = new Map<string, FakeLink>();
  readonly members = new Map<string, FakeMember>();
  /** Every request body received, in order. */
  readonly log: string[] = [];
  /** Attaches answered with `not-ready` before one succeeds. */
  notReady = 0;
  private readonly codec = new SaxesXmlCodec();
  private sidCounter = 0;
  private readonly domain: string;
  private readonly users: Record<string, string>;

  constructor(readonly options: FakeCmOptions = {}) {
    this.domain = options.domain ?? 'example.com';
    this.users = options.users ?? { juliet: 'r0m30' };
  }

  readonly fetch: FetchLike = (_url, init) => {
    this.log.push(init.body);
    return new Promise((resolve) => {
      const reply = (text: string) => resolve({ status: 200, text: async () => text });
      this.handle(init.body, reply);
    });
  };

  /** A stanza from the server to every member of the link (an event, D10). */
  inbound(link: FakeLink, stanza: Element): void {
    const el = stanza.clone();
    if (el.attrs.xmlns === undefined) el.attrs = { xmlns: NS.CLIENT, ...el.attrs };
    link.seq++;
    link.events.push({ seq: link.seq, el });
    for (const m of link.members) this.queueFor(m, el);
  }

  /** Forgets a member without telling it (its next request gets item-not-found). */
  forget(sid: string): void {
    const m = this.members.get(sid);
    if (!m) return;
    this.members.delete(sid);
    m.link.members.delete(m);
    if (m.link.members.size === 0 && m.link.key) this.links.delete(m.link.key);
  }

  linkOf(key: string): FakeLink | undefined {
    return this.links.get(key);
  }

  private handle(text: string, reply: (text: string) => void): void {
    const body = this.codec.parseBody(text);
    const a = body.attrs;
    if (a.sid === undefined) return reply(this.create(body));
    const m = this.members.get(a.sid);
    if (!m || m.ended) return reply(terminate(m?.ended ?? 'item-not-found'));
    const rid = Number(a.rid);
    if (rid < m.nextRid) {
      const cached = m.cache.get(rid);
      if (cached !== undefined) return reply(cached);
      const held = m.held.find((h) => h.rid === rid);
      if (held) {
        held.resolve(`<body xmlns='${HB}' type='error'/>`);
        held.resolve = reply;
        return;
      }
      return reply(terminate('item-not-found'));
    }
    if (rid !== m.nextRid) return reply(terminate('item-not-found'));
    m.nextRid++;
    if (a.type === 'terminate') return this.leave(m, body, rid, reply);
    if (a['xmpp:restart'] === 'true') {
      this.queueFor(m, this.features(m.link, true));
    }
    for (const el of body.elements()) {
      m.received.push(el);
      this.process(m, el);
    }
    m.held.push({ rid, resolve: reply });
    this.flush(m);
  }

  private create(body: Element): string {
    const a = body.attrs;
    const key = sharedAttr(body, 'key');
    const sharing = key !== undefined && this.options.shared !== false;
    if (sharing && !/^[A-Za-z0-9._~+/=-]{32,256}$/.test(key)) return terminate('policy-violation', 'weak-key');
    const existing = sharing ? this.links.get(key) : undefined;
    if (existing) {
      if (!existing.bound || this.notReady > 0) {
        this.notReady = Math.max(0, this.notReady - 1);
        return terminate('policy-violation', 'not-ready');
      }
      const m = this.newMember(existing, Number(a.rid));
      const children: Element[] = [];
      const since = sharedAttr(body, 'since');
      let gap = false;
      if (since !== undefined) {
        const n = Number(since);
        const oldest = existing.events[0]?.seq ?? existing.seq + 1;
        gap = n + 1 < oldest;
        for (const e of existing.events) {
          if (e.seq > n) children.push(mark(e.el, e.from !== undefined, true));
        }
      }
      return this.respond(m, Number(a.rid), children, {
        ...creationAttrs(m, a),
        'shared:result': 'attached',
        'shared:jid': existing.jid,
        authid: 'stream-' + (existing.key ?? '').slice(0, 4),
        ...(gap ? { 'shared:gap': 'true' } : {}),
      });
    }
    const link: FakeLink = { key: sharing ? key : undefined, jid: '', bound: false, seq: 0, members: new Set(), events: [] };
    if (sharing) this.links.set(key, link);
    const m = this.newMember(link, Number(a.rid));
    return this.respond(m, Number(a.rid), [this.features(link, false)], {
      ...creationAttrs(m, a),
      ...(sharing ? { 'shared:result': 'created' } : {}),
      authid: 'stream-' + (key ?? 'x').slice(0, 4),
    });
  }

  private newMember(link: FakeLink, rid: number): FakeMember {
    const m: FakeMember = { sid: 'sid' + ++this.sidCounter, link, nextRid: rid + 1, held: [], queue: [], cache: new Map(), received: [] };
    this.members.set(m.sid, m);
    link.members.add(m);
    return m;
  }

  private features(link: FakeLink, afterAuth: boolean): Element {
    if (!afterAuth) {
      const mechs = this.options.mechanisms ?? ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'];
      return xml('stream:features', { 'xmlns:stream': NS.STREAM },
        xml('mechanisms', { xmlns: NS.SASL }, ...mechs.map((m) => xml('mechanism', {}, m))));
    }
    void link;
    return xml('stream:features', { 'xmlns:stream': NS.STREAM },
      xml('bind', { xmlns: NS.BIND }),
      this.options.requireSession ? xml('session', { xmlns: NS.SESSION }) : xml('session', { xmlns: NS.SESSION }, xml('optional', {})));
  }

  private process(m: FakeMember, el: Element): void {
    const link = m.link;
    if (el.localName === 'auth') return this.auth(m, el);
    if (el.localName === 'response') return this.scramFinal(m, el);
    if (el.localName === 'iq' && child(el, 'bind', NS.BIND)) {
      const res = child(child(el, 'bind', NS.BIND)!, 'resource');
      link.jid = `${link.scram?.user ?? 'juliet'}@${this.domain}/${res ? textOf(res) : 'gen' + this.sidCounter}`;
      link.bound = true;
      this.queueFor(m, xml('iq', { xmlns: NS.CLIENT, type: 'result', id: el.attrs.id }, xml('bind', { xmlns: NS.BIND }, xml('jid', {}, link.jid))));
      return;
    }
    if (el.localName === 'iq' && child(el, 'session', NS.SESSION)) {
      this.queueFor(m, xml('iq', { xmlns: NS.CLIENT, type: 'result', id: el.attrs.id }));
      return;
    }
    if (!link.bound) return;
    // D11: a member's stanza is an event; the others get an echo.
    link.seq++;
    link.events.push({ seq: link.seq, el, from: m });
    for (const other of link.members) if (other !== m) this.queueFor(other, mark(el, true, false));
    if (el.localName === 'iq' && (el.attrs.type === 'get' || el.attrs.type === 'set')) {
      const answer = this.options.iqHandler?.(el, m) ?? xml('iq', { type: 'result' });
      answer.attrs = { xmlns: NS.CLIENT, ...answer.attrs, id: el.attrs.id ?? '' };
      this.queueFor(m, answer);
    }
  }

  private auth(m: FakeMember, el: Element): void {
    const mech = el.attrs.mechanism;
    const data = Buffer.from(textOf(el), 'base64').toString('utf8');
    if (mech === 'PLAIN') {
      const [, user, pass] = data.split('\u0000');
      const ok = user !== undefined && this.users[user] === pass;
      if (ok) m.link.scram = { hash: 'sha1', clientFirstBare: '', serverFirst: '', salt: Buffer.alloc(0), user: user! };
      this.queueFor(m, ok ? xml('success', { xmlns: NS.SASL }) : xml('failure', { xmlns: NS.SASL }, xml('not-authorized', {})));
      return;
    }
    const hash = mech === 'SCRAM-SHA-256' ? 'sha256' : 'sha1';
    const clientFirstBare = data.slice(3);
    const user = /n=([^,]*)/.exec(clientFirstBare)![1]!;
    const cnonce = /r=([^,]*)/.exec(clientFirstBare)![1]!;
    const salt = randomBytes(16);
    const serverFirst = `r=${cnonce}srv${randomBytes(6).toString('hex')},s=${salt.toString('base64')},i=4096`;
    m.link.scram = { hash, clientFirstBare, serverFirst, salt, user };
    this.queueFor(m, xml('challenge', { xmlns: NS.SASL }, Buffer.from(serverFirst).toString('base64')));
  }

  private scramFinal(m: FakeMember, el: Element): void {
    const s = m.link.scram!;
    const final = Buffer.from(textOf(el), 'base64').toString('utf8');
    const withoutProof = final.slice(0, final.indexOf(',p='));
    const proof = Buffer.from(final.slice(final.indexOf(',p=') + 3), 'base64');
    const password = this.users[s.user] ?? '';
    const len = s.hash === 'sha256' ? 32 : 20;
    const salted = pbkdf2Sync(password, s.salt, 4096, len, s.hash);
    const clientKey = createHmac(s.hash, salted).update('Client Key').digest();
    const storedKey = createHash(s.hash).update(clientKey).digest();
    const authMessage = `${s.clientFirstBare},${s.serverFirst},${withoutProof}`;
    const signature = createHmac(s.hash, storedKey).update(authMessage).digest();
    const recovered = Buffer.from(proof.map((b, i) => b ^ signature[i]!));
    if (!createHash(s.hash).update(recovered).digest().equals(storedKey)) {
      this.queueFor(m, xml('failure', { xmlns: NS.SASL }, xml('not-authorized', {})));
      return;
    }
    const serverKey = createHmac(s.hash, salted).update('Server Key').digest();
    let v = createHmac(s.hash, serverKey).update(authMessage).digest();
    if (this.options.badServerSignature) v = Buffer.alloc(v.length, 7);
    this.queueFor(m, xml('success', { xmlns: NS.SASL }, Buffer.from('v=' + v.toString('base64')).toString('base64')));
  }

  private leave(m: FakeMember, body: Element, rid: number, reply: (text: string) => void): void {
    const link = m.link;
    const all = sharedAttr(body, 'close') === 'all';
    for (const el of body.elements()) m.received.push(el);
    for (const h of m.held.splice(0)) h.resolve(`<body xmlns='${HB}'/>`);
    m.cache.set(rid, terminate());
    reply(terminate());
    this.forget(m.sid);
    if (all) {
      for (const other of [...link.members]) {
        other.ended = 'other-request';
        const held = other.held.shift();
        held?.resolve(terminate('other-request'));
        this.forget(other.sid);
        this.members.set(other.sid, other); // answers later requests with the condition
      }
      if (link.key) this.links.delete(link.key);
    }
  }

  private queueFor(m: FakeMember, el: Element): void {
    m.queue.push(el);
    this.flush(m);
  }

  /** hold=1: answer the oldest held request when there is data, or when two are held. */
  private flush(m: FakeMember): void {
    while (m.held.length > 0 && (m.queue.length > 0 || m.held.length > 1)) {
      const h = m.held.shift()!;
      const text = this.respond(m, h.rid, m.queue.splice(0), {});
      h.resolve(text);
    }
  }

  private respond(m: FakeMember, rid: number, children: Element[], attrs: Record<string, string>): string {
    const shared = m.link.key !== undefined;
    const body = xml('body', {
      xmlns: HB,
      ...attrs,
      ...(shared ? { 'xmlns:shared': NS.SHARED, 'shared:seq': String(m.link.seq) } : {}),
    }, ...children);
    const text = body.toString();
    m.cache.set(rid, text);
    return text;
  }
}

function creationAttrs(m: FakeMember, a: Record<string, string>): Record<string, string> {
  return {
    sid: m.sid,
    wait: a.wait ?? '60',
    requests: '2',
    hold: '1',
    polling: '2',
    inactivity: '60',
    maxpause: '120',
    ver: '1.11',
    from: 'example.com',
    'xmlns:xmpp': NS.XBOSH,
    'xmpp:version': '1.0',
    'xmpp:restartlogic': 'true',
  };
}

function mark(el: Element, echo: boolean, replay: boolean): Element {
  const copy = el.clone();
  if (copy.attrs.xmlns === undefined) copy.attrs = { xmlns: NS.CLIENT, ...copy.attrs };
  copy.attrs['xmlns:shared'] = NS.SHARED;
  if (echo) copy.attrs['shared:echo'] = 'true';
  if (replay) copy.attrs['shared:replay'] = 'true';
  return copy;
}

function terminate(condition?: string, sharedError?: string): string {
  return xml('body', {
    xmlns: HB,
    type: 'terminate',
    condition,
    ...(sharedError ? { 'xmlns:shared': NS.SHARED, 'shared:error': sharedError } : {}),
  }).toString();
}
