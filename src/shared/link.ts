import type { Logger } from '../log.js';
import { BoshError } from '../bosh/conditions.js';
import type { InboundItem, LinkPort, MemberPort } from '../bosh/ports.js';
import type { Metrics } from '../metrics.js';
import { Element } from '../xml/element.js';
import { ownString } from '../xml/strings.js';
import type { StreamInfo, Upstream, UpstreamEnd, UpstreamSink } from '../xmpp/types.js';
import { IqRouter } from './iq-router.js';
import { PresenceSnapshot } from './presence-snapshot.js';
import type { ReplayBuffer } from './replay-buffer.js';
import type { KeyDigest } from './shared-key.js';

export type LinkState = 'connecting' | 'open' | 'closing' | 'closed';

export const NS_SHARED = 'urn:xmpp:tmp:shared-bosh:0';
const NS_CLIENT = 'jabber:client';
const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
const NS_CSI = 'urn:xmpp:csi:0';
const STANZAS = new Set(['message', 'presence', 'iq']);

/** What a link created with a shared key keeps (docs/design.md D10..D18). */
export interface Sharing {
  digest: KeyDigest;
  replay: ReplayBuffer;
}

/** A member as its link keeps it, and the port the member sends through (one object per member). */
class Member implements LinkPort {
  /** XEP-0352 client state of this member (D13). */
  inactive = false;

  constructor(
    private readonly link: Link,
    readonly port: MemberPort,
  ) {}

  send(payload: Element[]): number | undefined {
    return this.link.send(this, payload);
  }

  restart(): void {
    this.link.restart(this);
  }

  leave(payload: Element[] | null, closeAll?: boolean): void {
    this.link.leave(this, payload, closeAll ?? false);
  }
}

/**
 * One upstream XMPP stream and the BOSH sessions (members) attached to it (docs/design.md, Terms).
 * An unshared session is a link with exactly one member and no `sharing`: the same code path.
 * Inbound: upstream elements are serialized once and delivered to every member.
 * Outbound: members' payloads are written upstream in the order the link receives them; on a
 * shared link, after binding, each stanza is also copied to the other members (D11).
 */
export class Link implements UpstreamSink {
  private state: LinkState = 'connecting';
  /**
   * In join order. An exact-size array replaced on every join and leave: most links have one
   * member, for which a Map's table alone is 152 bytes.
   */
  private members: readonly Member[] = [];
  private upstream: Upstream | undefined;
  private info: StreamInfo | undefined;
  /** The full JID bound on this stream (D6, D7). */
  private jid: string | undefined;
  private bindId: string | undefined;
  /** D12 and D14: only a shared link routes IQs and keeps a presence snapshot. */
  private readonly iqs: IqRouter<MemberPort> | undefined;
  private readonly presence: PresenceSnapshot | undefined;
  private streamInactive = false;

  constructor(
    readonly domain: string,
    readonly route: string | undefined,
    readonly sharing: Sharing | undefined,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly hooks: { closing(link: Link): void; closed(link: Link): void },
  ) {
    if (sharing) {
      this.iqs = new IqRouter();
      this.presence = new PresenceSnapshot();
    }
  }

  /** Starts the upstream stream; the sink callbacks may run from here on. */
  connect(open: (sink: UpstreamSink) => Upstream): void {
    this.upstream = open(this);
  }

  get memberCount(): number {
    return this.members.length;
  }

  get streamInfo(): StreamInfo | undefined {
    return this.info;
  }

  get boundJid(): string | undefined {
    return this.jid;
  }

  /** The newest event number (D14b). */
  get lastSeq(): number {
    return this.sharing?.replay.lastSeq ?? 0;
  }

  get live(): boolean {
    return this.state === 'connecting' || this.state === 'open';
  }

  private setState(next: LinkState): void {
    if (next === this.state) return;
    this.log.debug({ from: this.state, to: next }, 'link state');
    this.state = next;
  }

