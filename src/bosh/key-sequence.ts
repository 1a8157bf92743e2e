import { createHash } from 'node:crypto';

/**
 * XEP-0124 §15 key sequencing (B-94..B-98). The client sends `newkey` = K(n) first, then
 * `key` = K(n-1), ... where K(i) = hex(SHA-1(K(i-1))). Each `key` must hash to the previous
 * reference; `newkey` (with the last `key` of a chain) starts a new chain.
 */
export class KeySequence {
  /** The reference for the next `key`; set by the first `newkey` (normally the creation request's). */
  private expected: string | undefined;

  /** Checks a request's keys; false means: do not process it, end with item-not-found (B-97). */
  accept(key: string | undefined, newkey: string | undefined): boolean {
    if (this.expected !== undefined) {
      if (key === undefined) return false;
      // B-95, B-96: hex SHA-1 of the key, compared without regard to case.
      const digest = createHash('sha1').update(key).digest('hex');
      if (digest !== this.expected) return false;
    }
    const next = newkey ?? (this.expected !== undefined ? key : undefined);
    this.expected = next?.toLowerCase();
    return true;
  }
}
