import type { Logger } from '../log.js';
import { BoshError } from '../bosh/conditions.js';
import type { InboundItem, MemberPort } from '../bosh/ports.js';
import type { Metrics } from '../metrics.js';
import { Element } from '../xml/element.js';
import { NS_CLIENT, NS_CSI, NS_SHARED } from '../protocol/namespaces.js';
import { IqRouter } from './iq-router.js';
import { PresenceSnapshot } from './presence-snapshot.js';
import type { ReplayBuffer } from './replay-buffer.js';
import { markedXml, stripSharedMarks } from './shared-marks.js';
import type { KeyDigest } from './shared-key.js';

const STANZAS = new Set(['message', 'presence', 'iq']);

/** A member as the policy sees it: the port stanzas are delivered to. */
export interface SharedMember {
  readonly port: MemberPort;
}

/**
 * What a link created with a shared key does beyond passing stanzas through, once a resource
 * is bound (docs/design.md D10..D16, D25): strip shared marks, route IQs, echo, number events
 * and keep them for replay, keep the presence snapshot, aggregate client state. A link has one
 * only when it is shared; an unshared link (and a shared one before binding) passes through.
 */
export class SharingPolicy {
  private readonly iqs = new IqRouter<MemberPort>();
  private readonly presence = new PresenceSnapshot();
  /** D13: members whose last XEP-0352 state was inactive, and what the stream was last told. */
  private readonly inactive = new Set<MemberPort>();
  private streamInactive = false;