  /** Adds a member and returns the port it sends through. */
  addMember(member: MemberPort): LinkPort {
    const entry = new Member(this, member);
    this.members = exactCopy([...this.members, entry]);
    this.updateClientState();
    return entry;
  }

  /**
   * D14, D14b: what a newly attached member gets first: the presence snapshot, then the events
   * after `since` (all marked shared:replay). `gap` when the buffer no longer reaches back.
   */
  attachItems(since: number | undefined): { items: InboundItem[]; gap: boolean } {
    const items: InboundItem[] = (this.presence?.elements() ?? []).map((el) => ({ xml: replayXml(el) }));
    if (since === undefined || !this.sharing) return { items, gap: false };
    const { events, gap } = this.sharing.replay.after(since);
    for (const event of events) items.push({ xml: replayXml(event.element), seq: event.seq });
    return { items, gap };
  }

  // ---- outbound -----------------------------------------------------------------------

  /** A member's payloads (through its port; a member that has left sends nothing). */
  send(member: Member, payload: Element[]): number | undefined {
    if (!this.members.includes(member) || !this.upstream) return undefined;
    if (!this.sharing || this.jid === undefined) {
      // Before binding (and always on an unshared link) everything passes through (D13).
      let xml = '';
      for (const el of payload) {
        if (this.jid === undefined) this.watchBindRequest(el);
        xml += el.toString();
      }
      this.upstream.send(xml);
      return undefined;
    }
    return this.sendShared(member, payload, this.sharing);
  }

  private sendShared(member: Member, payload: Element[], sharing: Sharing): number | undefined {
    for (const el of payload) {
      if (!STANZAS.has(el.name) && !isClientState(el)) {
        // D13: no stream-level element may change the shared stream under the others' feet.
        throw new BoshError('bad-request', `<${el.name}/> is not allowed on a shared stream`);
      }
    }
    let xml = '';
    const echoes: InboundItem[] = [];
    for (const el of payload) {
      if (isClientState(el)) {
        member.inactive = el.localName === 'inactive';
        continue;
      }
      let upstreamEl = el;
      const type = el.attrs.type;
      if (el.name === 'iq' && (type === 'get' || type === 'set')) {
        upstreamEl = withAttr(el, 'id', this.iqs!.outboundRequest(member.port, el.attrs.id)); // D12
      } else if (el.name === 'iq' && !this.iqs!.outboundResponse(el.attrs.id)) {
        this.metrics.suppressed.inc({ kind: 'iq-reply' }); // D12: the server got one reply already
        continue;
      }
      xml += upstreamEl.toString();
      const echo = echoOf(upstreamEl);
      this.presence!.observeOwn(echo);
      const event = sharing.replay.push(echo, echo.toString());
      echoes.push({ xml: event.xml, seq: event.seq });
    }
    xml += this.clientStateChange();
    if (xml) this.upstream!.send(xml);
    if (echoes.length > 0) {
      this.metrics.echoes.inc(echoes.length);
      for (const other of this.members) if (other !== member) other.port.deliver(echoes);
    }
    return sharing.replay.lastSeq;
  }

  /** A member's stream restart (through its port). */
  restart(member: Member): void {
    if (!this.members.includes(member) || !this.upstream) return;
    if (this.sharing && this.jid !== undefined) {
      throw new BoshError('bad-request', 'stream restart on a shared stream after binding'); // D13
    }
    this.log.debug({ sid: member.port.sid }, 'stream restart requested');
    this.upstream.restart();
  }

