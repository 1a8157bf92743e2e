import type { Logger } from 'pino';
import { BoshError } from '../bosh/conditions.js';
import type { InboundItem, LinkPort, MemberPort } from '../bosh/ports.js';
import type { Element } from '../xml/element.js';
import type { StreamInfo, Upstream, UpstreamEnd, UpstreamSink } from '../xmpp/types.js';

export type LinkState = 'connecting' | 'open' | 'closing' | 'closed';

const NS_CLIENT = 'jabber:client';

/**
 * One upstream XMPP stream and the BOSH sessions (members) attached to it (DESIGN, Words).
 * An unshared session is a link with exactly one member: the same code path.
 * Inbound: upstream elements are serialized once and delivered to every member.
 * Outbound: members' payloads are written upstream in the order the link receives them.
 */
export class Link implements UpstreamSink {
  private state: LinkState = 'connecting';
  private readonly members = new Set<MemberPort>();
  private upstream: Upstream | undefined;
  private info: StreamInfo | undefined;

  constructor(
    readonly domain: string,
    private readonly log: Logger,
    private readonly onClosed: (link: Link) => void,
  ) {}

  /** Starts the upstream stream; the sink callbacks may run from here on. */
  connect(open: (sink: UpstreamSink) => Upstream): void {
    this.upstream = open(this);
  }

  get memberCount(): number {
    return this.members.size;
  }

  get streamInfo(): StreamInfo | undefined {
    return this.info;
  }

  private setState(next: LinkState): void {
    if (next === this.state) return;
    this.log.debug({ from: this.state, to: next }, 'link state');
    this.state = next;
  }

  /** Adds a member and returns the port it sends through. */
  addMember(member: MemberPort): LinkPort {
    this.members.add(member);
    return {
      send: (payload) => this.send(member, payload),
      restart: () => this.restart(member),
      leave: (payload) => this.leave(member, payload),
    };
  }

  // ---- outbound -----------------------------------------------------------------------

  private send(member: MemberPort, payload: Element[]): void {
    if (!this.members.has(member) || !this.upstream) return;
    let xml = '';
    for (const el of payload) xml += el.toString();
    this.upstream.send(xml);
  }

  private restart(member: MemberPort): void {
    if (!this.members.has(member) || !this.upstream) return;
    this.log.debug({ sid: member.sid }, 'stream restart requested');
    this.upstream.restart();
  }

  /** D16, D17: the last member's leaving closes the stream, after its terminate payload (B-78). */
  private leave(member: MemberPort, payload: Element[] | null): void {
    if (!this.members.delete(member)) return;
    if (payload && payload.length > 0) this.upstream?.send(payload.map((el) => el.toString()).join(''));
    this.log.debug({ sid: member.sid, members: this.members.size }, 'member left');
    if (this.members.size === 0) this.close();
  }

  /** Closes the upstream stream (`</stream:stream>`); members must already be gone. */
  close(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.setState('closing');
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
    for (const member of this.members) member.streamOpened(info);
  }

  onElements(elements: Element[]): void {
    // with no member left the stream is already closing, so the server itself
    // learns at once that the client is gone and handles what was in flight.
    if (this.members.size === 0) return;
    const items: InboundItem[] = elements.map(toInboundItem);
    for (const member of this.members) member.deliver(items);
  }

  onEnd(end: UpstreamEnd): void {
    this.setState('closed');
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
    this.onClosed(this);
  }

  private failAll(error: BoshError): void {
    const members = [...this.members];
    this.members.clear();
    for (const member of members) member.fail(error);
  }
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
