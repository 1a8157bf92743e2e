import type { Rid } from './request.js';

/**
 * Where a session's rids stand (XEP-0124 §14): the highest rid processed (every rid up to it has
 * arrived), the requests that arrived above the next expected rid and wait for the gap to fill
 * (B-83), and the rids whose held request the client lost before its answer (D24).
 * `T` is whatever the session keeps for a buffered request.
 */
export class RidWindow<T> {
  private lastRid: Rid;
  /** Buffered early requests by rid; undefined while there are none (the usual case). */
  private early: Map<Rid, T> | undefined;
  /** D24: dropped rids, oldest first, in an array of exactly their number; undefined when none. */
  private dropped: Rid[] | undefined;

  /** `firstRid`: the rid of the session creation request. */
  constructor(firstRid: Rid) {
    this.lastRid = firstRid - 1;
  }

  /** The highest rid processed. */
  get last(): Rid {
    return this.lastRid;
  }

  /** How many requests wait for an earlier rid. */
  get bufferedCount(): number {
    return this.early?.size ?? 0;
  }

  /** The buffered request with this rid, if any. */
  buffered(rid: Rid): T | undefined {
    return this.early?.get(rid);
  }

  /** B-83: keeps a request that arrived before the rids below it. */
  buffer(rid: Rid, item: T): void {
    (this.early ??= new Map()).set(rid, item);
  }

  /** The next rid is processed now (B-46: in order, one by one). */
  advance(rid: Rid): void {
    this.lastRid = rid;
  }

  /** Takes the buffered request for the next rid, once it is the next one to process. */
  takeNext(): T | undefined {
    const early = this.early;
    if (!early) return undefined;
    const next = early.get(this.lastRid + 1);
    if (next === undefined) return undefined;
    early.delete(this.lastRid + 1);
    if (early.size === 0) this.early = undefined;
    return next;
  }

  /** Takes every buffered request (the session is ending). */
  takeAll(): T[] {
    const all = this.early ? [...this.early.values()] : [];
    this.early = undefined;
    return all;
  }

  /**
   * D24: the request with `rid` was processed but its client went away before the answer; a
   * repeat of it is held again. Keeps the newest `keep` such rids.
   */
  drop(rid: Rid, keep: number): void {
    const kept = this.dropped ? this.dropped.filter((r) => r !== rid) : [];
    kept.push(rid);
    this.dropped = kept.length > keep ? kept.slice(kept.length - keep) : kept;
  }

  /** D24: whether `rid` was dropped; a repeat takes it back, so it is held again only once. */
  takeDropped(rid: Rid): boolean {
    const dropped = this.dropped;
    if (!dropped?.includes(rid)) return false;
    const rest = dropped.filter((r) => r !== rid);
    this.dropped = rest.length === 0 ? undefined : rest;
    return true;
  }
}