  /**
   * D16: a member leaves; its terminate payload goes upstream (B-78) except an undirected
   * unavailable presence while others remain. D17: the last one closes the stream.
   * D18: `closeAll` ends the link for everyone.
   */
  leave(member: Member, payload: Element[] | null, closeAll: boolean): void {
    if (!this.members.includes(member)) return;
    const sid = member.port.sid;
    const others = this.members.length - 1;
    let forward = payload ?? [];
    if (others > 0 && !closeAll && this.sharing) {
      const kept = forward.filter((el) => !isUndirectedUnavailable(el));
      if (kept.length !== forward.length) this.metrics.suppressed.inc({ kind: 'unavailable-presence' });
      forward = kept;
    }
    if (this.sharing && this.jid !== undefined) {
      // D13: what a shared stream refuses is left out of a terminate payload; the rest goes.
      const allowed = forward.filter((el) => STANZAS.has(el.name) || isClientState(el));
      if (allowed.length !== forward.length) this.log.debug({ sid }, 'non-stanza elements of a terminate payload dropped');
      forward = allowed;
    }
    if (forward.length > 0) this.send(member, forward);
    this.members = exactCopy(this.members.filter((m) => m !== member));
    this.log.debug({ sid, members: this.members.length }, 'member left');
    if (closeAll && this.members.length > 0) {
      this.log.info({ sid }, 'member closed the shared link for all');
      this.failAll(new BoshError('other-request', 'shared link closed by another member'));
    }
    if (this.members.length === 0) this.close();
    else this.updateClientState();
  }

  /** Closes the upstream stream (`</stream:stream>`); members must already be gone. */
  close(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.setState('closing');
    this.hooks.closing(this);
    this.upstream?.close();
  }

  /** D20: every member ends with `system-shutdown`, then the stream closes cleanly. */
  shutdown(): void {
    this.failAll(new BoshError('system-shutdown'));
    this.close();
  }

  // ---- inbound (UpstreamSink) ---------------------------------------------------------

  onStreamOpen(info: StreamInfo): void {
    this.info = info;
    if (this.state === 'connecting') this.setState('open');
    for (const { port } of this.members) port.streamOpened(info);
  }

  onElements(elements: Element[]): void {
    // with no member left the stream is already closing, so the server itself
    // learns at once that the client is gone and handles what was in flight.
    if (this.members.length === 0) return;
    if (!this.sharing) {
      const items = elements.map((el) => {
        if (this.jid === undefined) this.watchBindResult(el);
        return toInboundItem(el);
      });
      for (const { port } of this.members) port.deliver(items);
      return;
    }
    this.deliverShared(elements, this.sharing);
  }

  /** D10, D12: every member gets every event in link order; IQ results go to their asker. */
  private deliverShared(elements: Element[], sharing: Sharing): void {
    const perMember = new Map<MemberPort, InboundItem[]>();
    for (const { port } of this.members) perMember.set(port, []);
    for (const el of elements) {
      if (this.jid === undefined) {
        // D11: login traffic (features, SASL, the bind result) is the creator's alone: no event.
        this.watchBindResult(el);
        const item = toInboundItem(el);
        for (const items of perMember.values()) items.push(item);
        continue;
      }
      const type = el.attrs.type;
      const asker = el.name === 'iq' && (type === 'result' || type === 'error') ? this.iqs!.inboundResponse(el.attrs.id) : undefined;
      if (asker) {
        const echo = echoOf(el);
        const event = sharing.replay.push(echo, echo.toString());
        const own: InboundItem = { xml: toInboundItem(withAttr(el, 'id', asker.id)).xml, seq: event.seq };
        for (const [member, items] of perMember) items.push(member === asker.member ? own : { xml: event.xml, seq: event.seq });
        continue;
      }
      if (el.name === 'iq' && (type === 'get' || type === 'set')) this.iqs!.inboundRequest(el.attrs.id);
      this.presence!.observeInbound(el);
      const item = toInboundItem(el);
      const event = sharing.replay.push(el, item.xml);
      for (const items of perMember.values()) items.push({ xml: item.xml, seq: event.seq });
    }
    for (const [member, items] of perMember) if (items.length > 0) member.deliver(items);
  }

