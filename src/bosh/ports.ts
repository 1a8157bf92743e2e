import type { Element } from '../xml/element.js';
import type { BoshError } from './conditions.js';

/**
 * The ports between a BOSH session and the upstream link it talks through. `bosh/` declares
 * them; `shared/` implements LinkPort and LinkProvider. Directions (docs/design.md, Terms):
 * inbound = server -> client, outbound = client -> server.
 */

/** A stanza on its way to one client (inbound), already serialized and self-contained. */
export interface InboundItem {
  xml: string;
  /** Its event number on a shared link (docs/design.md D14b); absent on unshared links. */
  seq?: number;
}

/** The upstream stream's header, as the creation response needs it (authid, from, xmpp:version). */
export interface UpstreamInfo {
  id: string;
  from: string;
  version: string;
}

/** What a session needs of its link (outbound). */
export interface LinkPort {
  /**
   * Forward payloads upstream, in rid order (B-46). Returns the event number of the last one
   * on a shared link (so the member's `shared:seq` covers its own stanzas). Throws BoshError
   * for a payload the link refuses (D13), before anything is forwarded.
   */
  send(payload: Element[]): number | undefined;
  /** XEP-0206 §5 `xmpp:restart='true'`; throws BoshError where refused (D13). */
  restart(): void;
  /**
   * The member is gone. `payload` is its terminate payload, forwarded first (B-78); null when
   * it timed out or failed. The link decides whether the upstream stream closes (D16, D17);
   * `closeAll` ends it for every member (D18).
   */
  leave(payload: Element[] | null, closeAll?: boolean): void;
}

/** What a link needs of a session (inbound). */
export interface MemberPort {
  readonly sid: string;
  /** The upstream stream opened (or reopened after a restart). */
  streamOpened(info: UpstreamInfo): void;
  /** Stanzas for this member, in link order. `items` (array and items) may be shared with other members: read only, not kept. */
  deliver(items: readonly InboundItem[]): void;
  /** The link ended this member: a terminal condition (D19, D20). */
  fail(error: BoshError): void;
}

/** The parts of a session creation request that choose or open a link. */
export interface JoinRequest {
  to: string;
  route?: string;
  from?: string;
  lang?: string;
  xmppVersion?: string;
  sharedKey?: string;
  sharedSince?: string;
  origin?: string;
  remoteAddress: string;
}

export interface JoinResult {
  link: LinkPort;
  /** Extra attributes for the creation response (e.g. `shared:result`), with their xmlns declarations. */
  attrs: Record<string, string>;
  /** Known at once when joining a stream that is already open (attach). */
  info?: UpstreamInfo;
  /** The link is sharable: responses carry `shared:seq` (D14b), starting from `seq`. */
  shared?: { seq: number };
  /** What an attached member gets before anything else: snapshot and replay (D14, D14b). */
  initial?: InboundItem[];
}

/** Opens or finds the link for a new session; throws BoshError to refuse (e.g. host-unknown). */
export interface LinkProvider {
  join(request: JoinRequest, member: MemberPort): JoinResult;
}