  constructor(
    readonly digest: KeyDigest,
    private readonly replay: ReplayBuffer,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** The newest event number (D14b). */
  get lastSeq(): number {
    return this.replay.lastSeq;
  }

  // ---- outbound -----------------------------------------------------------------------

  /**
   * D11..D13, D16, D25: a member's payload after binding. Returns what to write upstream;
   * the echoes are delivered to the other members here. Throws BoshError (D13) before
   * anything is forwarded. `keepUnavailable`: D18, the payload ends the link for everyone.
   */
  outbound(sender: SharedMember, payload: Element[], members: readonly SharedMember[], jid: string, keepUnavailable: boolean): string {
    for (const el of payload) {
      // D13: no stream-level element may change the shared stream under the others' feet.
      if (!isStanza(el) && !isClientState(el)) throw new BoshError('bad-request', `<${el.name}/> is not allowed on a shared stream`);
    }
    const others = members.length - 1;
    let xml = '';
    const echoes: InboundItem[] = [];
    for (const original of payload) {
      if (isClientState(original)) {
        if (original.localName === 'inactive') this.inactive.add(sender.port);
        else this.inactive.delete(sender.port);
        continue;
      }
      const text = original.toString();
      const stripped = this.strip(original, text, 'member');
      if (!stripped) continue;
      let el = stripped;
      const type = el.attrs.type;
      if (el.name === 'iq' && (type === 'get' || type === 'set')) {
        el = withAttr(el, 'id', this.iqs.outboundRequest(sender.port, el.attrs.id)); // D12
      } else if (el.name === 'iq' && !this.iqs.outboundResponse(peer(el.attrs.to, jid), el.attrs.id)) {
        this.metrics.suppressed.inc({ kind: 'iq-reply' }); // D12: the server got one reply already
        continue;
      } else if (others > 0 && !keepUnavailable && isUndirectedUnavailable(el)) {
        // D16: it would take the user offline for the members that remain.
        this.metrics.suppressed.inc({ kind: 'unavailable-presence' });
        this.log.debug({ sid: sender.port.sid }, 'undirected unavailable presence not forwarded: other members remain');
        continue;
      }
      xml += el === original ? text : el.toString();
      // D25: the copy carries the sender's address, as the server's stanzas do.
      const copy = withAttr(el, 'from', jid);
      this.presence.observeOwn(copy);
      const event = this.replay.push(copy, true, markedXml(copy, ECHO));
      echoes.push({ xml: event.xml, seq: event.seq });
    }
    xml += this.clientStateChange(members.length);
    if (echoes.length > 0) {
      this.metrics.echoes.inc(echoes.length);
      for (const { port } of members) if (port !== sender.port) port.deliver(echoes);
    }
    return xml;
  }

  /** D13: what a shared stream refuses is left out of a terminate payload; the rest goes. */
  terminatePayload(payload: Element[]): Element[] {
    return payload.filter((el) => isStanza(el) || isClientState(el));
  }

  /** D13: a stream restart after binding would restart the stream under every member. */
  refuseRestart(): never {
    throw new BoshError('bad-request', 'stream restart on a shared stream after binding');
  }

  // ---- inbound ------------------------------------------------------------------------

  /**
   * D10, D12, D14, D25: every member gets every event in link order; IQ results go to their asker.
   * Each stanza is serialized once, and its item is one object for all members: while the batch
   * holds no IQ result, every member is given the same array (members only read it); an IQ
   * result, which its asker gets with its own id, splits the batch into one array per member.
   */
  inbound(elements: Element[], members: readonly SharedMember[], jid: string): void {
    const common: InboundItem[] = [];
    let perMember: Map<MemberPort, InboundItem[]> | undefined;
    for (const original of elements) {
      const text = inboundXml(original);
      const el = this.strip(original, text, 'server');
      if (!el) continue;
      const xml = el === original ? text : el.toString();
      const type = el.attrs.type;
      const asker = el.name === 'iq' && (type === 'result' || type === 'error') ? this.iqs.inboundResponse(el.attrs.id) : undefined;
      if (asker) {
        const event = this.replay.push(el, true, markedXml(el, ECHO));
        const own: InboundItem = { xml: withAttr(el, 'id', asker.id).toString(), seq: event.seq };
        const echo: InboundItem = { xml: event.xml, seq: event.seq };
        if (!perMember) {
          perMember = new Map();
          for (const { port } of members) perMember.set(port, common.slice());
        }
        for (const [member, items] of perMember) items.push(member === asker.member ? own : echo);
        continue;
      }
      if (el.name === 'iq' && (type === 'get' || type === 'set')) this.iqs.inboundRequest(peer(el.attrs.from, jid), el.attrs.id);
      this.presence.observeInbound(el);
      const event = this.replay.push(el, false, xml);
      const item: InboundItem = { xml, seq: event.seq };
      if (perMember) for (const items of perMember.values()) items.push(item);
      else common.push(item);
    }
    if (perMember) {
      for (const [member, items] of perMember) if (items.length > 0) member.deliver(items);
    } else if (common.length > 0) {
      for (const { port } of members) port.deliver(common);
    }
  }

  /**
   * D14, D14b: what a newly attached member gets first: the presence snapshot, then the events
   * after `since`, all marked shared:replay. A presence that the replay delivers is left out of
   * the snapshot, so it arrives once. `gap` when the buffer no longer reaches back.
   */
  attachItems(since: number | undefined): { items: InboundItem[]; gap: boolean } {
    const { events, gap } = since === undefined ? { events: [], gap: false } : this.replay.after(since);
    const replayed = new Set<Element>();
    for (const event of events) replayed.add(event.element);
    const items: InboundItem[] = [];
    for (const { element, echo } of this.presence.entries()) {
      if (!replayed.has(element)) items.push({ xml: markedXml(element, echo ? ECHO_REPLAY : REPLAY) });
    }
    for (const event of events) items.push({ xml: markedXml(event.element, event.echo ? ECHO_REPLAY : REPLAY), seq: event.seq });
    return { items, gap };
  }

  // ---- client state (XEP-0352) ----------------------------------------------------------

  /** A member left: it no longer counts towards the aggregated state. */
  memberLeft(member: SharedMember): void {
    this.inactive.delete(member.port);
  }

  /** D13: the stream is inactive only while every member is; returns the element to send, if any. */
  clientStateChange(memberCount: number): string {
    const allInactive = memberCount > 0 && this.inactive.size === memberCount;
    if (allInactive === this.streamInactive) return '';
    this.streamInactive = allInactive;
    return `<${allInactive ? 'inactive' : 'active'} xmlns='${NS_CSI}'/>`;
  }

  // ---- D25 ------------------------------------------------------------------------------

  /** `el` without shared marks; undefined (counted) when it is itself in the shared namespace. */
  private strip(el: Element, xml: string, source: 'server' | 'member'): Element | undefined {
    const result = stripSharedMarks(el, xml);
    if (result.kind === 'clean') return result.element;
    this.metrics.strippedMarks.inc({ source });
    this.log.debug({ source, element: el.name }, result.kind === 'dropped' ? 'element in the shared namespace dropped' : 'shared marks stripped');
    return result.kind === 'stripped' ? result.element : undefined;
  }
}

const ECHO = { echo: true, replay: false };
const REPLAY = { echo: false, replay: true };
const ECHO_REPLAY = { echo: true, replay: true };

/** A stanza, in the sense of D13: a top-level message, presence or iq not in the shared namespace. */
function isStanza(el: Element): boolean {
  return STANZAS.has(el.name) && el.attrs.xmlns !== NS_SHARED;
}

export function isClientState(el: Element): boolean {
  return (el.name === 'active' || el.name === 'inactive') && el.attrs.xmlns === NS_CSI;
}

function isUndirectedUnavailable(el: Element): boolean {
  return el.name === 'presence' && el.attrs.type === 'unavailable' && el.attrs.to === undefined;
}

/**
 * D12: the entity a server IQ came from (its `from`), or a member's reply goes to (its `to`),
 * so that a request and its replies meet. No address, the account's bare JID and the bound
 * JID all stand for the account itself (RFC 6120 §8.1.2.1, §10.3).
 */
function peer(address: string | undefined, jid: string): string {
  if (address === undefined) return '';
  const lower = address.toLowerCase();
  const bound = jid.toLowerCase();
  const slash = bound.indexOf('/');
  return lower === bound || lower === (slash === -1 ? bound : bound.slice(0, slash)) ? '' : lower;
}

/** A shallow copy with one attribute changed (children shared: they are never modified). */
export function withAttr(el: Element, name: string, value: string): Element {
  return new Element(el.name, { ...el.attrs, [name]: value }, el.children);
}

/**
 * Serializes one upstream element for a `<body/>`: unprefixed stanzas without their own
 * `xmlns` are in jabber:client by the stream's default namespace, so they get it explicitly
 * (the body's default namespace is httpbind).
 */
export function inboundXml(el: Element): string {
  if (el.attrs.xmlns === undefined && el.prefix === '') el.attrs = { xmlns: NS_CLIENT, ...el.attrs };
  return el.toString();
}
