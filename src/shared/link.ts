import type { Logger } from '../log.js';
import { BoshError } from '../bosh/conditions.js';
import type { InboundItem, LinkPort, MemberPort } from '../bosh/ports.js';
import type { Element } from '../xml/element.js';
import { ownString } from '../xml/strings.js';
import type { StreamInfo, Upstream, UpstreamEnd, UpstreamSink } from '../xmpp/types.js';
import { NS_BIND } from '../protocol/namespaces.js';
import { inboundXml, type SharingPolicy } from './sharing-policy.js';

export type LinkState = 'connecting' | 'open' | 'closing' | 'closed';

/** A member as its link keeps it, and the port the member sends through (one object per member). */
class Member implements LinkPort {
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
 * One upstream XMPP stream and the BOSH sessions (members) attached to it (docs/design.md, Terms):
 * membership, lifecycle and the upstream sink. Every link passes stanzas through: members'
 * payloads go upstream in the order the link receives them, and upstream elements are
 * serialized once and delivered to every member. A link created with a shared key also has a
 * SharingPolicy, which takes over both directions once a resource is bound (D10..D16, D25);
 * an unshared link (one member, no policy) stays the plain pass-through.
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

  constructor(
    readonly domain: string,
    readonly route: string | undefined,
    /** Present exactly on links created with a shared key. */
    readonly sharing: SharingPolicy | undefined,
    private readonly log: Logger,
    private readonly hooks: { closing(link: Link): void; closed(link: Link): void },
  ) {}

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

  // ---- outbound -----------------------------------------------------------------------

  /**
   * A member's payloads (through its port; a member that has left sends nothing). Returns the
   * newest event number on a shared link after binding. `keepUnavailable`: see leave().
   */
  send(member: Member, payload: Element[], keepUnavailable = false): number | undefined {
    if (!this.members.includes(member) || !this.upstream) return undefined;
    if (this.sharing && this.jid !== undefined) {
      const xml = this.sharing.outbound(member, payload, this.members, this.jid, keepUnavailable);
      if (xml) this.upstream.send(xml);
      return this.sharing.lastSeq;
    }
    // Before binding (and always on an unshared link) everything passes through (D13).
    let xml = '';
    for (const el of payload) {
      if (this.jid === undefined) this.watchBindRequest(el);
      xml += el.toString();
    }
    this.upstream.send(xml);
    return undefined;
  }

  /** A member's stream restart (through its port). */
  restart(member: Member): void {
    if (!this.members.includes(member) || !this.upstream) return;
    if (this.sharing && this.jid !== undefined) this.sharing.refuseRestart(); // D13
    this.log.debug({ sid: member.port.sid }, 'stream restart requested');
    this.upstream.restart();
  }

  /**
   * D16: a member leaves; its terminate payload goes upstream (B-78), on a shared link as any
   * payload is (an undirected unavailable presence stays back while others remain).
   * D17: the last one closes the stream. D18: `closeAll` ends the link for everyone, and its
   * payload goes unfiltered.
   */
  leave(member: Member, payload: Element[] | null, closeAll: boolean): void {
    if (!this.members.includes(member)) return;
    const sid = member.port.sid;
    let forward = payload ?? [];
    if (this.sharing && this.jid !== undefined) {
      const allowed = this.sharing.terminatePayload(forward);
      if (allowed.length !== forward.length) this.log.debug({ sid }, 'non-stanza elements of a terminate payload dropped');
      forward = allowed;
    }
    if (forward.length > 0) this.send(member, forward, closeAll);
    this.members = exactCopy(this.members.filter((m) => m !== member));
    this.sharing?.memberLeft(member);
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
    // Before binding (and always on an unshared link) everything passes through. D11: on a
    // shared link, login traffic (features, SASL, the bind result) is the creator's alone.
    const items: InboundItem[] = [];
    for (const el of elements) {
      if (this.sharing && this.jid !== undefined) break;
      if (this.jid === undefined) this.watchBindResult(el);
      items.push({ xml: inboundXml(el) });
    }
    if (items.length > 0) for (const { port } of this.members) port.deliver(items);
    if (items.length < elements.length && this.sharing && this.jid !== undefined) {
      this.sharing.inbound(items.length === 0 ? elements : elements.slice(items.length), this.members, this.jid);
    }
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
      case 'failed':
        this.failAll(new BoshError('internal-server-error', end.error.message)); // the CM's own fault (issue 11)
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
      this.upstream?.markBound();
    }
  }

  /** D13: the shared stream's aggregated client state follows membership. */
  private updateClientState(): void {
    if (!this.sharing || this.jid === undefined) return;
    const change = this.sharing.clientStateChange(this.members.length);
    if (change) this.upstream?.send(change);
  }
}

/** The same items in an array of exactly their number (spread and filter leave room for 17). */
function exactCopy<T>(items: readonly T[]): T[] {
  const out = new Array<T>(items.length);
  for (let i = 0; i < items.length; i++) out[i] = items[i]!;
  return out;
}
