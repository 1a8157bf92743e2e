import { randomBytes } from 'node:crypto';

/**
 * docs/design.md D12: IQ ids on a shared stream. A member's get/set goes upstream with a link-unique
 * id, and its result comes back to that member with the original id restored. A server's
 * get/set may be answered by several members: only the first reply goes upstream.
 * The link passes each peer JID normalised (see SharingPolicy.peer).
 */
export class IqRouter<M> {
  private readonly prefix = 'sb' + randomBytes(4).toString('hex') + '-';
  private counter = 0;
  /** link-unique id -> the member that asked and its own id. */
  private readonly outstanding = new Map<string, { member: M; id: string }>();
  /** ids of server get/set not yet answered; ids answered lately. */
  private readonly serverPending = new Set<string>();
  private readonly serverAnswered = new Set<string>();

  constructor(private readonly maxTracked = 10_000) {}

  /** A member's get/set: the id to use upstream. */
  outboundRequest(member: M, id: string | undefined): string {
    const unique = this.prefix + ++this.counter;
    this.outstanding.set(unique, { member, id: id ?? '' });
    bound(this.outstanding, this.maxTracked);
    return unique;
  }

  /** A result/error from the server: the member that asked, if it was one of ours. */
  inboundResponse(id: string | undefined): { member: M; id: string } | undefined {
    if (id === undefined) return undefined;
    const origin = this.outstanding.get(id);
    if (origin) this.outstanding.delete(id);
    return origin;
  }

  /**
   * A get/set from the server or another entity: its first reply will be forwarded. Tracked by
   * (sender, id): two entities may pick the same id (D12). `peer` is the request's `from`.
   */
  inboundRequest(peer: string, id: string | undefined): void {
    if (id === undefined) return;
    this.serverPending.add(requestKey(peer, id));
    bound(this.serverPending, this.maxTracked);
  }

  /**
   * A member's result/error: true to forward it, false when another member already replied.
   * `peer` is the reply's `to`, the sender of the request it answers.
   */
  outboundResponse(peer: string, id: string | undefined): boolean {
    if (id === undefined) return true;
    const key = requestKey(peer, id);
    if (this.serverPending.delete(key)) {
      this.serverAnswered.add(key);
      bound(this.serverAnswered, this.maxTracked);
      return true;
    }
    return !this.serverAnswered.has(key);
  }
}

/** NUL cannot occur in XML, so no two (peer, id) pairs share a key. */
function requestKey(peer: string, id: string): string {
  return peer + '\u0000' + id;
}

/** Drops the oldest entries of an insertion-ordered Set or Map beyond `max`. */
function bound(collection: Set<string> | Map<string, unknown>, max: number): void {
  if (collection.size <= max) return;
  for (const key of collection.keys()) {
    collection.delete(key);
    if (collection.size <= max) break;
  }
}