  onEnd(end: UpstreamEnd): void {
    this.setState('closed');
    this.hooks.closing(this);
    switch (end.kind) {
      case 'closed':
        break;
      case 'stream-error':
        // B-118, X-24, X-25, D19
        this.failAll(new BoshError('remote-stream-error', 'upstream stream error', [end.error]));
        break;
      case 'connect-failed':
        this.failAll(new BoshError('remote-connection-failed', end.error.message)); // B-127
        break;
      case 'lost':
        this.failAll(new BoshError('remote-connection-failed', end.error?.message ?? 'upstream connection lost'));
        break;
    }
    this.hooks.closed(this);
  }

  private failAll(error: BoshError): void {
    const members = this.members;
    this.members = [];
    for (const { port } of members) port.fail(error);
  }

  // ---- resource binding (D6, D7) ------------------------------------------------------

  private watchBindRequest(el: Element): void {
    if (el.name === 'iq' && el.attrs.type === 'set' && el.getChild('bind', NS_BIND)) this.bindId = el.attrs.id;
  }

  private watchBindResult(el: Element): void {
    if (this.bindId === undefined || el.name !== 'iq' || el.attrs.id !== this.bindId || el.attrs.type !== 'result') return;
    const jid = el.getChild('bind', NS_BIND)?.getChild('jid')?.text();
    if (jid) {
      this.jid = ownString(jid); // kept for the link's life: not a slice of the read it came in
      this.log.debug('resource bound');
    }
  }

  /** D13: the stream is inactive only while every member is; returns the element to send, if any. */
  private clientStateChange(): string {
    if (!this.sharing || this.jid === undefined) return '';
    let allInactive = this.members.length > 0;
    for (const m of this.members) if (!m.inactive) allInactive = false;
    if (allInactive === this.streamInactive) return '';
    this.streamInactive = allInactive;
    return `<${allInactive ? 'inactive' : 'active'} xmlns='${NS_CSI}'/>`;
  }

  private updateClientState(): void {
    const change = this.clientStateChange();
    if (change) this.upstream?.send(change);
  }
}

/** The same items in an array of exactly their number (spread and filter leave room for 17). */
function exactCopy<T>(items: readonly T[]): T[] {
  const out = new Array<T>(items.length);
  for (let i = 0; i < items.length; i++) out[i] = items[i]!;
  return out;
}

function isClientState(el: Element): boolean {
  return (el.name === 'active' || el.name === 'inactive') && el.attrs.xmlns === NS_CSI;
}

function isUndirectedUnavailable(el: Element): boolean {
  return el.name === 'presence' && el.attrs.type === 'unavailable' && el.attrs.to === undefined;
}

/** A shallow copy with one attribute changed (children shared: they are never modified). */
function withAttr(el: Element, name: string, value: string): Element {
  return new Element(el.name, { ...el.attrs, [name]: value }, el.children);
}

/** D11: the copy other members get of a member's stanza. */
function echoOf(el: Element): Element {
  return new Element(el.name, { xmlns: NS_CLIENT, ...el.attrs, 'xmlns:shared': NS_SHARED, 'shared:echo': 'true' }, el.children);
}

/** D14, D14b: a stanza sent again to a member that attached later. */
function replayXml(el: Element): string {
  return new Element(el.name, { xmlns: NS_CLIENT, ...el.attrs, 'xmlns:shared': NS_SHARED, 'shared:replay': 'true' }, el.children).toString();
}

/**
 * Serializes one upstream element for a `<body/>`: unprefixed stanzas without their own
 * `xmlns` are in jabber:client by the stream's default namespace, so they get it explicitly
 * (the body's default namespace is httpbind).
 */
export function toInboundItem(el: Element): InboundItem {
  if (el.attrs.xmlns === undefined && el.prefix === '') el.attrs = { xmlns: NS_CLIENT, ...el.attrs };
  return { xml: el.toString() };
}
