import type { Rid } from './request.js';

/**
 * Where a session's rids stand (XEP-0124 §14): the highest rid processed (every rid up to it has
 * arrived or was lost), the requests that arrived above the next expected rid and wait for the gap
 * to fill (B-83), the rids whose held request the client lost before its answer, and the rids of
 * requests the client lost before they arrived (D24).
 * `T` is whatever the session keeps for a buffered request.
 */
export class RidWindow<T> {
  private lastRid: Rid;
  /** Buffered early requests by rid; undefined while there are none (the usual case). */
  private early: Map<Rid, T> | undefined;
  /** D24: dropped rids, oldest first, in an array of exactly their number; undefined when none. */
  private dropped: Rid[] | undefined;
  /** D24: rids skipped as lost (never arrived), oldest first, as `dropped`; undefined when none. */
  private lost: Rid[] | undefined;

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

  /**
   * D24: the rid up to which every rid has arrived or is lost, were `extra` (a rid above the last
   * one, not buffered) to arrive too. A missing rid is lost once `threshold` requests whose client
   * still waits for them (`open`, and `extra`) are above it: a client has no more than `requests`
   * open at once (B-71), so it no longer has the missing one open (a page reload took it with it
   * before it reached the CM) and will never send it. At most `maxLost` rids count as lost: no
   * client can have lost more than it may have open.
   */
  reach(extra: Rid | undefined, open: (item: T) => boolean, threshold: number, maxLost: number): Rid {
    const early = this.early;
    if (!early && extra === this.lastRid + 1) return extra; // the usual request: nothing to allocate
    const above: Rid[] = extra === undefined ? [] : [extra];
    if (early) for (const [rid, item] of early) if (open(item)) above.push(rid);
    let next = this.lastRid + 1;
    let lost = 0;
    for (;;) {
      if (next === extra || early?.has(next)) {
        next++;
        continue;
      }
      if (lost === maxLost) break;
      let count = 0;
      for (const rid of above) if (rid > next) count++;
      if (count === 0 || count < threshold) break;
      lost++;
      next++;
    }
    return next - 1;
  }

  /** D24: the next rid is lost (see reach()); the window moves past it. Keeps the newest `keep`. */
  skipLost(keep: number): Rid {
    const rid = (this.lastRid += 1);
    this.lost = keepNewest(this.lost, rid, keep);
    return rid;
  }

  /** D24: whether `rid` was skipped as lost; taken back, so a repeat of it is told so only once. */
  takeLost(rid: Rid): boolean {
    if (!this.lost?.includes(rid)) return false;
    this.lost = without(this.lost, rid);
    return true;
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
    this.dropped = keepNewest(this.dropped, rid, keep);
  }

  /** D24: whether `rid` was dropped; a repeat takes it back, so it is held again only once. */
  takeDropped(rid: Rid): boolean {
    if (!this.dropped?.includes(rid)) return false;
    this.dropped = without(this.dropped, rid);
    return true;
  }
}

/** `rids` without `rid`; undefined when nothing is left (the form `dropped` and `lost` keep). */
function without(rids: Rid[], rid: Rid): Rid[] | undefined {
  const rest = rids.filter((r) => r !== rid);
  return rest.length === 0 ? undefined : rest;
}

/** `rids` with `rid` added (once), the newest `keep` of them, in an array of exactly that size. */
function keepNewest(rids: Rid[] | undefined, rid: Rid, keep: number): Rid[] {
  const kept = rids ? rids.filter((r) => r !== rid) : [];
  kept.push(rid);
  return kept.length > keep ? kept.slice(kept.length - keep) : kept;
}
