import type { Rid } from './request.js';

/** One answered request, kept for retransmission (B-86). */
export interface CachedResponse {
  readonly rid: Rid;
  /** The exact body sent (B-88: a repeat gets it unchanged). */
  readonly body: string;
  readonly sentAt: number;
  readonly hadPayload: boolean;
  /** How often the client repeated the rid (B-90). */
  resends: number;
}

/**
 * XEP-0124 §14.3: the responses a session sent, by rid, so that a repeated rid gets the same
 * answer (B-86..B-88) and acknowledgements can trim them (B-58).
 */
export class ResponseCache {
  /**
   * Oldest first, in an array of exactly that size: a Map or a grown array costs ~150 bytes for
   * the one or two responses an idle session keeps.
   */
  private entries: CachedResponse[] = [];
  /** The highest rid answered so far (0: none). */
  private highestRid: Rid = 0;

  get highest(): Rid {
    return this.highestRid;
  }

  find(rid: Rid): CachedResponse | undefined {
    return this.entries.find((c) => c.rid === rid);
  }

  /** A repeat of `rid` (B-88): its response, with the repeat counted (B-90); undefined when not kept. */
  resend(rid: Rid): CachedResponse | undefined {
    const cached = this.find(rid);
    if (cached) cached.resends += 1;
    return cached;
  }

  /**
   * Keeps `body` as the answer to `rid` (replacing an earlier one), and of all answers the newest
   * `keep` (B-87: `requests`, or every unacknowledged one within a bound).
   */
  store(rid: Rid, body: string, sentAt: number, hadPayload: boolean, keep: number): void {
    const others = this.entries.some((c) => c.rid === rid) ? this.entries.filter((c) => c.rid !== rid) : this.entries;
    this.keepNewest(others, { rid, body, sentAt, hadPayload, resends: 0 }, keep);
    if (rid > this.highestRid) this.highestRid = rid;
  }

  /** B-58: responses up to `ack` have arrived and need not be kept. */
  acknowledge(ack: Rid): void {
    if (this.entries.some((c) => c.rid <= ack)) this.keepNewest(this.entries.filter((c) => c.rid > ack), undefined, Infinity);
  }

  clear(): void {
    this.entries = [];
  }

  /** The newest `keep` of `kept` and `added`, oldest first, in an array of exactly that size. */
  private keepNewest(kept: readonly CachedResponse[], added: CachedResponse | undefined, keep: number): void {
    const all = added ? kept.length + 1 : kept.length;
    const from = Math.max(0, all - keep);
    const next = new Array<CachedResponse>(all - from);
    for (let i = from; i < kept.length; i++) next[i - from] = kept[i]!;
    if (added) next[next.length - 1] = added;
    this.entries = next;
  }
}
